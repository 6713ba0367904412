"""Fashion200K (Han et al., ICCV 2017; xthan/fashion-200k) with the composed-retrieval
protocol of TIRG (Vo et al., CVPR 2019; google/tirg ``datasets.py``), as described in
``docs/datasets.md`` (Fashion200K files and protocol; also used by VAL and ARTEMIS). This loader
is our own code.
"""
import glob
import os
import random
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import MMLogger

from sdfn_plugin.registry import DATASETS

from .base_cir_dataset import BaseCIRDataset, PipelineCfg
from .data_checks import (DUPLICATE_MODES, find_missing_images, handle_duplicates, log_dropped, read_text,
                          report_missing)

__all__ = ['Fashion200kDataset', 'normalize_caption', 'parse_label_file', 'different_word', 'CaptionIndex']

_SPLITS = ('train', 'test')
_MATCH = ('caption', 'image')
_REPLACEMENTS = (('.', 'dotmark'), ('?', 'questionmark'), ('&', 'andmark'), ('*', 'starmark'))


def normalize_caption(text: str) -> str:
    """TIRG's caption post-processing: strip, then ``.``->``dotmark``,
    ``?``->``questionmark``, ``&``->``andmark``, ``*``->``starmark``."""
    text = text.strip()
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    return text


def parse_label_file(path: str) -> List[Tuple[str, str, str]]:
    """``(relative image path, detection score, normalised caption)`` per line of
    a ``<category>_<split>_detect_all.txt`` file (``path \\t score \\t description``)."""
    out = []
    for lineno, line in enumerate(read_text(path, 'Fashion200k').split('\n'), 1):
        if line.strip():
            fields = line.rstrip('\r\n').split('\t')
            if len(fields) < 3:
                raise ValueError(f'{path!r} line {lineno}: expected "<image path>\\t<score>\\t<description>", '
                                 f'got {line.rstrip()!r}')
            out.append((fields[0].strip(), fields[1].strip(), normalize_caption(fields[2])))
    return out


def different_word(source_caption: str, target_caption: str) -> Tuple[str, str, str]:
    """``(source_word, target_word, text)`` of a caption pair.

    ``source_word`` is the first word of the source caption absent from the
    target caption, ``target_word`` the first word of the target caption
    absent from the source caption, ``text = 'replace <source_word> with
    <target_word>'``. As in TIRG, when every word is shared the last word is
    used (no guard).
    """
    src, tgt = source_caption.split(), target_caption.split()
    if not src or not tgt:
        raise ValueError(f'cannot derive a modification text from captions {source_caption!r} -> '
                         f'{target_caption!r} (one is empty)')
    tgt_set, src_set = set(tgt), set(src)
    source_word = next((w for w in src if w not in tgt_set), src[-1])
    target_word = next((w for w in tgt if w not in src_set), tgt[-1])
    return source_word, target_word, f'replace {source_word} with {target_word}'


class CaptionIndex:
    """TIRG's parent/child caption index over a list of image captions.

    1. caption -> image indices; 2. for every caption ``c`` and every word
       ``w`` of it, the *parent* ``c.replace(w, '')`` with double spaces
       collapsed (one ``replace('  ', ' ')`` pass) and stripped -- a substring
       replace, so ``w`` also disappears inside other words; parent -> child
       captions (first-seen order); 3. a parent with >= 2 children makes every
       image of those children *modifiable* and records the parent for it.
    """

    def __init__(self, captions: Sequence[str]) -> None:
        self.captions = list(captions)
        self.caption2imgs: Dict[str, List[int]] = defaultdict(list)
        for i, c in enumerate(self.captions):
            self.caption2imgs[c].append(i)
        self.parent2children: Dict[str, List[str]] = {}
        for c in self.caption2imgs:
            # a repeated word gives the same parent twice; each caption is a child once
            for parent in dict.fromkeys(c.replace(w, '').replace('  ', ' ').strip() for w in c.split()):
                self.parent2children.setdefault(parent, []).append(c)
        self.parents_of: List[List[str]] = [[] for _ in self.captions]
        for parent, children in self.parent2children.items():
            if len(children) >= 2:
                for c in children:
                    for i in self.caption2imgs[c]:
                        self.parents_of[i].append(parent)
        self.modifiable = [i for i, ps in enumerate(self.parents_of) if ps]

    def sample(self, idx: int, rng) -> Tuple[int, int, str, str, str]:
        """``(source, target, source_word, target_word, text)`` for index ``idx``.

        TIRG's ``caption_index_sample_``: if image ``idx`` is not modifiable,
        draw random indices until one is; pick a random parent of it, a random
        sibling caption different from its own, and a random image with that
        caption as the target. ``rng`` offers ``randrange`` and ``choice``
        (a :class:`random.Random` or the :mod:`random` module).
        """
        if not self.modifiable:
            raise ValueError('Fashion200K: no modifiable image (no two captions differ by exactly one word)')
        n = len(self.captions)
        while not self.parents_of[idx]:
            idx = rng.randrange(n)
        own = self.captions[idx]
        while True:
            parent = rng.choice(self.parents_of[idx])
            sibling = rng.choice(self.parent2children[parent])
            if sibling != own:
                break
        target = rng.choice(self.caption2imgs[sibling])
        return (idx, target) + different_word(own, sibling)


@DATASETS.register_module()
class Fashion200kDataset(BaseCIRDataset):
    """Fashion200K with TIRG's composed-retrieval protocol.

    Files under ``data_root``::

        labels/{dress,skirt,jacket,pants,top}_{train,test}_detect_all.txt
        women/<category>/<subcategory>/<product_id>/<product_id>_<k>.jpeg
        test_queries.txt   # "<source relpath> <target relpath>" per line (TIRG authors)

    Label files are those matching ``labels/*_<split>_detect_all.txt``, read in
    sorted name order (TIRG uses ``os.listdir`` order); each line is ``<image
    path relative to data_root/image_dir>\\t<score>\\t<description>``; the
    caption is the normalised description (:func:`normalize_caption`).

    **Training** (``split='train'``): one item per training image (172,049 in
    the official files); item ``i`` is a query sampled with TIRG's
    parent/child scheme (:class:`CaptionIndex`): reference = image ``i`` (or a
    random modifiable image if ``i`` is not modifiable), target = an image
    whose caption differs by one word, text ``replace <w> with <w'>``. TIRG
    redraws on every access, so index -> query changes across epochs; with
    ``deterministic=True`` (default; required by per-sample memories such as
    SDFN's path distillation) the query of index ``i`` is drawn once from
    ``random.Random(f'{seed}:{i}')`` and is the same in every epoch and every
    worker. ``deterministic=False`` redraws with the global :mod:`random`
    state on each access (TIRG behaviour).

    **Evaluation** (``split='test'``): gallery = every test image in label
    order (29,789 officially); queries = the lines of ``test_queries.txt``
    (33,480), text from :func:`different_word`; the reference is excluded
    from its own ranking. ``match='caption'`` (default, TIRG/VAL/ARTEMIS):
    every gallery image carrying the target's caption is correct
    (``gt_gallery_idx`` lists them all); ``match='image'``: only the target
    file itself.

    Vocabulary (:meth:`texts`): the split's product captions plus
    ``'replace with'`` (ARTEMIS adds the two template words explicitly; TIRG
    leaves them out of vocabulary).

    Args:
        data_root: the Fashion200K folder.
        split: ``'train'`` or ``'test'``.
        match: ``'caption'`` or ``'image'``.
        deterministic: per-index stable training queries (see above).
        seed: seed of the deterministic training queries.
        label_dir: label folder relative to ``data_root``.
        test_queries_file: relative to ``data_root``.
        image_dir: folder the label paths are relative to (default ``data_root``;
            ARTEMIS-style roots that already point inside ``women/`` need the
            prefix handled here, e.g. ``image_dir='..'``).
        exclude_reference, check_images, verify_images, allow_truncated,
        skip_missing: as in :class:`~sdfn_plugin.datasets.FashionIQDataset`;
            the image check covers every image listed in the split's label files
            (``skip_missing`` removes missing ones before pairs are built).
        duplicates: a repeated line of ``test_queries.txt``: ``'error'``
            (default), ``'drop'`` or ``'keep'`` (both logged). An image listed
            twice in the label files is always an error.
    """

    def __init__(self, data_root: str, split: str = 'train', match: str = 'caption', deterministic: bool = True,
                 seed: int = 0, label_dir: str = 'labels', test_queries_file: str = 'test_queries.txt',
                 image_dir: str = '', exclude_reference: bool = True, check_images: bool = True,
                 verify_images: bool = False, allow_truncated: bool = False, skip_missing: bool = False,
                 duplicates: str = 'error', pipeline: PipelineCfg = (), gallery_pipeline: Optional[PipelineCfg] = None,
                 test_mode: bool = False, lazy_init: bool = False) -> None:
        if duplicates not in DUPLICATE_MODES:
            raise ValueError(f'Fashion200kDataset.duplicates must be one of {DUPLICATE_MODES}, got {duplicates!r}')
        self.duplicates = duplicates
        if split not in _SPLITS:
            raise ValueError(f'Fashion200kDataset.split must be one of {_SPLITS}, got {split!r}')
        if match not in _MATCH:
            raise ValueError(f'Fashion200kDataset.match must be one of {_MATCH}, got {match!r}')
        self.match, self.deterministic, self.seed = match, deterministic, int(seed)
        self.label_dir, self.test_queries_file, self.image_dir = label_dir, test_queries_file, image_dir
        self.exclude_reference = exclude_reference
        self.check_images, self.verify_images = check_images, verify_images
        self.allow_truncated, self.skip_missing = allow_truncated, skip_missing
        self.images: List[dict] = []  # {'rel_path', 'img_path', 'caption', 'score'} in label order
        self.index: Optional[CaptionIndex] = None
        self.stats: Dict[str, int] = {}
        super().__init__(data_root=data_root, split=split, pipeline=pipeline,
                         gallery_pipeline=gallery_pipeline, test_mode=test_mode, lazy_init=lazy_init)

    @property
    def name(self) -> str:
        return f'Fashion200k({self.split})'

    @property
    def query_source(self) -> str:
        if self.split == 'test':
            return repr(self._root(self.test_queries_file))
        return repr(os.path.join(self._root(self.label_dir), f'*_{self.split}_detect_all.txt'))

    def protocol_details(self) -> List[str]:
        out = [f'match={self.match!r}']
        return out + ([f'queries from {self.test_queries_file}'] if self.split == 'test' else [])

    def _root(self, sub: str) -> str:
        return sub if os.path.isabs(sub) else os.path.join(self.data_root, sub)

    def label_files(self) -> List[str]:
        pattern = os.path.join(self._root(self.label_dir), f'*_{self.split}_detect_all.txt')
        files = sorted(glob.glob(pattern))
        if not files:
            raise FileNotFoundError(f'{self.name}: no label file matches {pattern!r} (expected '
                                    f'labels/<category>_{self.split}_detect_all.txt under data_root)')
        return files

    def read_images(self) -> List[dict]:
        """Every image of the split's label files, in (sorted file, line) order."""
        images, seen = [], {}
        img_root = self._root(self.image_dir)
        for path in self.label_files():
            for rel, score, caption in parse_label_file(path):
                if rel in seen:
                    raise ValueError(f'{self.name}: image {rel!r} is listed twice ({seen[rel]!r} and {path!r})')
                seen[rel] = path
                images.append(dict(rel_path=rel, img_path=os.path.join(img_root, rel), caption=caption,
                                   score=score))
        return images

    def texts(self) -> List[str]:
        """Vocabulary source: the product captions plus the template words (no sampling)."""
        return [im['caption'] for im in self.read_images()] + ['replace with']

    # ------------------------------------------------------------------ loading
    def load_queries(self) -> List[dict]:
        images = self._check_files(self.read_images())
        self.images = images
        self.index = CaptionIndex([im['caption'] for im in images])
        logger = MMLogger.get_current_instance()
        self.stats = dict(images=len(images), captions=len(self.index.caption2imgs),
                          modifiable=len(self.index.modifiable))
        if self.split == 'train':
            queries = [self._query(i, random.Random(f'{self.seed}:{i}')) for i in range(len(images))]
            how = f'deterministic per index, seed {self.seed}' if self.deterministic else \
                'redrawn on every access (TIRG)'
            logger.info(f'{self.name}: {len(images)} images, {self.stats["captions"]} unique captions, '
                        f'{self.stats["modifiable"]} modifiable -> {len(queries)} training queries per epoch ({how})')
        else:
            queries = self._test_queries(images)
            logger.info(f'{self.name}: {len(queries)} test queries, gallery of {len(self.gallery)} images, '
                        f'match={self.match!r}, reference {"excluded" if self.exclude_reference else "kept"}')
        self.stats['queries'] = len(queries)
        return queries

    def _query(self, idx: int, rng) -> dict:
        src, tgt, source_word, target_word, text = self.index.sample(idx, rng)
        s, t = self.images[src], self.images[tgt]
        return dict(ref_path=s['img_path'], ref_id=s['rel_path'], tgt_path=t['img_path'], tgt_id=t['rel_path'],
                    text=text, source_word=source_word, target_word=target_word, ref_caption=s['caption'],
                    tgt_caption=t['caption'], category='')

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if self.split == 'train' and not self.deterministic:
            info.update(self._query(idx, random))
        return info

    def _test_queries(self, images: List[dict]) -> List[dict]:
        path = self._root(self.test_queries_file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{self.name}: test query file not found: {path!r} (TIRG authors\' '
                                    'test_queries.txt, "<source relpath> <target relpath>" per line)')
        self.gallery = [dict(img_path=im['img_path'], img_id=im['rel_path']) for im in images]
        position = {im['rel_path']: i for i, im in enumerate(images)}
        lines = [(lineno, line.split()) for lineno, line in enumerate(read_text(path, self.name).split('\n'), 1)
                 if line.strip()]
        for lineno, fields in lines:
            if len(fields) != 2:
                raise ValueError(f'{path!r} line {lineno}: expected "<source path> <target path>", '
                                 f'got {" ".join(fields)!r}')
        keep = handle_duplicates([tuple(f) for _, f in lines], self.duplicates, name=self.name, path=path,
                                 what='query lines')
        dropped, queries = [], []
        for lineno, fields in (lines[i] for i in keep):
            missing = [p for p in fields if p not in position]
            if missing:
                if self.skip_missing and all(p in self._dropped_images for p in missing):
                    dropped.append(lineno)
                    continue
                raise KeyError(f'{path!r} line {lineno}: image {missing[0]!r} is not in the test label files '
                               f'{self.label_files()}')
            src, tgt = position[fields[0]], position[fields[1]]
            source_word, target_word, text = different_word(images[src]['caption'], images[tgt]['caption'])
            gt = self.index.caption2imgs[images[tgt]['caption']] if self.match == 'caption' else [tgt]
            queries.append(dict(ref_path=images[src]['img_path'], ref_id=fields[0],
                                tgt_path=images[tgt]['img_path'], tgt_id=fields[1], text=text,
                                source_word=source_word, target_word=target_word,
                                ref_caption=images[src]['caption'], tgt_caption=images[tgt]['caption'],
                                gt_gallery_idx=list(gt), ref_gallery_idx=src if self.exclude_reference else -1,
                                category=''))
        log_dropped(self.name, 'test queries', dropped, len(dropped) + len(queries),
                    'source/target image missing (lines of ' + os.path.basename(path) + ')')
        return queries

    def _check_files(self, images: List[dict]) -> List[dict]:
        self._dropped_images = set()
        if not self.check_images:
            return images
        missing = find_missing_images([im['img_path'] for im in images], self.verify_images, self.allow_truncated)
        if not missing:
            return images
        if not self.skip_missing:
            report_missing(missing, name=self.name, data_root=self.data_root,
                           layout=('label paths (women/<category>/<subcategory>/<id>/<id>_<k>.jpeg) relative to '
                                   f'{os.path.join("<data_root>", self.image_dir)}; labels in '
                                   f'{self.label_dir}/*_{self.split}_detect_all.txt'),
                           total=len(images))
        kept = [im for im in images if im['img_path'] not in missing]
        self._dropped_images = {im['rel_path'] for im in images if im['img_path'] in missing}
        log_dropped(self.name, 'images' + (' (gallery)' if self.split == 'test' else ''),
                    sorted(self._dropped_images), len(images), 'image file missing/unreadable')
        return kept

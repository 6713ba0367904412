"""FashionIQ (Wu et al., CVPR 2021; official annotations: XiaoxiaoGuo/fashion-iq, CDLA).

The evaluation protocols follow ``docs/datasets.md`` (FashionIQ evaluation variants), which were
written from the public code of the FashionIQ start kit, VAL (yanbeic/VAL),
CoSMo (postBG/CosMo.pytorch), ARTEMIS (naver/artemis), CLIP4Cir
(ABaldrati/CLIP4Cir) and AMC (KevinLight831/AMC). This loader is our own code.
"""
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.logging import MMLogger

from sdfn_plugin.registry import DATASETS

from .base_cir_dataset import CAPTION_MODES, BaseCIRDataset, PipelineCfg, compose_texts
from .data_checks import DUPLICATE_MODES, ImageFileChecks, first, handle_duplicates, load_json_list, require_keys

__all__ = ['FashionIQDataset']

CATEGORIES = ('dress', 'shirt', 'toptee')
_SPLITS = ('train', 'val', 'test')
_GALLERIES = ('val_union', 'split')
_CAPTION_MODES = CAPTION_MODES + ('amc', 'random')
#: AMC's FashionIQ text (KevinLight831/AMC datasets.py ``concat_text``)
AMC_FORMAT = '<BOS> {} <AND> {} <EOS>'
_LAYOUTS = {'flat': 'images', 'per_category': 'img'}


@DATASETS.register_module()
class FashionIQDataset(ImageFileChecks, BaseCIRDataset):
    """FashionIQ relative-caption triplets of one or several categories.

    Files under ``data_root``::

        captions/cap.<category>.<split>.json        # [{"candidate", "target", "captions": [c0, c1]}]
        image_splits/split.<category>.<split>.json  # [ASIN, ...]
        images/<ASIN>.jpg                           # image_layout='flat' (CLIP4Cir, CoSMo, ARTEMIS)
        img/<category>/<ASIN>.jpg                   # image_layout='per_category' (AMC)

    ``candidate`` is the reference image, ``target`` the image to retrieve.

    **Evaluation** (``split='val'``; the test targets were never released, so
    every paper reports on val): one category per dataset. Each query is ranked
    against the gallery of its own category only, so a dataset that holds
    several categories cannot be evaluated with one gallery; evaluating all
    three categories means three datasets, one dataloader and one
    ``RecallAtK(prefix=<category>)`` each, run by
    :class:`~sdfn_plugin.engine.loops.MultiValLoop` (which also adds the
    ``avg/R@10``, ``avg/R@50`` and ``avg`` summaries), see
    ``configs/_base_/datasets/fashioniq.py``. Training may mix categories
    (joint model) or use one (per-category model, as CoSMo and AMC do).

    Gallery of a category (``gallery``):

    * ``'val_union'`` (default): sorted(candidates ∪ targets) of the
      category's triplets of this split, the VAL protocol (yanbeic/VAL) used by
      AMC (``gallery_all=False``) and SDFN: 2,628 / 3,089 / 2,902 images on
      val for dress / shirt / toptee.
    * ``'split'``: ``split.<category>.<split>.json`` in file order, the
      original protocol (start kit, CLIP4Cir, CoSMo, ARTEMIS): 3,817 / 6,346 /
      5,373 images on val.

    The reference is excluded from its own ranking unless
    ``exclude_reference=False`` (then ``ref_gallery_idx = -1``: the start kit
    and CLIP4Cir keep it). The single target is the only correct item.

    Query text (``caption_mode``; each caption is stripped first):

    * ``'concat_one'`` (default, AMC/SDFN): one query per triplet,
      ``c0 + joiner + c1`` (``joiner=' <and> '``).
    * ``'concat_both'`` (CoSMo, ARTEMIS): two queries per triplet,
      ``c0 <and> c1`` then ``c1 <and> c0``.
    * ``'single'`` (VAL): one query per non-empty caption.
    * ``'amc'``: one query per triplet, ``'<BOS> c0 <AND> c1 <EOS>'`` as the
      official AMC code writes it (``joiner`` unused). Its tokeniser deletes
      punctuation, so the markers become the words ``bos``, ``and``, ``eos``;
      AMC's vocabulary comes from the raw training captions, where ``bos`` and
      ``eos`` do not occur, so they are unknown words: :meth:`texts` therefore
      returns the single captions in this mode (use no ``specials``).
    * ``'random'`` (training only; CLIP4Cir ``generate_randomized_fiq_caption``):
      one query per triplet whose text is drawn again at every access, uniformly
      from ``c0 + joiner + c1``, ``c1 + joiner + c0``, ``c0``, ``c1`` (CLIP4Cir
      also strips ``'.?, '`` and capitalises; that cleaning is not applied).
      :meth:`texts` returns ``c0 + joiner + c1``.

    Empty captions (shirt val 1, toptee train 12, toptee val 2) are counted and
    logged. In ``'single'`` mode they produce no query (the VAL protocol:
    4,034 / 4,075 / 3,920 val queries). In the concat modes the triplet keeps
    its query (or two), whose text is the non-empty caption alone (no dangling
    joiner), so the counts stay one (two) per triplet: 2,017 / 2,038 / 1,961
    (4,034 / 4,076 / 3,922) on val. A triplet whose captions are all empty is
    dropped and logged (none in the official files).

    Args:
        data_root: the FashionIQ folder (see the layout above).
        split: ``'train'``, ``'val'`` (evaluation split) or ``'test'`` (no
            targets: raises, for training and evaluation alike).
        categories: a category name or a sequence of them.
        gallery: ``'val_union'`` or ``'split'`` (evaluation only).
        caption_mode: ``'concat_one'``, ``'concat_both'``, ``'single'``, ``'amc'``
            or ``'random'``.
        joiner: string placed between the two captions.
        image_layout: ``'flat'`` or ``'per_category'``.
        image_ext: image file suffix (``<ASIN><image_ext>``).
        image_dir: overrides the image folder (default ``images`` / ``img``,
            relative to ``data_root`` unless absolute).
        caption_dir, split_dir: annotation folders relative to ``data_root``.
        exclude_reference: see above.
        check_images: verify that every image file the split needs exists.
        verify_images: also decode every image (slow; catches truncated files).
        allow_truncated: passed to the decoder of ``verify_images``.
        skip_missing: drop queries/gallery images with missing files (logged)
            instead of raising; or the path of a list of names (the image
            fetcher's ``missing.txt``) that alone may be missing.
        duplicates: a triplet repeated in a caption file (same candidate,
            target and captions) or an ASIN repeated in a split file:
            ``'error'`` (default), ``'drop'`` or ``'keep'`` (both logged).
    """

    def __init__(self, data_root: str, split: str = 'train',
                 categories: Union[str, Sequence[str]] = CATEGORIES, gallery: str = 'val_union',
                 caption_mode: str = 'concat_one', joiner: str = ' <and> ', image_layout: str = 'flat',
                 image_ext: str = '.jpg', image_dir: Optional[str] = None, caption_dir: str = 'captions',
                 split_dir: str = 'image_splits', exclude_reference: bool = True, check_images: bool = True,
                 verify_images: bool = False, allow_truncated: bool = False,
                 skip_missing: Union[bool, str] = False, duplicates: str = 'error', pipeline: PipelineCfg = (),
                 gallery_pipeline: Optional[PipelineCfg] = None, test_mode: bool = False,
                 lazy_init: bool = False) -> None:
        if duplicates not in DUPLICATE_MODES:
            raise ValueError(f'FashionIQDataset.duplicates must be one of {DUPLICATE_MODES}, got {duplicates!r}')
        self.duplicates = duplicates
        if split not in _SPLITS:
            raise ValueError(f'FashionIQDataset.split must be one of {_SPLITS}, got {split!r}')
        self.categories = self._check_categories(categories)
        if gallery not in _GALLERIES:
            raise ValueError(f'FashionIQDataset.gallery must be one of {_GALLERIES}, got {gallery!r}')
        if caption_mode not in _CAPTION_MODES:
            raise ValueError(f'FashionIQDataset.caption_mode must be one of {_CAPTION_MODES}, got {caption_mode!r}')
        if caption_mode == 'random' and split != 'train':
            raise ValueError(f"FashionIQDataset(split={split!r}): caption_mode='random' draws a new text at every "
                             'access, a training augmentation; evaluate with a fixed mode such as concat_one')
        if caption_mode == 'amc' and joiner != ' <and> ':
            raise ValueError(f"FashionIQDataset: caption_mode='amc' writes AMC's fixed text {AMC_FORMAT!r}, so "
                             f'joiner={joiner!r} would be ignored; leave joiner at its default')
        if image_layout not in _LAYOUTS:
            raise ValueError(f'FashionIQDataset.image_layout must be one of {tuple(_LAYOUTS)}, got {image_layout!r}')
        if not isinstance(joiner, str) or not joiner.strip():
            raise ValueError(f'FashionIQDataset.joiner must be a non-blank string, got {joiner!r}')
        if split == 'test':
            raise ValueError(
                "FashionIQDataset(split='test'): cap.<category>.test.json has no 'target' key (the test "
                'targets were withheld for the challenge), so the test split can be used neither for '
                "evaluation nor for training; every paper reports on split='val'")
        if split == 'val' and len(self.categories) > 1:
            raise ValueError(
                f'FashionIQDataset(split=val, categories={self.categories}): evaluation ranks each query '
                "against its own category's gallery only, so build one evaluation dataset per category "
                "(a list of val dataloaders run by MultiValLoop, see configs/_base_/datasets/fashioniq.py); "
                'several categories are allowed for training only')
        self.gallery_mode = gallery
        self.caption_mode = caption_mode
        self.joiner = joiner
        self.image_layout = image_layout
        self.image_ext = image_ext
        self.image_dir = image_dir
        self.caption_dir, self.split_dir = caption_dir, split_dir
        self.exclude_reference = exclude_reference
        self.check_images, self.verify_images = check_images, verify_images
        self.allow_truncated, self.skip_missing = allow_truncated, skip_missing
        #: per category: number of triplets, empty captions, queries, gallery size (after loading)
        self.stats: Dict[str, dict] = {}
        super().__init__(data_root=data_root, split=split, pipeline=pipeline,
                         gallery_pipeline=gallery_pipeline, test_mode=test_mode, lazy_init=lazy_init)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_categories(categories: Union[str, Sequence[str]]) -> Tuple[str, ...]:
        cats = (categories, ) if isinstance(categories, str) else tuple(categories)
        if not cats:
            raise ValueError('FashionIQDataset.categories is empty')
        bad = [c for c in cats if c not in CATEGORIES]
        if bad:
            raise ValueError(f'FashionIQDataset.categories: unknown {bad}; choose from {CATEGORIES}')
        if len(set(cats)) != len(cats):
            raise ValueError(f'FashionIQDataset.categories has duplicates: {cats}')
        return cats

    @property
    def is_eval(self) -> bool:
        return self.split == 'val'

    @property
    def name(self) -> str:
        return f'FashionIQ({"+".join(self.categories)}, {self.split})'

    def texts(self) -> List[str]:
        """Vocabulary texts: the query texts; the single captions in ``'amc'`` mode (see above)."""
        if self.caption_mode != 'amc':
            return super().texts()
        self.full_init()
        return [c for i in range(len(self)) for c in self.get_data_info(i)['captions']]

    def protocol_details(self) -> List[str]:
        out = [f'categories={"+".join(self.categories)}', f'caption_mode={self.caption_mode!r}']
        return out + ([f'gallery={self.gallery_mode!r}'] if self.is_eval else [])

    def _root(self, sub: str) -> str:
        return sub if os.path.isabs(sub) else os.path.join(self.data_root, sub)

    def image_path(self, category: str, asin: str) -> str:
        folder = self._root(self.image_dir if self.image_dir is not None else _LAYOUTS[self.image_layout])
        if self.image_layout == 'per_category':
            folder = os.path.join(folder, category)
        return os.path.join(folder, asin + self.image_ext)

    @property
    def query_source(self) -> str:
        return ', '.join(repr(self.caption_file(c)) for c in self.categories)

    def _layout_hint(self) -> str:
        folder = self.image_dir if self.image_dir is not None else _LAYOUTS[self.image_layout]
        name = f'<category>/<ASIN>{self.image_ext}' if self.image_layout == 'per_category' else \
            f'<ASIN>{self.image_ext}'
        return (f"image_layout={self.image_layout!r}: {os.path.join(folder, name)} under data_root "
                f'(annotations in {self.caption_dir}/cap.<category>.<split>.json and '
                f'{self.split_dir}/split.<category>.<split>.json)')

    def caption_file(self, category: str) -> str:
        return os.path.join(self._root(self.caption_dir), f'cap.{category}.{self.split}.json')

    def split_file(self, category: str) -> str:
        return os.path.join(self._root(self.split_dir), f'split.{category}.{self.split}.json')

    def _texts(self, captions: List[str]) -> List[str]:
        """Query texts of one triplet under ``caption_mode`` (captions already stripped)."""
        if self.caption_mode == 'amc':  # AMC writes both captions, empty or not
            return [AMC_FORMAT.format(*captions[:2])] if any(captions) else []
        # 'random' builds the concat_one text; the order is drawn per access
        mode = 'concat_one' if self.caption_mode == 'random' else self.caption_mode
        return compose_texts(captions, mode, self.joiner)

    # ------------------------------------------------------------------ loading
    def _load_triplets(self, category: str) -> List[dict]:
        path = self.caption_file(category)
        triplets = load_json_list(path, self.name)
        for i, t in enumerate(triplets):
            require_keys(t, ('candidate', 'target', 'captions'), path, i)
            caps = t['captions']
            if not isinstance(caps, list) or not caps or not all(isinstance(c, str) for c in caps):
                raise ValueError(f'{path!r}: entry {i} key "captions" must be a non-empty list of strings, '
                                 f'got {caps!r}')
        keep = handle_duplicates([(t['candidate'], t['target'], tuple(t['captions'])) for t in triplets],
                                 self.duplicates, name=self.name, path=path, what='triplets')
        return [triplets[i] for i in keep] if len(keep) != len(triplets) else triplets

    def _gallery_ids(self, category: str, triplets: List[dict]) -> List[str]:
        if self.gallery_mode == 'val_union':
            return sorted({t['candidate'] for t in triplets} | {t['target'] for t in triplets})
        path = self.split_file(category)
        ids = load_json_list(path, self.name)
        for i, asin in enumerate(ids):
            if not isinstance(asin, str):
                raise ValueError(f'{path!r}: entry {i} must be an ASIN string, got {asin!r}')
        if not ids:
            raise ValueError(f'{self.name}: the eval list {path!r} is empty (gallery=\'split\' needs the ASINs of '
                             'the split)')
        # a gallery holds each image once: 'keep' cannot apply to a list of gallery images
        keep = handle_duplicates(ids, 'drop' if self.duplicates == 'keep' else self.duplicates, name=self.name,
                                 path=path, what='ASINs')
        return [ids[i] for i in keep]

    def load_queries(self) -> List[dict]:
        logger = MMLogger.get_current_instance()
        queries: List[dict] = []
        gallery_ids: List[str] = []
        for cat in self.categories:
            triplets = self._load_triplets(cat)
            empty, no_text = [], []
            n_before = len(queries)
            for i, t in enumerate(triplets):
                caps = [c.strip() for c in t['captions']]
                if any(not c for c in caps):
                    empty.append(i)
                texts = self._texts(caps)
                if not texts:
                    no_text.append(i)
                for order, text in enumerate(texts):
                    queries.append(dict(
                        ref_id=t['candidate'], tgt_id=t['target'], text=text, category=cat,
                        ref_path=self.image_path(cat, t['candidate']), tgt_path=self.image_path(cat, t['target']),
                        triplet_idx=i, caption_order=order))
                    if self.caption_mode == 'random':
                        kept = [c for c in caps if c]
                        queries[-1]['text_choices'] = [text] if len(kept) < 2 else [
                            text, self.joiner.join(kept[::-1]), kept[0], kept[1]]
                    elif self.caption_mode == 'amc':
                        queries[-1]['captions'] = [c for c in caps if c]
            if empty:
                n_empty = sum(1 for i in empty for c in triplets[i]['captions'] if not c.strip())
                effect = ('no query for the empty caption' if self.caption_mode == 'single' else
                          'the query text is the non-empty caption alone')
                logger.info(f'FashionIQ {cat}/{self.split}: {n_empty} empty caption(s) in triplets {first(empty)} '
                            f'(caption_mode={self.caption_mode!r}: {effect})')
            if no_text:
                logger.warning(f'FashionIQ {cat}/{self.split}: dropped {len(no_text)} triplet(s) whose captions '
                               f'are all empty: {first(no_text)}')
            self.stats[cat] = dict(triplets=len(triplets), empty_captions=len(empty),
                                   queries=len(queries) - n_before)
            if self.is_eval:
                gallery_ids = self._gallery_ids(cat, triplets)
        cat = self.categories[0]
        gallery_paths = [self.image_path(cat, g) for g in gallery_ids]
        queries, gallery_ids, gallery_paths = self._check_files(queries, gallery_ids, gallery_paths)
        if self.is_eval:
            self._build_gallery(queries, gallery_ids, gallery_paths)
            self.stats[cat].update(queries=len(queries), gallery=len(self.gallery))
        for c in self.categories:
            s = self.stats[c]
            msg = (f'FashionIQ {c}/{self.split}: {s["triplets"]} triplets -> {s["queries"]} queries '
                   f'(caption_mode={self.caption_mode!r})')
            if self.is_eval:
                msg += (f', gallery={self.gallery_mode!r} of {s["gallery"]} images, reference '
                        f'{"excluded" if self.exclude_reference else "kept"}')
            logger.info(msg)
        return queries

    def _query_label(self, query: dict) -> tuple:
        return query['category'], query['ref_id'], query['tgt_id']

    def _check_files(self, queries: List[dict], gallery_ids: List[str],
                     gallery_paths: List[str]) -> Tuple[List[dict], List[str], List[str]]:
        kept, gallery_ids, gallery_paths = super()._check_files(queries, gallery_ids, gallery_paths)
        if len(kept) != len(queries):
            for c in self.categories:
                self.stats[c]['queries'] = sum(1 for q in kept if q['category'] == c)
        return kept, gallery_ids, gallery_paths

    def _build_gallery(self, queries: List[dict], gallery_ids: List[str], gallery_paths: List[str]) -> None:
        self.gallery = [dict(img_path=p, img_id=g) for g, p in zip(gallery_ids, gallery_paths)]
        index = {g: i for i, g in enumerate(gallery_ids)}
        not_found = 0
        for q in queries:
            tgt = index.get(q['tgt_id'])
            not_found += tgt is None
            q['gt_gallery_idx'] = [] if tgt is None else [tgt]
            q['ref_gallery_idx'] = index.get(q['ref_id'], -1) if self.exclude_reference else -1
        if not_found:
            MMLogger.get_current_instance().warning(
                f'{self.name}: {not_found} queries have a target outside the gallery (never a hit; they still '
                'count in the recall denominator)')

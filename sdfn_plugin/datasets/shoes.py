"""Shoes relative captions (Guo et al., NeurIPS 2018; XiaoxiaoGuo/fashion-retrieval ``dataset/``, MIT)
on the Attribute Discovery images (Berg et al., ECCV 2010).

Protocol choices follow ``docs/datasets.md`` (Shoes files and list versions), written from
the public code of VAL (yanbeic/VAL ``generate_caption_pairs.py``), AMC
(KevinLight831/AMC ``datasets.py``) and ARTEMIS (naver/artemis
``prepare_data/prepare_shoes_data.py``). This loader is our own code.
"""
import glob
import os
from collections import defaultdict
from typing import Dict, List, Optional, Union

from mmengine.logging import MMLogger

from sdfn_plugin.registry import DATASETS

from .base_cir_dataset import BaseCIRDataset, PipelineCfg
from .data_checks import (DUPLICATE_MODES, ImageFileChecks, first, handle_duplicates, load_json_list,
                          read_name_list, require_keys)

__all__ = ['ShoesDataset']

_SPLITS = ('train', 'eval')
_PAIRS = ('filter', 'scan')
_EVAL_LISTS = ('original_4621', 'current')
_GALLERIES = ('list', 'val_union')
#: number of names of the original (Jan 2019) eval list = first lines of the current file
ORIGINAL_EVAL_SIZE = 4621
_KEYS = ('ImageName', 'ReferenceImageName', 'RelativeCaption')


@DATASETS.register_module()
class ShoesDataset(ImageFileChecks, BaseCIRDataset):
    """Shoes (reference, relative caption, target) triplets.

    Files under ``data_root`` (annotations in ``ann_dir``, default the root)::

        relative_captions_shoes.json   # [{"ImageName": target, "ReferenceImageName": ref, "RelativeCaption"}]
        train_im_names.txt             # 10,000 names
        eval_im_names.txt              # 4,658 names (current upstream file)
        eval_im_names.4621.txt         # the original 4,621 names (optional, see eval_list)
        attributedata/womens_<type>/<k>/img_womens_<type>_<n>.jpg

    Images are found by basename: ``<image_dir>/<image_glob>`` is globbed once
    and mapped basename -> path (AMC, VAL, ARTEMIS do the same); a basename
    found twice is an error.

    Split lists: ``'train'`` = ``train_im_names.txt``; ``'eval'`` (the
    evaluation split; Shoes has no separate test split) = the eval list of
    ``eval_list``:

    * ``'original_4621'`` (default): ``eval_im_names.4621.txt``, the upstream
      list of Jan 2019 behind the literature's "4,621-image gallery / 1,732
      queries"; if that file is absent, the first 4,621 lines of
      ``eval_im_names.txt`` (identical by construction; logged).
    * ``'current'``: ``eval_im_names.txt`` as downloaded (4,658 names since
      upstream commit 53c9a2b).

    Triplets (``pairs``):

    * ``'filter'`` (default, ARTEMIS): annotations with both images in the
      split list, in caption-file order: train 8,990; eval 1,732 (original) /
      1,761 (current).
    * ``'scan'`` (VAL, AMC): for every name of the split list (list order),
      every annotation whose target or reference is that name; triplets with
      both images in the list appear twice: train 17,954; eval 3,492 / 3,521.
      With the original list 29 scan-built eval entries straddle the split:
      their reference (18) or target (11) is outside the gallery; the latter
      can never be hits but stay in the recall denominator (logged).

    Evaluation gallery (``gallery``):

    * ``'list'`` (default): the eval list in file order (4,621 / 4,658).
    * ``'val_union'`` (VAL, yanbeic/VAL ``datasets/shoes``): sorted(eval list
      ∪ every image of the scan-built eval entries): 4,642 with the original
      list (its 21 outside images added), 4,658 with the current one.

    AMC's published numbers (and so SDFN's comparison) come from
    ``pairs='scan'`` on ``eval_list='current'``: AMC's test script looks every
    scan entry's reference and target up in the gallery list, which fails on
    the 4,621 list. ARTEMIS uses ``pairs='filter'`` on the 4,621 list.

    One correct item (the target image); the reference is excluded from its own ranking unless
    ``exclude_reference=False``. The 27 self-pairs (reference == target) are
    kept; the eval one can never be a hit once the reference is excluded.
    Captions are stripped; an empty caption (none in the official file) is
    dropped and logged.

    Args:
        data_root: the Shoes folder.
        split: ``'train'`` or ``'eval'``.
        pairs: ``'filter'`` or ``'scan'``.
        eval_list: ``'original_4621'`` or ``'current'``.
        gallery: ``'list'`` or ``'val_union'`` (evaluation only).
        captions_file: relative-caption file name (in ``ann_dir``).
        ann_dir: folder of the caption file and the image lists, relative to
            ``data_root`` unless absolute.
        image_dir, image_glob: where the images are globbed.
        exclude_reference, check_images, verify_images, allow_truncated,
        skip_missing, duplicates: as in :class:`~sdfn_plugin.datasets.FashionIQDataset`
            (a duplicate is an entry with the same reference, target and caption).
    """

    def __init__(self, data_root: str, split: str = 'train', pairs: str = 'filter',
                 eval_list: str = 'original_4621', gallery: str = 'list', captions_file: str = 'relative_captions_shoes.json',
                 ann_dir: str = '', image_dir: str = 'attributedata', image_glob: str = 'womens_*/*/*.jpg',
                 exclude_reference: bool = True, check_images: bool = True, verify_images: bool = False,
                 allow_truncated: bool = False, skip_missing: Union[bool, str] = False, duplicates: str = 'error',
                 pipeline: PipelineCfg = (), gallery_pipeline: Optional[PipelineCfg] = None,
                 test_mode: bool = False, lazy_init: bool = False) -> None:
        if duplicates not in DUPLICATE_MODES:
            raise ValueError(f'ShoesDataset.duplicates must be one of {DUPLICATE_MODES}, got {duplicates!r}')
        self.duplicates = duplicates
        if split not in _SPLITS:
            raise ValueError(f'ShoesDataset.split must be one of {_SPLITS}, got {split!r}')
        if pairs not in _PAIRS:
            raise ValueError(f'ShoesDataset.pairs must be one of {_PAIRS}, got {pairs!r}')
        if eval_list not in _EVAL_LISTS:
            raise ValueError(f'ShoesDataset.eval_list must be one of {_EVAL_LISTS}, got {eval_list!r}')
        if gallery not in _GALLERIES:
            raise ValueError(f'ShoesDataset.gallery must be one of {_GALLERIES}, got {gallery!r}')
        self.pairs, self.eval_list, self.gallery_mode = pairs, eval_list, gallery
        self.captions_file, self.ann_dir = captions_file, ann_dir
        self.image_dir, self.image_glob = image_dir, image_glob
        self.exclude_reference = exclude_reference
        self.check_images, self.verify_images = check_images, verify_images
        self.allow_truncated, self.skip_missing = allow_truncated, skip_missing
        #: counts of the last load (triplets, queries, gallery, ...)
        self.stats: Dict[str, int] = {}
        super().__init__(data_root=data_root, split=split, pipeline=pipeline,
                         gallery_pipeline=gallery_pipeline, test_mode=test_mode, lazy_init=lazy_init)

    @property
    def is_eval(self) -> bool:
        return self.split == 'eval'

    @property
    def name(self) -> str:
        return f'Shoes({self.split}, pairs={self.pairs!r}' + \
            (f', eval_list={self.eval_list!r}, gallery={self.gallery_mode!r})' if self.is_eval else ')')

    def protocol_details(self) -> List[str]:
        listed = 'train_im_names.txt' if not self.is_eval else \
            ('eval_im_names.txt' if self.eval_list == 'current' else 'eval_im_names.4621.txt')
        out = [f'pairs={self.pairs!r}', f'list={listed} ({self.stats.get("list_names", 0)} names)']
        return out + ([f'gallery={self.gallery_mode!r}'] if self.is_eval else [])

    def _root(self, sub: str) -> str:
        return sub if os.path.isabs(sub) else os.path.join(self.data_root, sub)

    def _ann(self, name: str) -> str:
        return os.path.join(self._root(self.ann_dir), name)

    @property
    def query_source(self) -> str:
        return repr(self._ann(self.captions_file))

    # ------------------------------------------------------------------ files
    def split_names(self) -> List[str]:
        """Image names of this split (the gallery, in file order, for ``'eval'``)."""
        if not self.is_eval:
            return read_name_list(self._ann('train_im_names.txt'), self.name)
        if self.eval_list == 'current':
            return read_name_list(self._ann('eval_im_names.txt'), self.name)
        original = self._ann('eval_im_names.4621.txt')
        if os.path.isfile(original):
            names = read_name_list(original, self.name)
        else:
            names = read_name_list(self._ann('eval_im_names.txt'), self.name)[:ORIGINAL_EVAL_SIZE]
            MMLogger.get_current_instance().info(
                f"{self.name}: {original!r} not found; using the first {ORIGINAL_EVAL_SIZE} lines of "
                "eval_im_names.txt (the original 4,621-name list, upstream commit 2b24f27)")
        if len(names) != ORIGINAL_EVAL_SIZE:
            MMLogger.get_current_instance().warning(
                f"{self.name}: the original eval list should have {ORIGINAL_EVAL_SIZE} names, got {len(names)}")
        return names

    def load_annotations(self) -> List[dict]:
        path = self._ann(self.captions_file)
        anns = load_json_list(path, self.name)
        for i, a in enumerate(anns):
            require_keys(a, _KEYS, path, i)
            for key in _KEYS:
                if not isinstance(a[key], str):
                    raise ValueError(f'{path!r}: entry {i} key {key!r} must be a string, got {a[key]!r}')
        keep = handle_duplicates([(a['ReferenceImageName'], a['ImageName'], a['RelativeCaption']) for a in anns],
                                 self.duplicates, name=self.name, path=path)
        return anns if len(keep) == len(anns) else [anns[i] for i in keep]

    def image_index(self) -> Dict[str, str]:
        """basename -> path of every image under ``image_dir/image_glob`` (one glob)."""
        pattern = os.path.join(self._root(self.image_dir), self.image_glob)
        index: Dict[str, str] = {}
        duplicates = []
        for path in sorted(glob.glob(pattern)):
            base = os.path.basename(path)
            if base in index:
                duplicates.append((base, index[base], path))
            else:
                index[base] = path
        if duplicates:
            b, p1, p2 = duplicates[0]
            raise ValueError(f'{self.name}: {len(duplicates)} image basename(s) occur more than once under '
                             f'{pattern!r}, e.g. {b!r} at {p1!r} and {p2!r}; images are resolved by basename, '
                             'so remove the duplicates')
        return index

    # ------------------------------------------------------------------ loading
    def _triplets(self, anns: List[dict], names: List[str]) -> List[int]:
        """Annotation indices of this split's triplets under ``pairs``."""
        if self.pairs == 'filter':
            listed = set(names)
            return [i for i, a in enumerate(anns) if a['ImageName'] in listed and a['ReferenceImageName'] in listed]
        return self._scan(anns, names)

    @staticmethod
    def _scan(anns: List[dict], names: List[str]) -> List[int]:
        touching = defaultdict(set)
        for i, a in enumerate(anns):
            touching[a['ImageName']].add(i)
            touching[a['ReferenceImageName']].add(i)
        return [i for n in names for i in sorted(touching.get(n, ()))]

    def _gallery_ids(self, anns: List[dict], names: List[str]) -> List[str]:
        if self.gallery_mode == 'list':
            return names
        # VAL: the list plus every image of the scan-built pairs, whatever ``pairs`` is
        scan = self._scan(anns, names)
        used = {anns[i][k] for i in scan for k in ('ImageName', 'ReferenceImageName')}
        return sorted(set(names) | used)

    def load_queries(self) -> List[dict]:
        logger = MMLogger.get_current_instance()
        anns = self.load_annotations()
        names = self.split_names()
        if not names:
            raise ValueError(f'{self.name}: the {"eval" if self.is_eval else "train"} image list under '
                             f'{self._root(self.ann_dir)!r} is empty')
        order = self._triplets(anns, names)
        index = self.image_index()
        root = self._root(self.image_dir)
        if not index:
            msg = f'{self.name}: no image matches {os.path.join(root, self.image_glob)!r}'
            if not self.check_images:
                logger.warning(msg + f'; image paths fall back to {os.path.join(root, "<name>")!r}')
        unresolved = {}

        def path_of(name: str) -> str:
            p = index.get(name)
            if p is None:
                p = unresolved.setdefault(name, os.path.join(root, name))
            return p

        queries, empty = [], []
        for i in order:
            a = anns[i]
            text = a['RelativeCaption'].strip()
            if not text:
                empty.append(i)
                continue
            ref, tgt = a['ReferenceImageName'], a['ImageName']
            queries.append(dict(ref_id=ref, tgt_id=tgt, text=text, ref_path=path_of(ref), tgt_path=path_of(tgt),
                                ann_idx=i, category=''))
        if empty:
            logger.warning(f'{self.name}: dropped {len(empty)} entries with an empty caption (annotation indices '
                           f'{first(empty)})')
        gallery_ids = self._gallery_ids(anns, names) if self.is_eval else []
        gallery_paths = [path_of(n) for n in gallery_ids]
        self.stats = dict(annotations=len(anns), list_names=len(names), triplets=len(order), empty=len(empty))
        queries, gallery_ids, gallery_paths = self._check_files(queries, gallery_ids, gallery_paths)
        if self.is_eval:
            self._build_gallery(queries, gallery_ids, gallery_paths)
        self.stats.update(queries=len(queries), gallery=len(self.gallery))
        msg = f'{self.name}: {len(names)} names in the split list -> {len(queries)} queries'
        if self.is_eval:
            msg += (f', gallery of {len(self.gallery)} images, reference '
                    f'{"excluded" if self.exclude_reference else "kept"}')
        logger.info(msg)
        return queries

    def _layout_hint(self) -> str:
        return (f'images {os.path.join(self.image_dir, self.image_glob)} under data_root, found by basename '
                f'(e.g. attributedata/womens_clogs/0/img_womens_clogs_851.jpg); annotations '
                f'{os.path.join(self.ann_dir, self.captions_file)} and *_im_names*.txt')

    def _build_gallery(self, queries: List[dict], gallery_ids: List[str], gallery_paths: List[str]) -> None:
        self.gallery = [dict(img_path=p, img_id=g) for g, p in zip(gallery_ids, gallery_paths)]
        index = {g: i for i, g in enumerate(gallery_ids)}
        if len(index) != len(gallery_ids):
            raise ValueError(f'{self.name}: the eval list has duplicated names')
        no_tgt = no_ref = 0
        for q in queries:
            tgt = index.get(q['tgt_id'])
            ref = index.get(q['ref_id'], -1)
            no_tgt += tgt is None
            no_ref += ref < 0
            q['gt_gallery_idx'] = [] if tgt is None else [tgt]
            q['ref_gallery_idx'] = ref if self.exclude_reference else -1
        self.stats.update(target_outside_gallery=no_tgt, reference_outside_gallery=no_ref)
        if no_tgt or no_ref:
            MMLogger.get_current_instance().info(
                f'{self.name}: {no_tgt} queries have their target outside the gallery (never a hit; still in '
                f'the recall denominator) and {no_ref} their reference outside it (nothing to exclude)')

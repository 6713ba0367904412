"""CIRCO (Baldrati et al., "Zero-Shot Composed Image Retrieval with Textual Inversion", ICCV 2023;
official annotations: miccunifi/CIRCO, CC BY-NC 4.0) over the COCO 2017 unlabeled images.

The protocol follows the official evaluation (miccunifi/CIRCO ``src/evaluation.py``) and SEARLE's
validation and test-submission code (miccunifi/SEARLE ``src/validate.py``,
``src/generate_test_submission.py``), read to confirm it; this loader is our own code.
"""
import os
import string
from typing import Dict, List, Optional, Tuple, Union

from mmengine.logging import MMLogger

from sdfn_plugin.registry import DATASETS

from .base_cir_dataset import BaseCIRDataset, PipelineCfg
from .data_checks import (ImageFileChecks, find_missing_images, first, load_json, load_json_list, log_dropped,
                          report_missing, require_keys)

__all__ = ['CIRCODataset', 'list_coco_folder', 'read_image_info', 'coco_file_name']

_SPLITS = ('val', 'test')
_TEXT_FIELDS = ('relative_caption', 'shared_concept')
_MISSING_GTS = ('error', 'drop')
#: file suffixes a gallery folder is listed by (anything else, and hidden files, are not images)
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')
#: the official layout (miccunifi/CIRCO README, "Data Structure"), relative to data_root
DEFAULT_IMAGE_INFO = 'COCO2017_unlabeled/annotations/image_info_unlabeled2017.json'
DEFAULT_IMAGE_DIR = 'COCO2017_unlabeled/unlabeled2017'
_VAL_KEYS = ('id', 'reference_img_id', 'target_img_id', 'relative_caption', 'shared_concept', 'gt_img_ids')
_TEST_KEYS = ('id', 'reference_img_id', 'relative_caption', 'shared_concept')


def coco_file_name(img_id: int) -> str:
    """COCO's file name of an image id: the id zero-padded to 12 digits, ``.jpg`` (``000000123456.jpg``)."""
    return f'{img_id:012d}.jpg'


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def list_coco_folder(folder: str) -> List[Tuple[int, str]]:
    """``(COCO id, path)`` of every image of ``folder`` (not recursive), sorted by id.

    Rule: an image is a file whose suffix is one of :data:`IMAGE_SUFFIXES`
    (case-insensitive); its stem must be the decimal COCO id (COCO's names are
    zero-padded to 12 digits, any padding is accepted). Hidden files and files
    with other suffixes are ignored. An image name that is not an id, or two
    names of one id (``000000000042.jpg`` and ``42.jpg``), is an error naming them.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'CIRCO gallery folder not found: {folder!r} (COCO 2017 unlabeled images, '
                                '<12-digit id>.jpg)')
    items: Dict[int, str] = {}
    bad: List[str] = []
    twice: List[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            stem, ext = os.path.splitext(entry.name)
            if entry.name.startswith('.') or ext.lower() not in IMAGE_SUFFIXES or not entry.is_file():
                continue
            if not stem.isdigit() or not stem.isascii():
                bad.append(entry.name)
                continue
            img_id = int(stem)
            if img_id in items:
                twice.append(f'{os.path.basename(items[img_id])} / {entry.name}')
            items[img_id] = entry.path
    if bad:
        raise ValueError(f'CIRCO gallery folder {folder!r}: {len(bad)} image file(s) whose name is not a COCO '
                         f'image id: {first(sorted(bad))}. Gallery images are listed by file name = the decimal '
                         'COCO id (e.g. 000000123456.jpg); move other images out of the folder or list the '
                         "gallery with COCO's image_info_unlabeled2017.json (image_info=...)")
    if twice:
        raise ValueError(f'CIRCO gallery folder {folder!r}: {len(twice)} COCO id(s) named by two files: '
                         f'{first(sorted(twice))}')
    return sorted(items.items())


def read_image_info(path: str, image_dir: str) -> List[Tuple[int, str]]:
    """``(COCO id, path)`` of COCO's ``image_info_*.json`` (``{"images": [{"id", "file_name", ...}]}``),
    in file order; paths are ``image_dir/<file_name>``."""
    what = 'CIRCO image_info'
    data = load_json(path, what)
    if not isinstance(data, dict) or not isinstance(data.get('images'), list):
        got = f'keys {sorted(data)}' if isinstance(data, dict) else type(data).__name__
        raise ValueError(f'{what}: {path!r} must be a JSON object with an "images" list (COCO\'s '
                         f'image_info_unlabeled2017.json), got {got}')
    out: List[Tuple[int, str]] = []
    seen: Dict[int, int] = {}
    for i, img in enumerate(data['images']):
        require_keys(img, ('id', 'file_name'), path, i)
        if not _is_id(img['id']) or not isinstance(img['file_name'], str) or not img['file_name']:
            raise ValueError(f'{path!r}: images[{i}] needs an int "id" and a file name, got '
                             f'id={img["id"]!r}, file_name={img["file_name"]!r}')
        if img['id'] in seen:
            raise ValueError(f'{path!r}: images[{i}] repeats the id {img["id"]} of images[{seen[img["id"]]}]')
        seen[img['id']] = i
        out.append((img['id'], os.path.join(image_dir, img['file_name'])))
    if not out:
        raise ValueError(f'{what}: {path!r} lists no images')
    return out


@DATASETS.register_module()
class CIRCODataset(ImageFileChecks, BaseCIRDataset):
    """CIRCO queries (``val``: 220 with ground truth, ``test``: 800 without) against COCO 2017 unlabeled.

    Files under ``data_root`` (the official layout)::

        annotations/{val,test}.json          # [{"id", "reference_img_id", "relative_caption", "shared_concept",
                                             #   val also: "target_img_id", "gt_img_ids", "semantic_aspects"}]
        COCO2017_unlabeled/annotations/image_info_unlabeled2017.json   # {"images": [{"id", "file_name"}]}
        COCO2017_unlabeled/unlabeled2017/<12-digit id>.jpg             # 123,403 images

    **Gallery**: the whole COCO 2017 unlabeled set for both splits, listed by
    ``image_info`` (file order) or, with ``image_info=None``, by the files of
    ``image_dir`` (:func:`list_coco_folder`: name = COCO id, sorted by id). A
    gallery item is ``{'img_path', 'img_id': <int COCO id>}``. Because both
    splits share it, and the references are gallery images with the same id,
    the feature cache (``FeatureCacheHook``) of the gallery serves the
    references of both splits: a frozen tower encodes the 123k images once.

    **Queries**: ``query_id`` = the annotation ``id`` (the submission key),
    ``ref_id`` = ``reference_img_id``, ``text`` = ``text_format`` filled with the
    stripped ``relative_caption`` and ``shared_concept``. The default
    ``'{relative_caption}'`` is what the official code feeds its text encoder
    (SEARLE writes ``"a photo of $ that {relative_caption}"`` with ``$`` its
    pseudo-word; ``shared_concept`` is unused there); ``'a photo of
    {shared_concept} that {relative_caption}'`` is one alternative. On ``val``,
    ``tgt_id`` = ``target_img_id`` (its row: ``tgt_gallery_idx``, for Recall@K)
    and ``gt_gallery_idx`` = the rows of ``gt_img_ids`` in annotation order
    (all count for mAP@K); on ``test`` both are empty (``tgt_id=None``,
    ``tgt_gallery_idx=-1``).

    **Reference**: excluded from its own ranking (``ref_gallery_idx``) unless
    ``exclude_reference=False``. Deviation: the official CIRCO code ranks the
    whole gallery, reference included; it is never a ground truth (checked
    here), so excluding it can only move ground truths up, by one rank at
    most, and the server's validity rules are unaffected.

    **Ground truths not in the gallery** (a partial image folder, or images
    removed by ``skip_missing``): counted and named; ``missing_gts='error'``
    (default) raises, ``'drop'`` removes them from their queries' lists with
    one warning giving the counts (mAP@K then divides by the ground truths
    present, a different protocol) and drops queries left with none.

    ``metainfo`` (hence every metric's ``dataset_meta``) holds ``gallery_ids``
    (int COCO ids, gallery order) and ``ann_file`` (absolute path), read by
    :class:`~sdfn_plugin.evaluation.submissions.circo.CIRCOSubmission`
    (``tools/test.py --submission DIR``, :attr:`submission_metric`).

    Args:
        data_root: the CIRCO folder.
        split: ``'val'`` or ``'test'``.
        ann_file: the annotation file (default ``annotations/<split>.json``;
            relative to ``data_root`` unless absolute).
        image_info: COCO's image list (relative to ``data_root`` unless
            absolute), or ``None`` to list ``image_dir``.
        image_dir: the COCO 2017 unlabeled image folder.
        text_format: the query text, a format string over ``{relative_caption}``
            and ``{shared_concept}``.
        missing_gts: ``'error'`` or ``'drop'`` (see above).
        exclude_reference, check_images, verify_images, allow_truncated,
        skip_missing: as for the other real-dataset loaders (``skip_missing``
            drops gallery images and the queries whose reference is missing).
    """

    submission_metric = 'CIRCOSubmission'

    def __init__(self, data_root: str, split: str = 'val', ann_file: str = '',
                 image_info: Optional[str] = DEFAULT_IMAGE_INFO, image_dir: str = DEFAULT_IMAGE_DIR,
                 text_format: str = '{relative_caption}', missing_gts: str = 'error', exclude_reference: bool = True,
                 check_images: bool = True, verify_images: bool = False, allow_truncated: bool = False,
                 skip_missing: Union[bool, str] = False, pipeline: PipelineCfg = (),
                 gallery_pipeline: Optional[PipelineCfg] = None, test_mode: bool = False,
                 lazy_init: bool = False) -> None:
        if split not in _SPLITS:
            raise ValueError(f'CIRCODataset.split must be one of {_SPLITS}, got {split!r}')
        if missing_gts not in _MISSING_GTS:
            raise ValueError(f'CIRCODataset.missing_gts must be one of {_MISSING_GTS}, got {missing_gts!r}')
        self.text_format = self._check_text_format(text_format)
        if image_info is not None and (not isinstance(image_info, str) or not image_info):
            raise ValueError(f'CIRCODataset.image_info must be a file path or None, got {image_info!r}')
        self.image_info, self.image_dir = image_info, image_dir
        self.missing_gts = missing_gts
        self.exclude_reference = exclude_reference
        self.check_images, self.verify_images = check_images, verify_images
        self.allow_truncated, self.skip_missing = allow_truncated, skip_missing
        #: counts after loading: queries, gallery, gts, missing_gts, queries without gt (dropped)
        self.stats: Dict[str, int] = {}
        super().__init__(data_root=data_root, split=split, pipeline=pipeline, gallery_pipeline=gallery_pipeline,
                         test_mode=test_mode, lazy_init=lazy_init, ann_file=ann_file or f'annotations/{split}.json')

    @staticmethod
    def _check_text_format(text_format: str) -> str:
        if not isinstance(text_format, str):
            raise TypeError(f'CIRCODataset.text_format must be a string, got {type(text_format).__name__}')
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text_format) if f is not None]
        except ValueError as err:
            raise ValueError(f'CIRCODataset.text_format {text_format!r} is not a format string: {err}') from None
        bad = [f for f in fields if f not in _TEXT_FIELDS]
        if bad or not fields:
            raise ValueError(f'CIRCODataset.text_format {text_format!r} must use only and at least one of the '
                             f'fields {{{"}, {".join(_TEXT_FIELDS)}}}' + (f'; unknown: {bad}' if bad else ''))
        return text_format

    # ------------------------------------------------------------------ naming (ImageFileChecks)
    @property
    def is_eval(self) -> bool:
        return True  # both splits are evaluation splits (zero-shot benchmark)

    @property
    def name(self) -> str:
        return f'CIRCO({self.split})'

    @property
    def query_source(self) -> str:
        return repr(self.ann_file)

    def _root(self, sub: str) -> str:
        return sub if os.path.isabs(sub) else os.path.join(self.data_root, sub)

    def _layout_hint(self) -> str:
        listing = f'listed by {self.image_info}' if self.image_info else 'listed by its files (<COCO id>.jpg)'
        return f'{os.path.join(self.image_dir, "<12-digit COCO id>.jpg")} under data_root, {listing}'

    def protocol_details(self) -> List[str]:
        return [f'text_format={self.text_format!r}',
                f'gallery listed by {"image_info" if self.image_info else "image_dir files"}',
                f'missing_gts={self.missing_gts!r}']

    # ------------------------------------------------------------------ loading
    def _gallery_listing(self) -> List[Tuple[int, str]]:
        image_dir = self._root(self.image_dir)
        if self.image_info is None:
            return list_coco_folder(image_dir)
        path = self._root(self.image_info)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{self.name}: image_info file not found: {path!r} (COCO 2017 unlabeled '
                                    "image_info_unlabeled2017.json); or set image_info=None to list the gallery "
                                    f'by the files of image_dir {image_dir!r}')
        return read_image_info(path, image_dir)

    def _load_annotations(self) -> List[dict]:
        path = self.ann_file
        entries = load_json_list(path, self.name)
        keys = _VAL_KEYS if self.split == 'val' else _TEST_KEYS
        seen: Dict[int, int] = {}
        for i, e in enumerate(entries):
            require_keys(e, keys, path, i)
            for key in ('id', 'reference_img_id') + (('target_img_id', ) if self.split == 'val' else ()):
                if not _is_id(e[key]):
                    raise ValueError(f'{path!r}: entry {i} key {key!r} must be a non-negative int, got {e[key]!r}')
            for key in _TEXT_FIELDS:
                if not isinstance(e[key], str):
                    raise ValueError(f'{path!r}: entry {i} key {key!r} must be a string, got {e[key]!r}')
            if e['id'] in seen:
                raise ValueError(f'{path!r}: entry {i} repeats the query id {e["id"]} of entry {seen[e["id"]]}')
            seen[e['id']] = i
            if self.split == 'val':
                gts = e['gt_img_ids']
                if not isinstance(gts, list) or not gts or not all(_is_id(g) for g in gts):
                    raise ValueError(f'{path!r}: query {e["id"]} key "gt_img_ids" must be a non-empty list of '
                                     f'COCO ids, got {gts!r}')
                if len(set(gts)) != len(gts):
                    raise ValueError(f'{path!r}: query {e["id"]} lists a ground truth twice in gt_img_ids {gts}')
                if e['target_img_id'] not in gts:
                    raise ValueError(f'{path!r}: query {e["id"]}: target_img_id {e["target_img_id"]} is not among '
                                     f'its gt_img_ids {gts}')
                if e['reference_img_id'] in gts:
                    raise ValueError(f'{path!r}: query {e["id"]}: the reference {e["reference_img_id"]} is among its '
                                     'gt_img_ids (it is excluded from its own ranking, so it could never be found)')
        return entries

    def load_queries(self) -> List[dict]:
        logger = MMLogger.get_current_instance()
        entries = self._load_annotations()
        listing = self._gallery_listing()
        path_of = dict(listing)
        image_dir = self._root(self.image_dir)
        queries = []
        for e in entries:
            ref = e['reference_img_id']
            text = self.text_format.format(relative_caption=e['relative_caption'].strip(),
                                           shared_concept=e['shared_concept'].strip())
            q = dict(query_id=e['id'], ref_id=ref, text=text,
                     ref_path=path_of.get(ref, os.path.join(image_dir, coco_file_name(ref))),
                     relative_caption=e['relative_caption'], shared_concept=e['shared_concept'])
            if self.split == 'val':
                q.update(tgt_id=e['target_img_id'], gt_ids=list(e['gt_img_ids']))
            else:
                q['tgt_id'] = None
            queries.append(q)
        queries, listing = self._check_circo_images(queries, listing)
        self.gallery = [dict(img_path=p, img_id=g) for g, p in listing]
        queries = self._attach_gallery_rows(queries, {g: i for i, (g, _) in enumerate(listing)})
        self.stats.update(queries=len(queries), gallery=len(self.gallery))
        self._metainfo.update(gallery_ids=[g for g, _ in listing], ann_file=os.path.abspath(self.ann_file))
        logger.info(f'CIRCO {self.split}: {len(queries)} queries ({os.path.basename(self.ann_file)}), gallery of '
                    f'{len(self.gallery)} COCO images, text {self.text_format!r}, reference '
                    f'{"excluded" if self.exclude_reference else "kept"}')
        return queries

    def _check_circo_images(self, queries: List[dict], listing: List[Tuple[int, str]]
                            ) -> Tuple[List[dict], List[Tuple[int, str]]]:
        """Missing/unreadable files of references and gallery: an error naming them, or with
        ``skip_missing`` the gallery images and the queries whose reference is missing are dropped (logged)."""
        if not self.check_images:
            return queries, listing
        needed = [q['ref_path'] for q in queries] + [p for _, p in listing]
        missing = find_missing_images(needed, self.verify_images, self.allow_truncated)
        if not missing:
            return queries, listing
        tolerated = self._tolerated(missing)
        if len(tolerated) < len(missing):
            report_missing({p: r for p, r in missing.items() if p not in tolerated}, name=self.name,
                           data_root=self.data_root, layout=self._layout_hint(), total=len(set(needed)))
        kept_listing = [(g, p) for g, p in listing if p not in missing]
        log_dropped(self.name, 'gallery images', [g for g, p in listing if p in missing], len(listing),
                    'image file missing/unreadable')
        kept = [q for q in queries if q['ref_path'] not in missing]
        log_dropped(self.name, 'queries', [q['query_id'] for q in queries if q['ref_path'] in missing],
                    len(queries), 'reference image missing/unreadable')
        MMLogger.get_current_instance().warning(
            f'{self.name}: skip_missing: {len(missing)} image file(s) missing/unreadable; this protocol lost '
            f'{len(queries) - len(kept)} of {len(queries)} queries and {len(listing) - len(kept_listing)} of '
            f'{len(listing)} gallery images')
        if not kept or not kept_listing:
            raise ValueError(f'{self.name}: nothing left to evaluate after skip_missing dropped {len(missing)} image '
                             f'file(s) (first: {first(list(missing))}); check data_root {self.data_root!r}')
        return kept, kept_listing

    def _attach_gallery_rows(self, queries: List[dict], row: Dict[int, int]) -> List[dict]:
        for q in queries:
            ref_row = row.get(q['ref_id'], -1)
            q['ref_gallery_idx'] = ref_row if self.exclude_reference else -1
            q['tgt_gallery_idx'] = row.get(q['tgt_id'], -1) if q['tgt_id'] is not None else -1
            q['gt_gallery_idx'] = [row[g] for g in q.get('gt_ids', ()) if g in row]
        if self.split == 'test':
            return queries
        absent = [(q['query_id'], g) for q in queries for g in q['gt_ids'] if g not in row]
        n_gts = sum(len(q['gt_ids']) for q in queries)
        self.stats.update(gts=n_gts, missing_gts=len(absent), queries_without_gt=0)
        if not absent:
            return queries
        hit = sorted({qid for qid, _ in absent})
        desc = (f'{len(absent)} of the {n_gts} ground truths of {len(hit)} of the {len(queries)} queries are not in '
                f'the gallery of {len(row)} images (query id, COCO id: {first(absent)})')
        if self.missing_gts == 'error':
            raise ValueError(f'{self.name}: {desc} ({self.ann_file!r}). Complete the COCO 2017 unlabeled images, or '
                             "set missing_gts='drop' to score each query on the ground truths present (a "
                             'different protocol)')
        kept = [q for q in queries if q['gt_gallery_idx']]
        self.stats['queries_without_gt'] = len(queries) - len(kept)
        MMLogger.get_current_instance().warning(
            f"{self.name}: {desc}; missing_gts='drop': removed from their queries' ground truths (mAP@K over the "
            f'ground truths present), {len(queries) - len(kept)} query(ies) left without any dropped: '
            f'{first([q["query_id"] for q in queries if not q["gt_gallery_idx"]])}')
        if not kept:
            raise ValueError(f'{self.name}: no query has a ground truth in the gallery; check image_dir / image_info')
        return kept

"""Your own (reference, caption, target) triplets from a JSONL or CSV file, without writing a dataset class
(the role of mmpretrain's ``CustomDataset`` for classification)."""
import csv
import io
import json
import os
from typing import Dict, List, Optional, Sequence, Union

from mmengine.logging import MMLogger

from sdfn_plugin.registry import DATASETS

from .base_cir_dataset import CAPTION_MODES, BaseCIRDataset, PipelineCfg, compose_texts
from .data_checks import DUPLICATE_MODES, ImageFileChecks, handle_duplicates, read_name_list, read_text

__all__ = ['CIRTripletDataset', 'read_triplet_rows']

_FIELDS = ('reference', 'target', 'caption')


def _as_list(value, path: str, line: int, field: str, sep: Optional[str]) -> List[str]:
    """A field holding one string or several (a JSON list, or ``sep``-separated in CSV)."""
    if isinstance(value, str):
        items = value.split(sep) if sep else [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise ValueError(f'{path!r} line {line}: field {field!r} must be a string or a non-empty list of strings, '
                         f'got {value!r}')
    items = [v.strip() for v in items]
    if field != 'caption' and not all(items):
        raise ValueError(f'{path!r} line {line}: field {field!r} has an empty image name: {value!r}')
    return items


def read_triplet_rows(path: str, what: str, csv_list_sep: str = '|') -> List[dict]:
    """Rows ``{'line', 'reference', 'targets', 'captions', 'category'}`` of a ``.jsonl`` or ``.csv`` file.

    JSONL: one object per line, ``target``/``caption`` a string or a list of
    strings. CSV: a header row naming the columns; several targets/captions
    in one cell are separated by ``csv_list_sep``.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in ('.jsonl', '.csv'):
        raise ValueError(f'{what}: ann_file {path!r} must end in .jsonl or .csv')
    text = read_text(path, what)
    if ext == '.jsonl':
        raw = []
        for lineno, line in enumerate(text.split('\n'), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{what}: {path!r} line {lineno} is not valid JSON: {err}') from None
            if not isinstance(obj, dict):
                raise ValueError(f'{path!r} line {lineno}: expected a JSON object, got {type(obj).__name__}')
            raw.append((lineno, obj))
        sep = None
    else:
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None:
            raw = []
        else:
            absent = [f for f in _FIELDS if f not in reader.fieldnames]
            if absent:
                raise KeyError(f'{path!r}: the CSV header {reader.fieldnames} lacks the column(s) {absent}')
            raw = [(reader.line_num, row) for row in reader]
        sep = csv_list_sep
    rows = []
    for lineno, obj in raw:
        for key in _FIELDS:
            if obj.get(key) in (None, ''):
                raise KeyError(f'{path!r} line {lineno}: no {key!r} (fields present: {sorted(obj)})')
        reference = obj['reference']
        if not isinstance(reference, str) or not reference.strip():
            raise ValueError(f'{path!r} line {lineno}: field \'reference\' must be one image name, got {reference!r}')
        category = obj.get('category') or ''
        rows.append(dict(line=lineno, reference=reference.strip(),
                         targets=_as_list(obj['target'], path, lineno, 'target', sep),
                         captions=_as_list(obj['caption'], path, lineno, 'caption', sep),
                         category=str(category)))
    return rows


@DATASETS.register_module()
class CIRTripletDataset(ImageFileChecks, BaseCIRDataset):
    """Composed-retrieval triplets of your own, one annotation file per split.

    Annotation file (``ann_file``, relative to ``data_root`` unless absolute):

    * ``.jsonl``: one object per line, e.g.
      ``{"reference": "shirts/001.jpg", "target": ["shirts/007.jpg"], "caption": "is red", "category": "shirt"}``;
      ``target`` and ``caption`` may be one string or a list (several correct
      images; several captions of the same change).
    * ``.csv``: a header row with the columns ``reference,target,caption``
      (``category`` optional); several targets/captions in one cell are
      separated by ``csv_list_sep`` (default ``|``).

    Image names are paths relative to the image root ``data_root/image_dir``
    and are also the image ids.

    **Training** (``test_mode=False``): one query per (text, target) pair, the
    text made from the captions by ``caption_mode`` (as FashionIQ:
    ``'concat_one'`` joins them with ``joiner``, ``'concat_both'`` adds the
    reversed order, ``'single'`` gives one query per caption).

    **Evaluation** (``test_mode=True``): one query per text; the gallery is
    ``gallery_file`` (one image name per line, relative to the image root) or,
    by default, every image the split references (references and targets,
    sorted); every listed target in the gallery is a correct item
    (``gt_gallery_idx``); the reference is excluded from its own ranking
    unless ``exclude_reference=False``. A target outside a given gallery can
    never be a hit but stays in the recall denominator (logged).

    Args:
        data_root: the dataset folder.
        ann_file: the ``.jsonl`` or ``.csv`` annotation file of this split.
        split: a name for logs and messages (``'train'``, ``'val'``...).
        image_dir: image folder relative to ``data_root`` (or absolute).
        gallery_file: optional gallery list (evaluation only).
        categories: keep only rows whose ``category`` is one of these
            (default: all rows).
        caption_mode, joiner: query texts, see above.
        csv_list_sep: separator of several values in a CSV cell.
        exclude_reference: see above.
        duplicates: a row repeating an earlier one (same reference, targets and
            captions): ``'error'`` (default), ``'drop'`` or ``'keep'`` (logged).
        check_images, verify_images, allow_truncated, skip_missing: as in
            :class:`~sdfn_plugin.datasets.FashionIQDataset`.
    """

    def __init__(self, data_root: str, ann_file: str, split: str = 'train', image_dir: str = '',
                 gallery_file: Optional[str] = None, categories: Optional[Sequence[str]] = None,
                 caption_mode: str = 'concat_one', joiner: str = ' and ', csv_list_sep: str = '|',
                 exclude_reference: bool = True, duplicates: str = 'error', check_images: bool = True,
                 verify_images: bool = False, allow_truncated: bool = False,
                 skip_missing: Union[bool, str] = False, pipeline: PipelineCfg = (),
                 gallery_pipeline: Optional[PipelineCfg] = None, test_mode: bool = False,
                 lazy_init: bool = False) -> None:
        if caption_mode not in CAPTION_MODES:
            raise ValueError(f'CIRTripletDataset.caption_mode must be one of {CAPTION_MODES}, got {caption_mode!r}')
        if duplicates not in DUPLICATE_MODES:
            raise ValueError(f'CIRTripletDataset.duplicates must be one of {DUPLICATE_MODES}, got {duplicates!r}')
        if not isinstance(joiner, str) or not joiner.strip():
            raise ValueError(f'CIRTripletDataset.joiner must be a non-blank string, got {joiner!r}')
        if gallery_file is not None and not test_mode:
            raise ValueError('CIRTripletDataset.gallery_file is for evaluation datasets (test_mode=True)')
        self.image_dir, self.gallery_file = image_dir, gallery_file
        self.categories = None if categories is None else tuple(categories)
        self.caption_mode, self.joiner, self.csv_list_sep = caption_mode, joiner, csv_list_sep
        self.exclude_reference, self.duplicates = exclude_reference, duplicates
        self.check_images, self.verify_images = check_images, verify_images
        self.allow_truncated, self.skip_missing = allow_truncated, skip_missing
        #: counts of the last load (rows, queries, gallery...)
        self.stats: Dict[str, int] = {}
        super().__init__(data_root=data_root, split=split, pipeline=pipeline,
                         gallery_pipeline=gallery_pipeline, test_mode=test_mode, lazy_init=lazy_init,
                         ann_file=ann_file)

    @property
    def is_eval(self) -> bool:
        return self.test_mode

    @property
    def name(self) -> str:
        return f'CIRTriplets({self.split})'

    def _root(self, sub: str) -> str:
        return sub if os.path.isabs(sub) else os.path.join(self.data_root, sub)

    @property
    def query_source(self) -> str:
        return repr(self.ann_file)

    def protocol_details(self) -> List[str]:
        gallery = f'gallery_file={self.gallery_file!r}' if self.gallery_file else 'gallery=every referenced image'
        return [f'ann_file={os.path.basename(self.ann_file)!r}', f'caption_mode={self.caption_mode!r}'] + \
            ([gallery] if self.is_eval else [])

    def image_path(self, name: str) -> str:
        return os.path.join(self._root(self.image_dir), name)

    def _layout_hint(self) -> str:
        return (f'image names of {self.ann_file} relative to {os.path.join("<data_root>", self.image_dir)}')

    def load_rows(self) -> List[dict]:
        """The annotation rows of this split (category filter and duplicate policy applied)."""
        path = self.ann_file  # joined to data_root by mmengine
        rows = read_triplet_rows(path, self.name, self.csv_list_sep)
        if self.categories is not None:
            rows = [r for r in rows if r['category'] in self.categories]
        keep = handle_duplicates([(r['reference'], tuple(r['targets']), tuple(r['captions'])) for r in rows],
                                 self.duplicates, name=self.name, path=path, what='rows')
        return [rows[i] for i in keep]

    def load_queries(self) -> List[dict]:
        logger = MMLogger.get_current_instance()
        rows = self.load_rows()
        queries, no_text = [], []
        for r in rows:
            texts = compose_texts(r['captions'], self.caption_mode, self.joiner)
            if not texts:
                no_text.append(r['line'])
            # evaluation: one query with every correct image; training: one query per target (each a positive)
            groups = [r['targets']] if self.is_eval else [[t] for t in r['targets']]
            for text in texts:
                for tgt in groups:
                    queries.append(dict(ref_id=r['reference'], ref_path=self.image_path(r['reference']),
                                        tgt_id=tgt[0], tgt_ids=list(tgt), tgt_path=self.image_path(tgt[0]),
                                        text=text, category=r['category'], line=r['line']))
        if no_text:
            logger.warning(f'{self.name}: dropped {len(no_text)} row(s) whose captions are all empty '
                           f'(lines {no_text[:5]})')
        gallery_ids: List[str] = []
        if self.is_eval:
            if self.gallery_file is None:
                gallery_ids = sorted({r['reference'] for r in rows} | {t for r in rows for t in r['targets']})
            else:
                path = self._root(self.gallery_file)
                gallery_ids = read_name_list(path, self.name)
                if not gallery_ids:
                    raise ValueError(f'{self.name}: the eval list (gallery_file) {path!r} is empty')
                gallery_ids = [gallery_ids[i] for i in handle_duplicates(
                    gallery_ids, 'drop' if self.duplicates == 'keep' else self.duplicates, name=self.name,
                    path=path, what='gallery names')]
        gallery_paths = [self.image_path(g) for g in gallery_ids]
        self.stats = dict(rows=len(rows), empty=len(no_text))
        queries, gallery_ids, gallery_paths = self._check_files(queries, gallery_ids, gallery_paths)
        if self.is_eval:
            self._build_gallery(queries, gallery_ids, gallery_paths)
        self.stats.update(queries=len(queries), gallery=len(self.gallery))
        msg = (f'{self.name}: {len(rows)} rows of {self.ann_file!r} -> {len(queries)} queries '
               f'(caption_mode={self.caption_mode!r})')
        if self.is_eval:
            msg += (f', gallery of {len(self.gallery)} images '
                    f'({"gallery_file" if self.gallery_file else "every referenced image"}), reference '
                    f'{"excluded" if self.exclude_reference else "kept"}')
        logger.info(msg)
        return queries

    def _build_gallery(self, queries: List[dict], gallery_ids: List[str], gallery_paths: List[str]) -> None:
        self.gallery = [dict(img_path=p, img_id=g) for g, p in zip(gallery_ids, gallery_paths)]
        index = {g: i for i, g in enumerate(gallery_ids)}
        outside = 0
        for q in queries:
            q['gt_gallery_idx'] = [index[t] for t in q['tgt_ids'] if t in index]
            outside += not q['gt_gallery_idx']
            q['ref_gallery_idx'] = index.get(q['ref_id'], -1) if self.exclude_reference else -1
        self.stats['target_outside_gallery'] = outside
        if outside:
            MMLogger.get_current_instance().warning(
                f'{self.name}: {outside} queries have no target in the gallery (never a hit; they still count in '
                'the recall denominator)')

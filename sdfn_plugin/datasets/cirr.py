"""CIRR (Liu et al., "Image Retrieval on Real-life Images with Pre-trained Vision-and-Language Models",
ICCV 2021; official annotations: Cuberick-Orion/CIRR, branch ``cirr_dataset``, MIT licence).

The protocol (gallery = the split's whole image list, reference excluded, Recall_subset over the other five
members of the query's image set) follows the paper and the test-server page of the authors' repository; the
loader is our own code.
"""
import glob
import os
from typing import Dict, List, Optional, Tuple, Union

from mmengine.logging import MMLogger

from sdfn_plugin.registry import DATASETS

from .base_cir_dataset import BaseCIRDataset, PipelineCfg
from .data_checks import ImageFileChecks, first, load_json, load_json_list, require_keys

__all__ = ['CIRRDataset', 'CIRR_VERSION', 'CIRR_SPLITS', 'CIRR_SET_SIZE']

CIRR_VERSION = 'rc2'
CIRR_SPLITS = ('train', 'val', 'test1')
#: images in every ``img_set`` (the reference and five others)
CIRR_SET_SIZE = 6


@DATASETS.register_module()
class CIRRDataset(ImageFileChecks, BaseCIRDataset):
    """CIRR queries (annotation version ``rc2``) of one split.

    Files under ``data_root`` (the official layout of Cuberick-Orion/CIRR; the folders are settings)::

        captions/cap.rc2.<split>.json          # [{"pairid", "reference", "caption", "img_set", "target_hard", ...}]
        image_splits/split.rc2.<split>.json    # {image name: "./dev/dev-244-0-img0.png", ...}
        img_raw/train/<n>/<name>.png, img_raw/dev/<name>.png, img_raw/test1/<name>.png   # the NLVR2 photos

    The split file maps every image of the split to its path relative to the
    image folder (``image_dir``, default ``img_raw``); training images sit in
    numbered sub-folders (inherited from NLVR2). ``split='val'`` reads the
    ``dev`` images, as the official files do.

    Each query keeps ``query_id`` (the ``pairid``), ``ref_id``, ``text`` (the
    stripped caption), ``tgt_id`` (``target_hard``; ``None`` on test1, whose
    targets are hidden), ``target_soft`` (the soft-target scores, when the file
    has them: 1.0, 0.5, 0.2 or -1.0 per image), ``set_id`` and ``members`` (the
    six images of the query's ``img_set``).

    **Evaluation** (``val``, ``test1``): the gallery is the split's whole image
    list in file order (2,297 images on val, 2,315 on test1); the reference is
    excluded from its own ranking (``ref_gallery_idx``); ``gt_gallery_idx`` holds
    the target's row (empty on test1); ``subset_gallery_idx`` holds the rows of
    the five set members other than the reference, in ``members`` order, which
    the retriever scores explicitly for Recall_subset
    (:class:`~sdfn_plugin.evaluation.metrics.CIRRRecall`). test1 results come
    only from the authors' server: ``tools/test.py --submission DIR`` writes its
    two files (:attr:`submission_metric`).

    Empty captions: test1 has one (pairid 27098, caption ``' '``). Its query
    must stay (the server wants every pairid), and the text encoders refuse an
    empty text, so an empty caption becomes ``empty_caption`` (default
    ``'no change'``: the reading of a modification that asks for nothing),
    logged with the pairids; ``empty_caption=None`` makes it an error.

    Bad input raises one error naming the file and the ``pairid``: a file of
    another annotation version or shape, a query without 6 ``img_set.members``,
    a reference (or, on val, a target) outside its set, a member outside the
    split, a repeated ``pairid``. Missing image files follow ``skip_missing``
    (:class:`~sdfn_plugin.datasets.data_checks.ImageFileChecks`); a query one of
    whose set members was dropped from the gallery is dropped too (its subset
    would be incomplete), and the count is logged.

    Args:
        data_root: the CIRR folder (see the layout above).
        split: ``'train'``, ``'val'`` or ``'test1'``.
        caption_dir, split_dir: annotation folders, relative to ``data_root`` unless absolute
            (CLIP4Cir's layout: ``'cirr/captions'``, ``'cirr/image_splits'``).
        image_dir: the folder the split files' relative paths start from, relative to ``data_root`` unless
            absolute (``''``: ``data_root`` itself, CLIP4Cir's layout).
        empty_caption: the text of a query whose caption is empty (``None``: an error).
        check_images, verify_images, allow_truncated, skip_missing: image-file checks as in
            :class:`~sdfn_plugin.datasets.FashionIQDataset`.
    """

    submission_metric = 'CIRRSubmission'
    exclude_reference = True  # the official protocol always removes the reference from its ranking

    def __init__(self, data_root: str, split: str = 'train', caption_dir: str = 'captions',
                 split_dir: str = 'image_splits', image_dir: str = 'img_raw',
                 empty_caption: Optional[str] = 'no change', check_images: bool = True,
                 verify_images: bool = False, allow_truncated: bool = False, skip_missing: Union[bool, str] = False,
                 pipeline: PipelineCfg = (), gallery_pipeline: Optional[PipelineCfg] = None,
                 test_mode: bool = False, lazy_init: bool = False) -> None:
        if split not in CIRR_SPLITS:
            raise ValueError(f'CIRRDataset.split must be one of {CIRR_SPLITS}, got {split!r}')
        if empty_caption is not None and (not isinstance(empty_caption, str) or not empty_caption.strip()):
            raise ValueError(f'CIRRDataset.empty_caption must be a non-blank text or None, got {empty_caption!r}')
        self.caption_dir, self.split_dir, self.image_dir = caption_dir, split_dir, image_dir
        self.empty_caption = empty_caption
        self.check_images, self.verify_images = check_images, verify_images
        self.allow_truncated, self.skip_missing = allow_truncated, skip_missing
        #: counts after loading: queries, gallery, image sets, dropped queries
        self.stats: Dict[str, int] = {}
        super().__init__(data_root=data_root, split=split, pipeline=pipeline, gallery_pipeline=gallery_pipeline,
                         test_mode=test_mode, lazy_init=lazy_init)

    # ------------------------------------------------------------------ paths
    @property
    def is_eval(self) -> bool:
        return self.split != 'train'

    @property
    def has_targets(self) -> bool:
        return self.split != 'test1'

    @property
    def name(self) -> str:
        return f'CIRR({self.split})'

    def _root(self, sub: str) -> str:
        if not sub:
            return self.data_root
        return sub if os.path.isabs(sub) else os.path.join(self.data_root, sub)

    @property
    def caption_file(self) -> str:
        return os.path.join(self._root(self.caption_dir), f'cap.{CIRR_VERSION}.{self.split}.json')

    @property
    def split_file(self) -> str:
        return os.path.join(self._root(self.split_dir), f'split.{CIRR_VERSION}.{self.split}.json')

    @property
    def query_source(self) -> str:
        return repr(self.caption_file)

    def _layout_hint(self) -> str:
        return (f'the relative paths of {os.path.basename(self.split_file)} (e.g. ./dev/<name>.png, '
                f'./train/<n>/<name>.png) under image_dir={self.image_dir!r}: {self._root(self.image_dir)!r}')

    def protocol_details(self) -> List[str]:
        return [f'version={CIRR_VERSION}', 'gallery=split image list', 'subset=5 set members (Recall_subset)']

    # ------------------------------------------------------------------ loading
    def _require_file(self, path: str, kind: str) -> None:
        """A missing rc2 file next to files of another version names them (wrong annotation version)."""
        if os.path.isfile(path):
            return
        others = sorted(glob.glob(os.path.join(os.path.dirname(path), f'{kind}.*.{self.split}.json')))
        hint = (f'; found {[os.path.basename(p) for p in others]}: this loader reads annotation version '
                f'{CIRR_VERSION!r} only (download the rc2 files of Cuberick-Orion/CIRR)') if others else ''
        raise FileNotFoundError(f'{self.name}: annotation file not found: {path!r}{hint}')

    def _load_split(self) -> Dict[str, str]:
        path = self.split_file
        self._require_file(path, 'split')
        data = load_json(path, self.name)
        if not isinstance(data, dict):
            raise ValueError(f'{self.name}: {path!r} must hold a JSON object {{image name: relative path}} '
                             f'(annotation version {CIRR_VERSION}), got a {type(data).__name__}')
        for name, rel in data.items():
            if not isinstance(rel, str) or not rel:
                raise ValueError(f'{self.name}: {path!r} key {name!r} must map to a relative image path, got {rel!r}')
        if not data:
            raise ValueError(f'{self.name}: the split file {path!r} lists no image')
        return data

    def _load_annotations(self, split_images: Dict[str, str]) -> List[dict]:
        path = self.caption_file
        self._require_file(path, 'cap')
        entries = load_json_list(path, self.name)
        keys = ('pairid', 'reference', 'caption', 'img_set') + (('target_hard', ) if self.has_targets else ())
        seen: Dict[object, int] = {}
        for i, e in enumerate(entries):
            require_keys(e, keys, path, i)
            pid = e['pairid']
            if isinstance(pid, bool) or not isinstance(pid, int):
                raise ValueError(f'{path!r}: entry {i} key "pairid" must be an integer, got {pid!r}')
            if pid in seen:
                raise ValueError(f'{path!r}: pairid {pid} appears twice (entries {seen[pid]} and {i})')
            seen[pid] = i
            if not isinstance(e['caption'], str):
                raise ValueError(f'{path!r}: pairid {pid} key "caption" must be a string, got {e["caption"]!r}')
            img_set = e['img_set']
            members = img_set.get('members') if isinstance(img_set, dict) else None
            if not isinstance(members, list) or not members:
                raise ValueError(f'{path!r}: pairid {pid} has no "img_set.members" (annotation version '
                                 f'{CIRR_VERSION} lists the {CIRR_SET_SIZE} images of every query\'s set)')
            if len(members) != CIRR_SET_SIZE or len(set(members)) != CIRR_SET_SIZE:
                raise ValueError(f'{path!r}: pairid {pid} "img_set.members" must hold {CIRR_SET_SIZE} distinct '
                                 f'images, got {members!r}')
            roles = [('reference', e['reference'])] + ([('target_hard', e['target_hard'])] if self.has_targets
                                                       else [])
            for role, img in roles:
                if img not in members:
                    raise ValueError(f'{path!r}: pairid {pid} {role} {img!r} is not among its img_set.members '
                                     f'{members!r}')
            outside = [m for m in members if m not in split_images]
            if outside:
                raise ValueError(f'{path!r}: pairid {pid} img_set member(s) {outside} are not in the split file '
                                 f'{self.split_file!r}')
            if self.has_targets and e['reference'] == e['target_hard']:
                raise ValueError(f'{path!r}: pairid {pid} has the reference {e["reference"]!r} as its target')
        return entries

    def load_queries(self) -> List[dict]:
        split_images = self._load_split()
        entries = self._load_annotations(split_images)
        image_root = self._root(self.image_dir)

        def image_path(name: str) -> str:
            return os.path.normpath(os.path.join(image_root, split_images[name]))

        empty = [e['pairid'] for e in entries if not e['caption'].strip()]
        if empty and self.empty_caption is None:
            raise ValueError(f'{self.caption_file!r}: pairid {empty[0]} has an empty caption ({len(empty)} in all); '
                             "set empty_caption='<text>' to give such queries a text")
        if empty:
            MMLogger.get_current_instance().warning(
                f'{self.name}: {len(empty)} empty caption(s), pairid {first(empty)}: their text is '
                f'{self.empty_caption!r} (empty_caption)')
        queries = []
        for e in entries:
            tgt = e.get('target_hard') if self.has_targets else None
            text = e['caption'].strip() or self.empty_caption
            q = dict(query_id=e['pairid'], ref_id=e['reference'], text=text, tgt_id=tgt,
                     ref_path=image_path(e['reference']), set_id=e['img_set'].get('id'),
                     members=list(e['img_set']['members']))
            if tgt is not None:
                q['tgt_path'] = image_path(tgt)
            if 'target_soft' in e:
                q['target_soft'] = dict(e['target_soft'])
            queries.append(q)
        gallery_ids = list(split_images) if self.is_eval else []
        queries, gallery_ids, gallery_paths = self._check_files(queries, gallery_ids,
                                                                [image_path(g) for g in gallery_ids])
        if self.is_eval:
            queries = self._build_gallery(queries, gallery_ids, gallery_paths)
        self.stats.update(annotations=len(entries), queries=len(queries), gallery=len(self.gallery),
                          image_sets=len({q['set_id'] for q in queries}))
        self._metainfo.update(gallery_ids=[g['img_id'] for g in self.gallery], ann_file=os.path.abspath(
            self.caption_file), split_file=os.path.abspath(self.split_file), version=CIRR_VERSION, split=self.split)
        MMLogger.get_current_instance().info(
            f'{self.name}: {len(entries)} annotations -> {len(queries)} queries'
            + (f', gallery of {len(self.gallery)} images in {self.stats["image_sets"]} image sets, reference '
               'excluded' if self.is_eval else ''))
        return queries

    def _query_label(self, query: dict) -> tuple:
        return ('pairid', query['query_id'])

    def _build_gallery(self, queries: List[dict], gallery_ids: List[str],
                       gallery_paths: List[str]) -> List[dict]:
        self.gallery = [dict(img_path=p, img_id=g) for g, p in zip(gallery_ids, gallery_paths)]
        index = {g: i for i, g in enumerate(gallery_ids)}
        kept: List[dict] = []
        incomplete: List[Tuple[str, int]] = []
        for q in queries:
            if any(m not in index for m in q['members']):  # only after skip_missing dropped a member's image
                incomplete.append(('pairid', q['query_id']))
                continue
            q['ref_gallery_idx'] = index[q['ref_id']]
            q['gt_gallery_idx'] = [index[q['tgt_id']]] if q['tgt_id'] is not None else []
            q['subset_gallery_idx'] = [index[m] for m in q['members'] if m != q['ref_id']]
            kept.append(q)
        if incomplete:
            MMLogger.get_current_instance().warning(
                f'{self.name}: skip_missing dropped {len(incomplete)} of {len(queries)} queries whose image set '
                f'lost a member (Recall_subset needs all {CIRR_SET_SIZE}); first: {first(incomplete)}')
        self.stats['dropped_incomplete_sets'] = len(incomplete)
        if queries and not kept:
            raise ValueError(f'{self.name}: no queries left in {self.query_source}: skip_missing dropped the images '
                             f'of a member of every image set (first: {first(incomplete)})')
        return kept

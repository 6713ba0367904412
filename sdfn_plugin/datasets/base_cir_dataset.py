"""Query datasets with an attached gallery, on top of mmengine's BaseDataset."""
import copy
import os
import random
from abc import abstractmethod
from typing import Callable, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from sdfn_plugin.registry import DATASETS

PipelineCfg = Sequence[Union[dict, Callable]]

#: how several captions of one annotation become query texts (``caption_mode``)
CAPTION_MODES = ('concat_one', 'concat_both', 'single')

_DEFAULT_GALLERY_PIPELINE = [dict(type='sdfn_plugin.LoadCIRImages', keys=('img',)),
                             dict(type='sdfn_plugin.PackCIRInputs')]


@DATASETS.register_module()
class CIRGalleryDataset(BaseDataset):
    """Gallery images (``img_path``, ``img_id``) encoded once per evaluation."""

    def __init__(self, items: List[dict], pipeline: PipelineCfg = (), **kwargs) -> None:
        self._items = items
        super().__init__(pipeline=list(pipeline), test_mode=True, serialize_data=False, **kwargs)

    def load_data_list(self) -> List[dict]:
        for i, item in enumerate(self._items):
            if 'img_path' not in item:
                raise KeyError(f'gallery item {i} has no img_path (keys: {sorted(item)})')
        return self._items

    def gallery_keys(self) -> List[str]:
        """One key per item for a gallery index: the absolute image path (as for an index built
        from a folder with ``ImageListDataset``, so rankings of both name images alike)."""
        return [os.path.abspath(item['img_path']) for item in self._items]


def compose_texts(captions: Sequence[str], mode: str, joiner: str) -> List[str]:
    """Query texts of one annotation's (stripped) captions under ``caption_mode``.

    ``'concat_one'``: one text, the non-empty captions joined by ``joiner``
    (AMC/SDFN on FashionIQ); ``'concat_both'``: that text and the one of the
    reversed order (CoSMo, ARTEMIS); ``'single'``: one text per non-empty
    caption (VAL). Empty captions never leave a dangling joiner; no text at all
    when every caption is empty.
    """
    kept = [c for c in captions if c]
    if mode == 'single' or not kept:
        return kept
    one = joiner.join(kept)
    return [one] if mode == 'concat_one' else [one, joiner.join(kept[::-1])]


class BaseCIRDataset(BaseDataset):
    """A split of (reference, text, target) queries plus, for evaluation, its gallery.

    Subclasses implement :meth:`load_queries` returning dicts with ``ref_path``,
    ``ref_id``, ``text``, ``tgt_id`` and, for training, ``tgt_path``; evaluation
    splits also fill ``self.gallery`` (list of ``{'img_path', 'img_id'}``) and
    give each query ``gt_gallery_idx`` (all correct gallery indices) and
    ``ref_gallery_idx`` (-1 if the reference is not in the gallery).

    Args:
        split: dataset split name (validated by the subclass).
        pipeline: query pipeline, ending with ``PackCIRInputs``.
        gallery_pipeline: pipeline for gallery images (loads ``img``).
        ann_file: the annotation file, for loaders with one (mmengine joins it
            to ``data_root`` unless absolute).

    Datasets whose test split is scored by an evaluation server set
    :attr:`submission_metric`; ``tools/test.py --submission DIR`` then adds that
    metric to the test evaluator. Their queries carry ``query_id`` (the
    server's id) and their ``metainfo`` holds ``gallery_ids`` (gallery order)
    and ``ann_file`` (the annotation file the validator re-reads).
    """

    #: METRICS type writing this dataset's evaluation-server file(s) (``None``: no server format)
    submission_metric: Optional[str] = None

    def __init__(self, data_root: str, split: str, pipeline: PipelineCfg = (),
                 gallery_pipeline: Optional[PipelineCfg] = None, test_mode: bool = False,
                 lazy_init: bool = False, ann_file: str = '') -> None:
        self.split = split
        self.gallery: List[dict] = []
        self.gallery_pipeline = list(gallery_pipeline) if gallery_pipeline is not None else \
            copy.deepcopy(_DEFAULT_GALLERY_PIPELINE)
        super().__init__(ann_file=ann_file, data_root=data_root, pipeline=list(pipeline), test_mode=test_mode,
                         lazy_init=lazy_init)

    @abstractmethod
    def load_queries(self) -> List[dict]:
        """Parse annotations into query dicts (and ``self.gallery`` for evaluation splits)."""

    @property
    def query_source(self) -> str:
        """Where the queries come from, for error messages (subclasses name their annotation files)."""
        return repr(self.data_root)

    def load_data_list(self) -> List[dict]:
        queries = self.load_queries()
        if not queries:
            raise ValueError(f'{type(self).__name__}(split={self.split!r}): no queries in {self.query_source}; '
                             'check the annotation file and the split settings')
        if 'gt_gallery_idx' in queries[0] and not self.gallery:
            raise ValueError(f'{type(self).__name__}(split={self.split!r}): the evaluation gallery is empty '
                             f'({self.query_source}); check the eval list')
        for i, q in enumerate(queries):
            text = q.get('text')
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f'{type(self).__name__}({self.split}): query {i} '
                                 f'(ref {q.get("ref_id")!r}) has an empty text {text!r}')
        MMLogger.get_current_instance().info(
            f'{type(self).__name__} split={self.split!r}: {len(queries)} queries'
            + (f', gallery of {len(self.gallery)} images' if self.gallery else ''))
        return queries

    def protocol_details(self) -> List[str]:
        """Protocol switches of this dataset as ``'key=value'`` strings (pair construction,
        image list, caption mode...); subclasses extend it."""
        return []

    def protocol_summary(self, model_excludes_reference: bool = True) -> str:
        """The one line logged with every evaluation: dataset, split, protocol switches,
        gallery size, query count and reference exclusion.

        Args:
            model_excludes_reference: the evaluated model's ``exclude_reference``;
                the reference is excluded only when both the dataset (it gives
                ``ref_gallery_idx``) and the model ask for it.
        """
        self.full_init()
        excluded = bool(getattr(self, 'exclude_reference', True)) and model_excludes_reference
        parts = [f'{type(self).__name__}(split={self.split!r})'] + self.protocol_details() + [
            f'gallery {len(self.gallery)} images', f'{len(self)} queries',
            'reference excluded' if excluded else 'reference kept']
        return 'evaluation protocol: ' + ', '.join(parts)

    def prepare_data(self, idx: int):
        """The query through the pipeline; a query with ``text_choices`` gets one of them
        drawn uniformly at every access (python ``random``, seeded per worker by mmengine)."""
        info = self.get_data_info(idx)
        choices = info.pop('text_choices', None)
        if choices:
            info['text'] = random.choice(choices)
        return self.pipeline(info)

    def texts(self) -> List[str]:
        """All modification texts of this split (vocabulary building)."""
        self.full_init()
        return [self.get_data_info(i)['text'] for i in range(len(self))]

    def gallery_dataset(self) -> CIRGalleryDataset:
        """The gallery as a dataset, in gallery-index order."""
        self.full_init()
        if not self.gallery:
            raise RuntimeError(f'{type(self).__name__}(split={self.split!r}) has no gallery; '
                               'evaluate on an evaluation split')
        return CIRGalleryDataset(self.gallery, pipeline=self.gallery_pipeline)

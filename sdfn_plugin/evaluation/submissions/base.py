"""Shared parts of the evaluation-server submission writers (``tools/test.py --submission DIR``).

A dataset whose test split is scored only by its authors' server names, in its class attribute
``BaseCIRDataset.submission_metric``, the metric that writes the server's file(s); ``tools/test.py``
appends that metric to the test evaluator. Such a metric is a :class:`SubmissionMetric`: it collects each
query's id (``query_id`` in the data sample's metainfo) and ranking, writes the file(s) on rank 0 through
:func:`write_json_atomic`, then runs the dataset's validator on what it wrote, so an invalid file fails
the run with a :class:`SubmissionError` naming the file and the offending query.
"""
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from sdfn_plugin.utils.json_file import write_json_atomic

from ..metrics.recall import _field

__all__ = ['SubmissionError', 'SubmissionMetric', 'write_json_atomic', 'load_json_file', 'check_file_size']


class SubmissionError(ValueError):
    """A submission file that the evaluation server would reject; the message names the file and the key."""


def load_json_file(path: str, what: str, unique_keys: bool = False) -> Any:
    """Parse a JSON file for a validator; a missing or malformed file is a :class:`SubmissionError`.

    ``unique_keys``: a key given twice in one object is an error too (``json`` would silently keep the
    last one, so a submission could drop a query's first ranking unnoticed)."""
    if not osp.isfile(path):
        raise SubmissionError(f'{what} {path!r} does not exist')

    def no_repeated_keys(pairs):
        keys = [key for key, _ in pairs]
        twice = next((key for i, key in enumerate(keys) if key in keys[:i]), None)
        if twice is not None:
            raise SubmissionError(f'{what} {path!r}: key {twice!r} appears twice')
        return dict(pairs)

    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f, object_pairs_hook=no_repeated_keys if unique_keys else None)
    except SubmissionError:
        raise
    except (ValueError, UnicodeDecodeError) as err:
        raise SubmissionError(f'{what} {path!r} is not valid JSON: {err}') from None


def check_file_size(path: str, max_bytes: int) -> None:
    """Evaluation servers cap the upload size (CIRR: 5 MB)."""
    size = osp.getsize(path)
    if size >= max_bytes:
        raise SubmissionError(f'submission file {path!r} is {size} bytes; the server accepts files under '
                              f'{max_bytes} bytes')


class SubmissionMetric(BaseMetric):
    """Base of the metrics that write evaluation-server files; reports no metric value.

    :meth:`process` keeps, per query, ``query_id`` (from the data sample's metainfo, as packed by
    ``PackCIRInputs``), ``sample_idx``, ``ref_gallery_idx`` (``-1``: none) and the prediction fields
    named by :attr:`pred_fields` (gallery rows, best first, as int lists). :meth:`compute_metrics` (rank 0, after results from all ranks are
    gathered) sorts by ``sample_idx``, refuses a query id given twice or missing, then calls
    :meth:`write` and :meth:`validate` with the paths written. Subclasses read the gallery's ids
    (``gallery_ids``) and the annotation file (``ann_file``) from ``self.dataset_meta``, which mmengine
    fills from the dataset's ``metainfo``.

    Args:
        out_dir: folder for the submission file(s) (created when missing).
    """

    #: prediction fields kept per query (lists of gallery rows)
    pred_fields: Sequence[str] = ('pred_topk', )
    #: how many entries of each field to keep (``None``: all)
    pred_lengths: Dict[str, int] = {}

    def __init__(self, out_dir: str, collect_device: str = 'cpu', prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if not isinstance(out_dir, str) or not out_dir:
            raise ValueError(f'{type(self).__name__}.out_dir must be a non-empty folder path, got {out_dir!r}')
        self.out_dir = out_dir

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        inputs = (data_batch or {}).get('data_samples') or [None] * len(data_samples)
        for query, pred in zip(inputs, data_samples):
            meta = query.metainfo if query is not None else {}
            query_id = meta.get('query_id', _field(pred, 'query_id', None))
            if query_id is None:
                raise KeyError(f'{type(self).__name__}: a query has no query_id in its data sample; the dataset '
                               "must give one and PackCIRInputs must keep it (meta_keys include 'query_id')")
            entry = {'query_id': query_id, 'sample_idx': _field(pred, 'sample_idx', meta.get('sample_idx')),
                     'ref_gallery_idx': int(meta.get('ref_gallery_idx', -1))}
            for key in self.pred_fields:
                value = _field(pred, key)
                value = value.tolist() if hasattr(value, 'tolist') else list(value)
                entry[key] = [int(v) for v in value][:self.pred_lengths.get(key)]
            self.results.append(entry)

    def compute_metrics(self, results: List[dict]) -> dict:
        if not results:
            raise SubmissionError(f'{type(self).__name__}: no query was evaluated, nothing to submit')
        results = sorted(results, key=lambda r: (r['sample_idx'] is None, r['sample_idx']))
        seen = set()
        for r in results:
            if r['query_id'] in seen:
                raise SubmissionError(f'{type(self).__name__}: query id {r["query_id"]!r} was evaluated twice '
                                      '(a query repeated in the dataset or a sampler that pads)')
            seen.add(r['query_id'])
        meta = self.dataset_meta or {}
        for key in ('gallery_ids', 'ann_file'):
            if key not in meta:
                raise KeyError(f'{type(self).__name__}: the dataset metainfo has no {key!r}; datasets with a '
                               'submission format expose gallery_ids and ann_file in metainfo')
        paths = self.write(results, meta)
        self.validate(paths, meta)
        logger = MMLogger.get_current_instance()
        for path in paths:
            logger.info(f'{type(self).__name__}: {len(results)} queries written to {path} (validated)')
        return {}

    def write(self, results: List[dict], meta: dict) -> List[str]:
        """Write the file(s) from the sorted per-query ``results``; return their paths."""
        raise NotImplementedError

    def validate(self, paths: List[str], meta: dict) -> None:
        """Run the dataset's validator on the written ``paths`` (raises :class:`SubmissionError`)."""
        raise NotImplementedError

    def gallery_names(self, rows: Sequence[int], meta: dict, exclude: int = -1) -> List[Any]:
        """Gallery ids of gallery rows (``meta['gallery_ids']``, in gallery order), without the row
        ``exclude`` (the reference: a retriever asked for at least the whole gallery returns it last)."""
        ids = meta['gallery_ids']
        rows = [r for r in rows if r != exclude]
        bad = [r for r in rows if not 0 <= r < len(ids)]
        if bad:
            raise SubmissionError(f'{type(self).__name__}: gallery row {bad[0]} outside the gallery of '
                                  f'{len(ids)} items')
        return [ids[r] for r in rows]

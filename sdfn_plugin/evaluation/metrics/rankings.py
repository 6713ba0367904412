"""Each query's ranking as JSON next to the metrics (``tools/test.py --out rankings.json``)."""
from typing import Any, List, Optional, Sequence

from mmengine.evaluator import BaseMetric

from sdfn_plugin.registry import METRICS
from sdfn_plugin.utils.json_file import write_json_atomic

from .recall import _field

__all__ = ['DumpRankings']


@METRICS.register_module()
class DumpRankings(BaseMetric):
    """Writes every query's top-K gallery keys and scores to ``out_file``; reports no metric.

    One JSON object ``{"topk": K, "queries": [...]}`` with, per query in dataset
    order, ``sample_idx``, ``ref_id``, ``text``, ``tgt_id`` (when the dataset has
    them), ``keys`` (the gallery keys, best first: image paths) and ``scores``.
    Reads the retriever's ``pred_keys`` and ``pred_scores``; written by rank 0
    after the results of all ranks are collected, atomically (a temporary file, then a rename).

    Args:
        out_file: the JSON file.
        topk: how many results per query (``None``: all the model returns).
    """

    default_prefix: Optional[str] = 'rankings'

    def __init__(self, out_file: str, topk: Optional[int] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if topk is not None and (isinstance(topk, bool) or not isinstance(topk, int) or topk < 1):
            raise ValueError(f'DumpRankings.topk must be a positive int or None, got {topk!r}')
        self.out_file, self.topk = out_file, topk

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        inputs = (data_batch or {}).get('data_samples') or [None] * len(data_samples)
        for query, pred in zip(inputs, data_samples):
            meta = query.metainfo if query is not None else {}
            entry = {'sample_idx': _field(pred, 'sample_idx', meta.get('sample_idx'))}
            for key in ('ref_id', 'text', 'tgt_id'):
                if key in meta:
                    entry[key] = meta[key]
            keys, scores = list(_field(pred, 'pred_keys')), [float(s) for s in _field(pred, 'pred_scores')]
            entry['keys'], entry['scores'] = keys[:self.topk], scores[:self.topk]
            self.results.append(entry)

    def compute_metrics(self, results: List[dict]) -> dict:
        results = sorted(results, key=lambda r: (r['sample_idx'] is None, r['sample_idx']))
        write_json_atomic(self.out_file, {'topk': self.topk, 'queries': results}, indent=1)
        print(f'rankings of {len(results)} queries written to {self.out_file}')
        return {}

"""CIRR's recall metrics (Liu et al., ICCV 2021): Recall@K over the gallery, Recall_subset@K over the query's
image set, and their headline mean."""
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from sdfn_plugin.registry import METRICS

from .recall import RecallAtK, _check_topk, _field, _to_index_list

__all__ = ['CIRRRecall']


def _padded(rows: List[torch.Tensor]) -> torch.Tensor:
    """Ragged rankings as one ``(Q, max length)`` tensor, ``-1`` (never a hit) in the padding."""
    width = max((r.numel() for r in rows), default=0)
    out = torch.full((len(rows), max(width, 1)), -1, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :r.numel()] = r
    return out


@METRICS.register_module()
class CIRRRecall(BaseMetric):
    """CIRR's official figures, in percent: ``R@K`` (``topk``), ``Rsubset@K`` (``subset_topk``) and
    ``avg`` = (R@5 + Rsubset@1) / 2, the paper's headline number.

    ``R@K``: the target among the first K of the whole gallery ranking (``pred_topk``; the reference
    is excluded by the retriever), computed by :meth:`RecallAtK.calculate`. ``Rsubset@K``: the target
    among the first K of ``subset_idx``, the retriever's ranking of the five other members of the
    query's image set, scored explicitly (never a filter of ``pred_topk``: a member ranked outside
    the global top-50 would be lost, which undercounts). A K larger than the subset counts the whole
    subset. Several correct items (``gt_gallery_idx``): any of them is a hit.

    On test1 no query has a ground truth (targets are hidden; results come from the server, see
    ``tools/test.py --submission``): the metric then logs so and reports nothing.

    Args:
        topk: K values of Recall@K (must include 5 for ``avg``).
        subset_topk: K values of Recall_subset@K (must include 1 for ``avg``).
        prefix: metric-name prefix (default ``'cirr'``: ``cirr/R@5``, ``cirr/Rsubset@1``, ``cirr/avg``).
    """

    default_prefix: Optional[str] = 'cirr'

    def __init__(self, topk: Sequence[int] = (1, 5, 10, 50), subset_topk: Sequence[int] = (1, 2, 3),
                 collect_device: str = 'cpu', prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.topk, self.subset_topk = _check_topk(topk), _check_topk(subset_topk)
        if 5 not in self.topk or 1 not in self.subset_topk:
            raise ValueError(f'CIRRRecall: avg = (R@5 + Rsubset@1) / 2 needs 5 in topk and 1 in subset_topk, got '
                             f'topk={self.topk}, subset_topk={self.subset_topk}')

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            if _field(sample, 'subset_idx', None) is None:
                raise KeyError('CIRRRecall: a prediction has no subset_idx; the dataset must give '
                               'subset_gallery_idx (CIRRDataset does) and the retriever scores it in predict')
            self.results.append(dict(
                pred_topk=torch.as_tensor(_field(sample, 'pred_topk'))[:max(self.topk)].long().cpu().clone(),
                subset_idx=torch.as_tensor(_field(sample, 'subset_idx')).long().cpu().clone(),
                gt_gallery_idx=_to_index_list(_field(sample, 'gt_gallery_idx'), 'gt_gallery_idx')))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if not results:
            raise ValueError('CIRRRecall received no results; did the test loop run any batch?')
        logger = MMLogger.get_current_instance()
        positives = [r['gt_gallery_idx'] for r in results]
        if not any(positives):
            logger.warning(f'CIRRRecall: none of the {len(results)} queries has a ground truth (test1: targets '
                           'are hidden); no recall reported. Submit with tools/test.py --submission DIR')
            return {}
        return self.calculate([r['pred_topk'] for r in results], [r['subset_idx'] for r in results], positives,
                              self.topk, self.subset_topk)

    @staticmethod
    def calculate(global_rankings: Sequence[torch.Tensor], subset_rankings: Sequence[torch.Tensor],
                  positives: Sequence[Sequence[int]], topk: Sequence[int] = (1, 5, 10, 50),
                  subset_topk: Sequence[int] = (1, 2, 3)) -> Dict[str, float]:
        """The metrics from ranked gallery rows (no Runner needed): one global and one subset ranking per
        query (best first, any lengths) and its correct rows."""
        out = RecallAtK.calculate(_padded([torch.as_tensor(r).long() for r in global_rankings]), positives, topk)
        subset = RecallAtK.calculate(_padded([torch.as_tensor(r).long() for r in subset_rankings]), positives,
                                     subset_topk)
        out.update({f'Rsubset@{k}': v for k, v in ((k[2:], v) for k, v in subset.items())})
        if 'R@5' in out and 'Rsubset@1' in out:
            out['avg'] = (out['R@5'] + out['Rsubset@1']) / 2
        return out

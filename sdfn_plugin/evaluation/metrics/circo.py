"""CIRCO's metrics: mAP@K over all ground truths and Recall@K of the annotated target."""
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from sdfn_plugin.registry import METRICS

from .recall import _check_topk, _field, _to_index_list

__all__ = ['CIRCOmAP']


@METRICS.register_module()
class CIRCOmAP(BaseMetric):
    """mAP@K and Recall@K of CIRCO (Baldrati et al., ICCV 2023), in percent.

    For a query with ground-truth set ``G`` and ranking ``p_1, p_2, ...`` (best
    first; duplicates are refused), with ``rel_i = [p_i in G]``::

        AP@K = sum_{i <= K} rel_i * (sum_{j <= i} rel_j) / i  /  min(|G|, K)
        R@K  = [target in p_1..p_K]

    and mAP@K / R@K are their means over the queries. This is the official
    evaluation (miccunifi/CIRCO ``src/evaluation.py`` ``compute_metrics``: the
    normaliser is ``min(len(gt_img_ids), rank)``; Recall@K counts only
    ``target_img_id``, the image the caption was written for). A ranking
    shorter than K (a gallery smaller than K) contributes the ranks it has.

    Each prediction carries ``pred_topk`` (gallery rows) and ``gt_gallery_idx``
    (the rows of ``gt_img_ids``; :class:`~sdfn_plugin.datasets.CIRCODataset`
    fills them); the target's row ``tgt_gallery_idx`` (-1 if not in the gallery:
    never a hit) is read from the prediction or, as the retriever does not copy
    it, from the query's data sample (``PackCIRInputs`` keeps it). The test
    split has no ground truth: then no metric is returned (one warning; the
    evaluation server scores it, ``tools/test.py --submission DIR``); a mix of
    queries with and without ground truth is an error.

    Metric names with the default prefix: ``circo/mAP@5``, ``circo/mAP@10``,
    ``circo/mAP@25``, ``circo/mAP@50``, ``circo/R@5`` ... ``circo/R@50``.

    Args:
        topk: the K values (mAP@K and R@K alike).
        collect_device, prefix, collect_dir: as for mmengine's ``BaseMetric``.
    """

    default_prefix: Optional[str] = 'circo'

    def __init__(self, topk: Sequence[int] = (5, 10, 25, 50), collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.topk = _check_topk(topk)
        self.max_k = max(self.topk)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        inputs = (data_batch or {}).get('data_samples') or [None] * len(data_samples)
        for query, pred in zip(inputs, data_samples):
            meta = query.metainfo if query is not None else {}
            ranked = torch.as_tensor(_field(pred, 'pred_topk'))
            if ranked.dim() != 1 or ranked.dtype.is_floating_point or ranked.dtype == torch.bool:
                raise ValueError(f'CIRCOmAP: pred_topk must be a 1-D tensor of gallery rows, got shape '
                                 f'{tuple(ranked.shape)} and dtype {ranked.dtype}')
            target = _field(pred, 'tgt_gallery_idx', meta.get('tgt_gallery_idx'))
            if target is None:
                raise KeyError('CIRCOmAP: a query has no tgt_gallery_idx (the row of its target_img_id); '
                               "CIRCODataset gives it and PackCIRInputs must keep it in meta_keys")
            self.results.append(dict(
                pred_topk=ranked[:self.max_k].tolist(),
                gt_gallery_idx=_to_index_list(_field(pred, 'gt_gallery_idx'), 'gt_gallery_idx'),
                tgt_gallery_idx=int(target), query_id=meta.get('query_id', _field(pred, 'query_id', None))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if not results:
            raise ValueError('CIRCOmAP received no results; did the val/test loop run any batch?')
        no_gt = [r['query_id'] for r in results if not r['gt_gallery_idx']]
        if len(no_gt) == len(results):
            # the test split: its ground truth is hidden, so the server scores it (--submission)
            MMLogger.get_current_instance().warning(
                f'CIRCOmAP: none of the {len(results)} queries has a ground truth (the CIRCO test split): no '
                "metric; the evaluation server scores this split (tools/test.py --submission DIR)")
            return {}
        if no_gt:
            raise ValueError(f'CIRCOmAP: {len(no_gt)} of {len(results)} queries have no ground truth (first query '
                             f'ids: {no_gt[:5]}); every query of the val split has at least one')
        metrics = self.calculate([r['pred_topk'] for r in results], [r['gt_gallery_idx'] for r in results],
                                 [r['tgt_gallery_idx'] for r in results], self.topk)
        MMLogger.get_current_instance().info(f'CIRCOmAP: {len(results)} queries')
        return metrics

    @staticmethod
    def calculate(rankings: Sequence[Sequence[int]], gts: Sequence[Sequence[int]], targets: Sequence[int],
                  topk: Sequence[int] = (5, 10, 25, 50)) -> Dict[str, float]:
        """``{'mAP@K': percent, ..., 'R@K': percent, ...}`` from rankings (no Runner needed).

        Args:
            rankings: per query, gallery rows best first (any length; no repeats).
            gts: per query, its ground-truth rows (non-empty).
            targets: per query, the target's row (-1: not in the gallery).
            topk: the K values.

        Example:
            Ground truths {1, 2, 3}: hits at ranks 1 and 3 give AP@5 = (1/1 + 2/3) / 3;
            one ground truth {5} found at rank 2 gives AP@5 = (1/2) / 1:

            >>> out = CIRCOmAP.calculate([[1, 0, 3, 4, 6], [0, 5, 9]], [[1, 2, 3], [5]], [3, 5], topk=(1, 5))
            >>> {k: round(v, 4) for k, v in out.items()}
            {'mAP@1': 50.0, 'mAP@5': 52.7778, 'R@1': 0.0, 'R@5': 100.0}
        """
        topk = _check_topk(topk)
        if not len(rankings) == len(gts) == len(targets):
            raise ValueError(f'CIRCOmAP: {len(rankings)} rankings, {len(gts)} ground-truth sets and {len(targets)} '
                             'targets; one of each per query')
        if not rankings:
            raise ValueError('CIRCOmAP: cannot average over zero queries')
        ap = {k: 0.0 for k in topk}
        recall = {k: 0 for k in topk}
        for i, (ranked, gt, target) in enumerate(zip(rankings, gts, targets)):
            ranked = [int(r) for r in ranked]
            if len(set(ranked)) != len(ranked):
                raise ValueError(f'CIRCOmAP: query {i} ranks a gallery row twice ({ranked[:10]}...); '
                                 'the official evaluation refuses duplicate predictions')
            gt = set(int(g) for g in gt)
            if not gt:
                raise ValueError(f'CIRCOmAP: query {i} has no ground truth')
            hits, precision_sum = 0, []  # precision_sum[i] = sum of precision@j over the hits j <= i
            total = 0.0
            for rank, row in enumerate(ranked, start=1):
                if row in gt:
                    hits += 1
                    total += hits / rank
                precision_sum.append(total)
            for k in topk:
                upto = min(k, len(ranked))
                ap[k] += (precision_sum[upto - 1] if upto else 0.0) / min(len(gt), k)
                recall[k] += int(target >= 0 and target in ranked[:k])
        n = len(rankings)
        out = {f'mAP@{k}': 100.0 * ap[k] / n for k in topk}
        out.update({f'R@{k}': 100.0 * recall[k] / n for k in topk})
        return out

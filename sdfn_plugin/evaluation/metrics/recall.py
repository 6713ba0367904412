"""Recall@K for composed image retrieval."""
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement
from torch import Tensor

from sdfn_plugin.registry import METRICS

__all__ = ['RecallAtK']

_MISSING = object()


def _check_topk(topk: Sequence[int]) -> tuple:
    if isinstance(topk, int) and not isinstance(topk, bool):
        topk = (topk, )
    try:
        topk = tuple(topk)
    except TypeError:
        raise TypeError(f'topk must be a sequence of positive ints, got {topk!r}') from None
    if len(topk) == 0:
        raise ValueError('topk must contain at least one value')
    for k in topk:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f'topk must contain positive ints, got {topk!r}')
    return topk


def _field(sample: Any, key: str, default: Any = _MISSING) -> Any:
    """Read ``key`` from a prediction given as a dict or a ``BaseDataElement``."""
    if isinstance(sample, Mapping):
        if key in sample:
            return sample[key]
    elif isinstance(sample, BaseDataElement):
        if key in sample:  # data or metainfo field
            return getattr(sample, key)
    else:
        raise TypeError('each prediction must be a dict or a BaseDataElement, '
                        f'got {type(sample).__name__}')
    if default is _MISSING:
        raise KeyError(f'prediction has no {key!r} field; RecallAtK needs pred_topk and gt_gallery_idx')
    return default


def _to_index_list(value: Any, name: str) -> List[int]:
    if isinstance(value, Tensor):
        value = value.detach().cpu().reshape(-1).tolist()
    elif isinstance(value, int):
        value = [value]
    out = [int(v) for v in value]
    if any(v < 0 for v in out):
        raise ValueError(f'{name} must hold non-negative gallery indices, got {out}')
    return out


@METRICS.register_module()
class RecallAtK(BaseMetric):
    """Recall@K (percent): share of queries with a correct item in their top K.

    Every prediction (one per query, as returned by the retriever's
    ``predict``) is a dict or a ``BaseDataElement`` with:

    * ``pred_topk``: 1-D integer tensor of gallery indices, best first, of
      length ``>= max(topk)`` unless the gallery is smaller (then the whole
      ranking counts for every larger K).
    * ``gt_gallery_idx``: list of gallery indices that count as correct (any
      of them is a hit). An empty list means the query can never be a hit; it
      still counts in the denominator.
    * ``category`` (optional, default ``''``): sub-split name.

    Returns ``R@K`` for every K. When more than one distinct category is
    present, also ``<category>/R@K`` and ``mean/R@K`` (unweighted mean over the
    categories, the FashionIQ protocol). All values are percentages.

    Protocol-level summary (``summary=True``): also ``mean`` = the unweighted
    mean of the ``R@K`` values (SDFN's Shoes / Fashion200K tables report
    R@1, R@10, R@50 and their mean) and, with several categories,
    ``<category>/mean``. With ``prefix='shoes'`` the logged names read
    ``shoes/R@1``, ``shoes/R@10``, ``shoes/R@50``, ``shoes/mean``; FashionIQ
    uses one metric per category (``prefix='dress'``, ``topk=(10, 50)``) and
    :class:`~sdfn_plugin.engine.loops.MultiValLoop` adds ``avg/R@10``,
    ``avg/R@50`` and ``avg`` across them.

    Args:
        topk: the K values (positive ints).
        summary: add the ``mean`` key(s) described above.
        collect_device: device used to gather results across ranks.
        prefix: metric-name prefix; defaults to ``'retrieval'``.
        collect_dir: shared directory for ``collect_device='cpu'`` gathering
            (mmengine's default creates ``.dist_test`` in the working dir).
    """

    default_prefix: Optional[str] = 'retrieval'

    def __init__(self,
                 topk: Sequence[int] = (1, 10, 50),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None,
                 summary: bool = False) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.topk = _check_topk(topk)
        self.max_k = max(self.topk)
        self.summary = bool(summary)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store one small CPU entry per prediction (first ``max(topk)`` ids)."""
        for sample in data_samples:
            pred = torch.as_tensor(_field(sample, 'pred_topk'))
            if pred.dim() != 1:
                raise ValueError(f'pred_topk must be 1-D, got shape {tuple(pred.shape)}')
            if pred.dtype.is_floating_point or pred.dtype == torch.bool:
                raise TypeError(f'pred_topk must hold integer gallery indices, got {pred.dtype}')
            # clone: a slice would keep (and pickle) the whole original storage
            pred = pred[:self.max_k].detach().to('cpu', torch.long).clone()
            self.results.append(
                dict(
                    pred_topk=pred,
                    gt_gallery_idx=_to_index_list(_field(sample, 'gt_gallery_idx'), 'gt_gallery_idx'),
                    category=str(_field(sample, 'category', '') or '')))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if len(results) == 0:
            raise ValueError('RecallAtK received no results; did the val/test loop run any batch?')
        preds = [r['pred_topk'].reshape(-1).long() for r in results]
        width = max(p.numel() for p in preds)
        topk_indices = torch.full((len(preds), width), -1, dtype=torch.long)
        for row, p in enumerate(preds):  # rows may differ in length; -1 is never a hit
            topk_indices[row, :p.numel()] = p
        positives = [r['gt_gallery_idx'] for r in results]
        categories = [r.get('category', '') for r in results]

        logger = MMLogger.get_current_instance()
        metrics = self.calculate(topk_indices, positives, self.topk)
        if self.summary:
            metrics['mean'] = self._mean(metrics)
        names = sorted(set(categories))
        if len(names) <= 1:
            logger.info(f'RecallAtK: {len(results)} queries')
            return metrics

        per_cat = {}
        counts = []
        for name in names:
            rows = [i for i, c in enumerate(categories) if c == name]
            counts.append(f'{name}={len(rows)}')
            per_cat[name] = self.calculate(topk_indices[rows], [positives[i] for i in rows], self.topk)
            for key, value in per_cat[name].items():
                metrics[f'{name}/{key}'] = value
            if self.summary:
                metrics[f'{name}/mean'] = self._mean(per_cat[name])
        for key in list(per_cat[names[0]]):
            metrics[f'mean/{key}'] = sum(per_cat[n][key] for n in names) / len(names)
        logger.info(f'RecallAtK: {len(results)} queries ({", ".join(counts)})')
        return metrics

    def _mean(self, values: Dict[str, float]) -> float:
        return sum(values[f'R@{k}'] for k in self.topk) / len(self.topk)

    @staticmethod
    def calculate(topk_indices: Tensor, positives: Sequence[Sequence[int]],
                  topk: Sequence[int]) -> Dict[str, float]:
        """Recall@K in percent from ranked gallery indices (no Runner needed).

        Args:
            topk_indices: ``(Q, K')`` integer tensor, row ``i`` the ranked
                gallery indices of query ``i`` (best first). Negative entries
                are padding and never a hit. When ``K' < K`` (gallery smaller
                than K) the whole row counts for R@K.
            positives: ``Q`` sequences of correct gallery indices (possibly
                several, possibly none).
            topk: the K values.

        Returns:
            ``{'R@K': percent}`` for every K in ``topk``.

        Example:
            Query 0 finds its positive at rank 3, query 1 one of its two
            positives at rank 2, query 2 has no positive, query 3 hits at rank 1:

            >>> import torch
            >>> ranked = torch.tensor([[3, 2, 1], [0, 2, 1], [2, 0, 3], [1, 0, 2]])
            >>> RecallAtK.calculate(ranked, [[1], [5, 2], [], [1]], topk=(1, 2, 3, 10))
            {'R@1': 25.0, 'R@2': 50.0, 'R@3': 75.0, 'R@10': 75.0}
        """
        topk = _check_topk(topk)
        topk_indices = torch.as_tensor(topk_indices).detach().cpu()
        if topk_indices.dim() != 2:
            raise ValueError(f'topk_indices must be (Q, K\'), got shape {tuple(topk_indices.shape)}')
        topk_indices = topk_indices.long()
        num_queries, width = topk_indices.shape
        if len(positives) != num_queries:
            raise ValueError(f'got {len(positives)} positive sets for {num_queries} ranked queries')
        if num_queries == 0:
            raise ValueError('cannot compute recall over zero queries')

        pos_lists = [_to_index_list(p, 'positives') for p in positives]
        lengths = torch.tensor([len(p) for p in pos_lists], dtype=torch.long)
        flat_pos = torch.tensor([v for p in pos_lists for v in p], dtype=torch.long)
        # Row-wise membership in one vectorised call: encode (query, index)
        # pairs as query * M + index with M larger than any index.
        span = 1 + max(int(topk_indices.max()) if width else 0,
                       int(flat_pos.max()) if flat_pos.numel() else 0)
        rows = torch.arange(num_queries, dtype=torch.long)
        pos_codes = torch.repeat_interleave(rows, lengths) * span + flat_pos
        ranked_codes = rows.unsqueeze(1) * span + topk_indices
        hits = torch.isin(ranked_codes, pos_codes) & (topk_indices >= 0)  # (Q, K')

        # first_hit[i] = 0-based rank of the first hit; a sentinel >= every K if none
        no_hit = max(max(topk), width)
        first_hit = torch.where(hits.any(dim=1), hits.float().argmax(dim=1),
                                torch.full((num_queries, ), no_hit, dtype=torch.long))
        return {f'R@{k}': float((first_hit < k).sum()) * 100.0 / num_queries for k in topk}

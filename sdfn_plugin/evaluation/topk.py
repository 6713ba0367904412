"""Memory-bounded top-k retrieval through a model's scorer.

The retrieval metric never builds the full ``(Bq, G)`` score matrix: the
gallery is scored chunk by chunk with the model's own
:class:`~sdfn_plugin.models.scorers.base.BaseScorer` (so query-dependent
scorers work unchanged) and a running top-k is merged after every chunk.
"""
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from sdfn_plugin.structures import QueryBatch

if TYPE_CHECKING:  # avoid importing the model package at import time
    from sdfn_plugin.models.scorers.base import BaseScorer

__all__ = ['chunked_topk']


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value


def _check_exclude(exclude: Union[Tensor, Sequence[int]], num_queries: int, num_gallery: int,
                   device: torch.device) -> Tensor:
    exclude = torch.as_tensor(exclude, device=device)
    if exclude.dtype.is_floating_point or exclude.dtype.is_complex or exclude.dtype == torch.bool:
        raise TypeError(f'exclude must hold integer gallery indices, got dtype {exclude.dtype}')
    if exclude.shape != (num_queries, ):
        raise ValueError(f'exclude must have shape (Bq,) = ({num_queries},) with one gallery index '
                         f'per query (-1 = nothing to exclude), got {tuple(exclude.shape)}')
    if exclude.numel() > 0:
        lo, hi = int(exclude.min()), int(exclude.max())
        if lo < -1 or hi >= num_gallery:
            raise ValueError(f'exclude values must lie in [-1, G) = [-1, {num_gallery}), '
                             f'got min {lo} and max {hi}')
    return exclude.long()


@torch.no_grad()
def chunked_topk(query: QueryBatch,
                 gallery: Tensor,
                 scorer: 'BaseScorer',
                 k: int,
                 exclude: Optional[Union[Tensor, Sequence[int]]] = None,
                 gallery_chunk: int = 8192) -> Tuple[Tensor, Tensor]:
    """Top-k gallery items per query, scoring the gallery in chunks.

    Args:
        query: prepared query batch (``scorer.prepare_query`` already applied),
            ``query.query`` of shape ``(Bq, D)``.
        gallery: prepared gallery ``(G, D)`` (``scorer.prepare_gallery`` applied).
        scorer: called as ``scorer(query, gallery[s:e])`` and must return the
            ``(Bq, e - s)`` score block.
        k: number of results wanted per query (``>= 1``).
        exclude: optional ``(Bq,)`` integer tensor (or sequence), one gallery
            index per query to drop from the ranking (e.g. the reference image);
            ``-1`` means nothing to exclude for that query.
        gallery_chunk: number of gallery items scored at once (``>= 1``).
            Peak extra memory is ``O(Bq * (gallery_chunk + 2k))``; the full
            ``Bq x G`` matrix is never materialised when ``G > gallery_chunk``.

    Returns:
        ``(values, indices)``, both ``(Bq, k')`` with ``k' = min(k, G)``,
        sorted by descending score; ``indices`` is a ``torch.long`` tensor of
        gallery indices on ``gallery``'s device.

        Excluded items are given the score ``-inf`` rather than removed, so
        ``k'`` does not depend on ``exclude``: an excluded item ranks last and
        only appears (with value ``-inf``) when ``k >= G``.  For distinct
        scores the result equals the first ``k'`` columns of
        ``torch.sort(scores, descending=True)`` on the full score matrix with
        the excluded entries set to ``-inf``; ties may be ordered differently.

    Runs under :func:`torch.no_grad`. Vectorised over queries (no Python loop
    over queries); the only Python loop is over gallery chunks.
    """
    if not isinstance(query, QueryBatch):
        raise TypeError(f'query must be a QueryBatch, got {type(query).__name__}')
    k = _check_positive_int('k', k)
    gallery_chunk = _check_positive_int('gallery_chunk', gallery_chunk)
    if not isinstance(gallery, Tensor) or gallery.dim() != 2:
        shape = tuple(gallery.shape) if isinstance(gallery, Tensor) else type(gallery).__name__
        raise ValueError(f'gallery must be a 2-D (G, D) tensor, got {shape}')
    if query.query.dim() != 2:
        raise ValueError(f'query.query must be a 2-D (Bq, D) tensor, got {tuple(query.query.shape)}')

    num_queries, num_gallery = query.query.shape[0], gallery.shape[0]
    device = gallery.device
    if exclude is not None:
        exclude = _check_exclude(exclude, num_queries, num_gallery, device)

    k_out = min(k, num_gallery)
    top_values: Optional[Tensor] = None
    top_indices = torch.empty(num_queries, 0, dtype=torch.long, device=device)

    for start in range(0, num_gallery, gallery_chunk):
        stop = min(start + gallery_chunk, num_gallery)
        scores = scorer(query, gallery[start:stop])
        if scores.shape != (num_queries, stop - start):
            raise ValueError(f'{type(scorer).__name__} returned scores of shape {tuple(scores.shape)} '
                             f'for a gallery chunk of {stop - start} items and {num_queries} queries; '
                             f'expected ({num_queries}, {stop - start})')
        if exclude is not None:
            positions = torch.arange(start, stop, device=scores.device)
            drop = positions.unsqueeze(0) == exclude.to(scores.device).unsqueeze(1)
            scores = scores.masked_fill(drop, float('-inf'))

        chunk_values, chunk_indices = scores.topk(min(k_out, stop - start), dim=1)
        chunk_indices = chunk_indices.to(device) + start
        if top_values is None:
            top_values, top_indices = chunk_values, chunk_indices
            continue
        merged_values = torch.cat([top_values, chunk_values.to(top_values.device)], dim=1)
        merged_indices = torch.cat([top_indices, chunk_indices], dim=1)
        top_values, order = merged_values.topk(min(k_out, merged_values.shape[1]), dim=1)
        top_indices = merged_indices.gather(1, order.to(device))

    if top_values is None:  # empty gallery
        top_values = query.query.new_empty(num_queries, 0)
    return top_values, top_indices

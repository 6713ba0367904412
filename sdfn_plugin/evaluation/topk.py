"""Memory-bounded, exact top-k retrieval through a model's scorer.

The full ``(Bq, G)`` score matrix is never built (at Fashion200K size it would
be 3.7 GiB of float32). Two paths:

* **inner-product scorers** (``scorer.inner_product = True``: DotScorer,
  CosineScorer): queries and gallery are cut into blocks; each block is one
  ``torch.mm(..., out=buffer)`` into a single reused buffer, the reference
  exclusion writes ``-inf`` into that buffer (one ``index_put_``, no mask), and
  the block's best ``k`` are kept: on long rows by a two-stage exact selection
  (:func:`_grouped_topk`: maxima of groups of 8, then ``torch.topk`` over the
  best groups' items, about half the cost of one ``topk`` over the rows),
  otherwise by ``torch.topk``; ties at the k-th place are then settled
  towards the lowest gallery index (:func:`_settle_ties`), and blocks of one
  query chunk are merged by ranking the ``2k`` candidates. Extra memory is the
  buffer (``query_chunk * gallery_chunk`` scores) plus the outputs. On long
  gallery rows ``topk`` costs a few percent of the product (4,096 queries
  against Fashion200K's 29,789-item gallery, 1024-d, 1 CPU thread: 0.95x the
  time of one bare ``Q @ G.T``, which also pays for allocating its output;
  full size: ``benchmarks/speed.py``); on short rows (a few thousand
  items) ``torch.topk`` is ~10x dearer per item and the share grows to ~25%.
* **query-dependent scorers** (``inner_product = False``, e.g. ARTEMIS): the
  scorer is called as ``scorer(query, gallery[s:e])`` on gallery chunks with
  all queries at once (the query ``aux`` is passed whole, never sliced).

The gallery index (:class:`~sdfn_plugin.models.retrievers.GalleryIndex`) picks
between this and the optional faiss backend (:mod:`.faiss_backend`, which
imports this module, never the other way round).
"""
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from sdfn_plugin.structures import QueryBatch

if TYPE_CHECKING:  # avoid importing the model package at import time
    from sdfn_plugin.models.scorers.base import BaseScorer

__all__ = ['chunked_topk', 'RETRIEVAL_BACKENDS', 'check_retrieval_backend', 'check_exclude']

RETRIEVAL_BACKENDS = ('torch', 'faiss')
ExcludeArg = Optional[Union[Tensor, Sequence[int]]]
#: gallery items per call of a query-dependent scorer when ``gallery_chunk`` is None
SCORER_GALLERY_CHUNK = 8192
#: score-buffer size of the inner-product path when the chunks are chosen automatically. Long rows make
#: ``torch.topk`` cheap per element (about 2 ns on rows of 30k items vs 9 ns on rows of 8k, CPU), so
#: rows are whole galleries up to a million items (then 64 rows per block).
BLOCK_BYTES = 256 * 2**20
#: items per group of the two-stage top-k on long rows (:func:`_grouped_topk`); 8 measured best of 4/8/16
#: (and of two-level groupings) on rows of 29,789 items, k = 50, CPU
GROUP = 8
#: the two-stage top-k runs when a row has at least this many items per wanted result; below that the
#: ``GROUP * k`` candidates are not much fewer than the row
GROUPED_MIN_ITEMS_PER_K = 4 * GROUP


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value


def check_exclude(exclude: Union[Tensor, Sequence[int]], num_queries: int, num_gallery: int,
                  device: torch.device) -> Tensor:
    """``exclude`` as a ``(Bq,)`` long tensor on ``device`` with values in ``[-1, G)``."""
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


def check_retrieval_backend(backend: str, scorer: 'BaseScorer', option: str = 'retrieval_backend') -> str:
    """Validate a backend name against the scorer; ``option`` names the config key in errors."""
    if backend not in RETRIEVAL_BACKENDS:
        raise ValueError(f'{option} must be one of {RETRIEVAL_BACKENDS}, got {backend!r}')
    if backend == 'faiss' and not scorer.inner_product:
        raise ValueError(f"{option}='faiss' needs an inner-product scorer, but {type(scorer).__name__} "
                         'has inner_product=False (query-dependent scores); use '
                         f"{option}='torch', which scores gallery chunks through the scorer")
    return backend


def _check_inputs(query: QueryBatch, gallery: Tensor, k: int, gallery_chunk: Optional[int],
                  query_chunk: Optional[int]) -> None:
    if not isinstance(query, QueryBatch):
        raise TypeError(f'query must be a QueryBatch, got {type(query).__name__}')
    _check_positive_int('k', k)
    if gallery_chunk is not None:
        _check_positive_int('gallery_chunk', gallery_chunk)
    if query_chunk is not None:
        _check_positive_int('query_chunk', query_chunk)
    if not isinstance(gallery, Tensor) or gallery.dim() != 2:
        shape = tuple(gallery.shape) if isinstance(gallery, Tensor) else type(gallery).__name__
        raise ValueError(f'gallery must be a 2-D (G, D) tensor, got {shape}')
    if query.query.dim() != 2:
        raise ValueError(f'query.query must be a 2-D (Bq, D) tensor, got {tuple(query.query.shape)}')


def _ranked(values: Tensor, indices: Tensor) -> Tuple[Tensor, Tensor]:
    """Rows sorted by descending value, equal values by ascending index (the order of a stable full sort)."""
    indices, by_index = indices.sort(dim=1)
    values, order = values.gather(1, by_index).sort(dim=1, descending=True, stable=True)
    return values, indices.gather(1, order)


def _settle_ties(scores: Tensor, values: Tensor, indices: Tensor,
                 crossing: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Make a block's top-k (``values``/``indices`` of ``scores``' rows) the set a stable full sort keeps.

    ``torch.topk`` keeps the right values but, when several items tie with the k-th value and not all fit,
    any of them. The rows where that can happen (``crossing``; by default found by one comparison pass: more
    items at or above the k-th value than places) are redone exactly: the items above the k-th value, then
    the tied ones of lowest index. Rare (equal float scores at the boundary: duplicate images).
    """
    k = values.shape[1]
    if crossing is None:
        crossing = (scores >= values[:, -1:]).sum(dim=1) > k
    for row in torch.nonzero(crossing).flatten().tolist():
        line, kth = scores[row], values[row, -1]
        above = torch.nonzero(line > kth).flatten()
        chosen = torch.cat([above, torch.nonzero(line == kth).flatten()[:k - above.numel()]])
        values[row], indices[row] = line[chosen], chosen
    return values, indices


def _merge(best: Optional[Tuple[Tensor, Tensor]], values: Tensor, indices: Tensor,
           k: int) -> Tuple[Tensor, Tensor]:
    """Running top-k: keep the best ``k`` of the previous best and a new block's best (each block's set is
    already a stable sort's, so ranking their union and cutting at ``k`` is too)."""
    if best is not None:
        values, indices = torch.cat([best[0], values], dim=1), torch.cat([best[1], indices], dim=1)
    values, indices = _ranked(values, indices)
    return values[:, :k], indices[:, :k]


def _check_inner_product_contract(query: Tensor, gallery: Tensor, scorer: 'BaseScorer',
                                  aux: dict) -> None:
    """The fast path computes ``q @ g.T`` itself; verify on a few rows that the scorer agrees."""
    q, g = query[:4], gallery[:16]
    expected = scorer(QueryBatch(q, aux), g)  # inner-product scorers ignore aux
    if expected.shape != (q.shape[0], g.shape[0]) or not torch.allclose(expected, q @ g.t(), rtol=1e-3,
                                                                        atol=1e-4):
        raise ValueError(f'{type(scorer).__name__} declares inner_product=True but its scores are not '
                         'query @ gallery.T; set inner_product = False on the scorer class')


def block_shape(num_queries: int, num_gallery: int, itemsize: int, gallery_chunk: Optional[int],
                query_chunk: Optional[int]) -> Tuple[int, int]:
    """``(query rows, gallery columns)`` of one score block; ``None`` chunks fill :data:`BLOCK_BYTES`."""
    cols = gallery_chunk or min(num_gallery, max(1, BLOCK_BYTES // (64 * itemsize)))
    rows = query_chunk or max(1, BLOCK_BYTES // (min(cols, num_gallery) * itemsize))
    return min(rows, num_queries), min(cols, num_gallery)


def _grouped_topk(padded: Tensor, k: int, num_cols: int) -> Tuple[Tensor, Tensor]:
    """Exact row-wise top-``k`` of ``padded[:, :num_cols]``; ``padded``'s extra columns hold ``-inf``.

    The ``(rows, GROUP * n)`` block is viewed as ``GROUP`` segments of ``n`` columns; group ``j`` of a row is
    the ``GROUP`` items ``{j, j + n, ...}`` (one per segment), so the group maxima are one element-wise
    ``amax`` over the segments (a vectorised pass, no sort). The ``k`` largest items of a row lie in the ``k``
    groups with the largest maxima (the ``k``-th largest group maximum is reached by ``k`` distinct items, so
    it is <= the ``k``-th largest item; an item above it is the maximum of a group above it or shares a group
    with one), and ``torch.topk`` then runs on ``n`` maxima and ``GROUP * k`` candidates instead of
    ``GROUP * n`` items: about half the time of one ``topk`` over the whole rows (rows of 29,789 items,
    k = 50, CPU).

    Ties at the k-th place (:func:`_settle_ties`) are found without a pass over the block: every item at or
    above the k-th value lies in a group whose maximum is too, so a row needs settling only when its
    candidates hold more such items than ``k``, or when more than ``k`` group maxima reach the k-th value
    (some of those groups were not candidates).
    """
    rows, width = padded.shape
    n = width // GROUP
    maxima = padded.view(rows, GROUP, n).amax(dim=1)
    _, groups = maxima.topk(k, dim=1, sorted=False)
    columns = (groups.unsqueeze(2) + torch.arange(0, width, n, device=padded.device)).view(rows, k * GROUP)
    candidates = padded.gather(1, columns)
    values, order = candidates.topk(k, dim=1)
    indices = columns.gather(1, order)
    if bool((indices >= num_cols).any()):  # fewer than k items above -inf in a row: padding could win a tie
        return _settle_ties(padded[:, :num_cols], *padded[:, :num_cols].topk(k, dim=1))
    kth = values[:, -1:]
    crossing = ((candidates >= kth).sum(dim=1) > k) | ((maxima >= kth).sum(dim=1) > k)
    return _settle_ties(padded[:, :num_cols], values, indices, crossing)


def _inner_product_topk(query: Tensor, gallery: Tensor, k: int, exclude: Optional[Tensor],
                        gallery_chunk: Optional[int], query_chunk: Optional[int]) -> Tuple[Tensor, Tensor]:
    num_queries, num_gallery = query.shape[0], gallery.shape[0]
    k_out = min(k, num_gallery)
    dtype = torch.result_type(query, gallery)
    query, gallery = query.to(dtype), gallery.to(dtype)
    query_chunk, gallery_chunk = block_shape(num_queries, num_gallery, gallery.element_size(), gallery_chunk,
                                             query_chunk)
    # rows of the buffer are padded to a multiple of GROUP with -inf (written once; the product only fills
    # the first columns, through a strided ``out`` that BLAS writes in place)
    width = -(-gallery_chunk // GROUP) * GROUP
    buffer = torch.full((query_chunk, width), float('-inf'), dtype=dtype, device=gallery.device)
    values = torch.empty(num_queries, k_out, dtype=dtype, device=gallery.device)
    indices = torch.empty(num_queries, k_out, dtype=torch.long, device=gallery.device)
    gallery_t = gallery.t()
    for q0 in range(0, num_queries, query_chunk):
        q1 = min(q0 + query_chunk, num_queries)
        rows = torch.arange(q1 - q0, device=gallery.device)
        best = None
        for g0 in range(0, num_gallery, gallery_chunk):
            g1 = min(g0 + gallery_chunk, num_gallery)
            cols, k_block = g1 - g0, min(k_out, g1 - g0)
            padded = buffer[:q1 - q0]
            scores = padded[:, :cols]
            torch.mm(query[q0:q1], gallery_t[:, g0:g1], out=scores)
            if exclude is not None:
                local = exclude[q0:q1] - g0
                hit = (local >= 0) & (local < cols)
                scores.index_put_((rows[hit], local[hit]), scores.new_tensor(float('-inf')))
            if cols == gallery_chunk and width >= GROUPED_MIN_ITEMS_PER_K * k_block:
                block_values, block_indices = _grouped_topk(padded, k_block, cols)
            else:  # short rows (or the last, narrower gallery block): one plain topk
                block_values, block_indices = _settle_ties(scores, *scores.topk(k_block, dim=1))
            best = _merge(best, block_values, block_indices.add_(g0), k_out)
        values[q0:q1], indices[q0:q1] = best
    return values, indices


def _scorer_topk(query: QueryBatch, gallery: Tensor, scorer: 'BaseScorer', k: int, exclude: Optional[Tensor],
                 gallery_chunk: Optional[int]) -> Tuple[Tensor, Tensor]:
    num_queries, num_gallery = query.query.shape[0], gallery.shape[0]
    gallery_chunk = gallery_chunk or SCORER_GALLERY_CHUNK
    k_out = min(k, num_gallery)
    device = gallery.device
    best = None
    for g0 in range(0, num_gallery, gallery_chunk):
        g1 = min(g0 + gallery_chunk, num_gallery)
        scores = scorer(query, gallery[g0:g1])
        if scores.shape != (num_queries, g1 - g0):
            raise ValueError(f'{type(scorer).__name__} returned scores of shape {tuple(scores.shape)} '
                             f'for a gallery chunk of {g1 - g0} items and {num_queries} queries; '
                             f'expected ({num_queries}, {g1 - g0})')
        scores = scores.to(device)
        if exclude is not None:
            local = exclude - g0
            hit = (local >= 0) & (local < g1 - g0)
            scores = scores.index_put((torch.nonzero(hit).flatten(), local[hit]), scores.new_tensor(float('-inf')))
        block_values, block_indices = _settle_ties(scores, *scores.topk(min(k_out, g1 - g0), dim=1))
        best = _merge(best, block_values, block_indices.add_(g0), k_out)
    return best


@torch.no_grad()
def chunked_topk(query: QueryBatch,
                 gallery: Tensor,
                 scorer: 'BaseScorer',
                 k: int,
                 exclude: ExcludeArg = None,
                 gallery_chunk: Optional[int] = None,
                 query_chunk: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """Top-k gallery items per query, scoring blocks of queries and gallery items.

    Args:
        query: prepared query batch (``scorer.prepare_query`` already applied),
            ``query.query`` of shape ``(Bq, D)``.
        gallery: prepared gallery ``(G, D)`` (``scorer.prepare_gallery`` applied).
        scorer: inner-product scorers (``inner_product = True``) must score
            ``query.query @ gallery.T`` (checked on a few rows; the product is
            then computed here, block by block). Other scorers are called as
            ``scorer(query, gallery[s:e])`` and must return ``(Bq, e - s)``.
        k: number of results wanted per query (``>= 1``).
        exclude: optional ``(Bq,)`` integer tensor (or sequence), one gallery
            index per query to drop from the ranking (e.g. the reference image);
            ``-1`` means nothing to exclude for that query.
        gallery_chunk: gallery items scored at once (``>= 1``). ``None``:
            :data:`SCORER_GALLERY_CHUNK` for query-dependent scorers, whole
            gallery rows (up to a million items) for inner-product scorers.
        query_chunk: queries scored at once on the inner-product path
            (``>= 1``; query-dependent scorers always get all queries).
            ``None``: as many as fit :data:`BLOCK_BYTES` (256 MiB) of scores.
            Extra memory is one ``query_chunk x gallery_chunk`` score buffer
            plus the outputs.

    Returns:
        ``(values, indices)``, both ``(Bq, k')`` with ``k' = min(k, G)``,
        sorted by descending score; ``indices`` is a ``torch.long`` tensor of
        gallery indices on ``gallery``'s device.

        Excluded items are given the score ``-inf`` rather than removed, so
        ``k'`` does not depend on ``exclude``: an excluded item ranks last and
        only appears (with value ``-inf``) when ``k >= G``. The result equals
        the first ``k'`` columns of
        ``torch.sort(scores, descending=True, stable=True)`` on the full score
        matrix with the excluded entries set to ``-inf``: equal scores rank by
        ascending gallery index, also at the k-th place (so duplicate gallery
        images rank the same way on every run, chunking and backend path).

    Runs under :func:`torch.no_grad`. Vectorised over queries; the only Python
    loops are over blocks.
    """
    _check_inputs(query, gallery, k, gallery_chunk, query_chunk)
    num_queries, num_gallery = query.query.shape[0], gallery.shape[0]
    if exclude is not None:
        exclude = check_exclude(exclude, num_queries, num_gallery, gallery.device)
    if num_gallery == 0 or num_queries == 0:
        return (query.query.new_empty(num_queries, min(k, num_gallery)),
                torch.empty(num_queries, min(k, num_gallery), dtype=torch.long, device=gallery.device))
    if scorer.inner_product and query.query.device == gallery.device:
        _check_inner_product_contract(query.query, gallery, scorer, query.aux)
        return _inner_product_topk(query.query, gallery, k, exclude, gallery_chunk, query_chunk)
    return _scorer_topk(query, gallery, scorer, k, exclude, gallery_chunk)


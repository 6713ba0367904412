"""Retrieval benchmark: exact top-k over a Fashion200K-size gallery vs the bare query x gallery product.

Fashion200K's test protocol: 33,480 queries against 29,789 gallery images; SDFN's embeddings are 1024-d.
Random float32 data (exact float ties are rare but occur), one reference index excluded per query as in evaluation.
"""
from dataclasses import dataclass
from typing import List

import torch

from sdfn_plugin.evaluation.topk import chunked_topk
from sdfn_plugin.models.scorers.base import DotScorer
from sdfn_plugin.structures import QueryBatch
from speed_utils import PeakMemory, median, timed

__all__ = ['RetrievalResult', 'bench_retrieval', 'check_exact', 'RETRIEVAL_TARGET']

F200K_QUERIES, F200K_GALLERY, DIM = 33480, 29789, 1024
#: issue target: top-k retrieval within 5% of the bare product, the full-sort result, <= 1 GiB extra
RETRIEVAL_TARGET = 1.05


@dataclass
class RetrievalResult:
    num_queries: int
    num_gallery: int
    dim: int
    k: int
    matmul_s: List[float]
    retrieval_s: List[float]
    peak_extra_bytes: int
    exact_rows: int
    mismatch_max_gap: float

    @property
    def ratio(self) -> float:
        return median(self.retrieval_s) / median(self.matmul_s)

    def report(self) -> List[str]:
        return [
            f'retrieval: {self.num_queries} queries x {self.num_gallery} gallery, {self.dim}-d float32, top-{self.k}',
            f'  bare matmul (one Q @ G.T)      median {median(self.matmul_s):.3f} s  {_fmt(self.matmul_s)}',
            f'  chunked_topk (incl. exclusion) median {median(self.retrieval_s):.3f} s  {_fmt(self.retrieval_s)}',
            f'  ratio retrieval / matmul = {self.ratio:.3f}  (target <= {RETRIEVAL_TARGET})',
            f'  peak extra memory of the retrieval = {self.peak_extra_bytes / 2**20:.1f} MiB  (target <= 1024 MiB; '
            f'the full score matrix would be {self.num_queries * self.num_gallery * 4 / 2**20:.0f} MiB)',
            f'  equal to the full sort: {self.exact_rows}/{self.num_queries} rows with identical indices'
            + ('' if self.exact_rows == self.num_queries else
               f' (differing rows: largest score gap between swapped items {self.mismatch_max_gap:.3g})'),
        ]


def _fmt(values: List[float]) -> str:
    return '[' + ', '.join(f'{v:.3f}' for v in values) + ']'


@torch.no_grad()
def check_exact(query: torch.Tensor, gallery: torch.Tensor, exclude: torch.Tensor, indices: torch.Tensor,
                block: int = 2048) -> tuple:
    """Compare ``indices`` with a full sort of every row (rows in blocks, the whole gallery at once).

    Returns ``(identical_rows, max_gap)``: the rows whose top-k indices equal the first k of
    ``torch.sort(descending=True, stable=True)`` (equal scores by ascending index, ``chunked_topk``'s contract), and over the other rows the largest difference between the score the
    full sort ranks at a position and the score of the item returned there (0 for pure float ties).
    """
    k = indices.shape[1]
    identical, max_gap = 0, 0.0
    for start in range(0, query.shape[0], block):
        stop = min(start + block, query.shape[0])
        scores = query[start:stop] @ gallery.t()
        rows = torch.arange(stop - start, device=scores.device)
        scores[rows, exclude[start:stop]] = float('-inf')
        ref_values, ref_indices = torch.sort(scores, dim=1, descending=True, stable=True)
        ref_values, ref_indices = ref_values[:, :k], ref_indices[:, :k]
        same = (ref_indices == indices[start:stop]).all(dim=1)
        identical += int(same.sum())
        if not bool(same.all()):
            got = scores.gather(1, indices[start:stop])
            max_gap = max(max_gap, float((got - ref_values).abs().max()))
    return identical, max_gap


def bench_retrieval(scale: float = 1.0, repeats: int = 3, k: int = 50, device: str = 'cpu', seed: int = 0,
                    check: bool = True) -> RetrievalResult:
    """Time ``chunked_topk`` (default chunks) and the bare product, alternating, ``repeats`` times each."""
    dev = torch.device(device)
    num_queries, num_gallery = max(1, round(F200K_QUERIES * scale)), max(1, round(F200K_GALLERY * scale))
    gen = torch.Generator().manual_seed(seed)
    query = torch.randn(num_queries, DIM, generator=gen).to(dev)
    gallery = torch.randn(num_gallery, DIM, generator=gen).to(dev)
    exclude = torch.randint(0, num_gallery, (num_queries, ), generator=gen).to(dev)
    scorer = DotScorer()

    def retrieve():
        return chunked_topk(QueryBatch(query), gallery, scorer, k, exclude=exclude)

    with PeakMemory(dev) as memory:  # first call: nothing cached by the allocator yet
        _, indices = retrieve()
    matmul_s, retrieval_s = [], []
    for _ in range(repeats):  # alternate so that load changes on a shared machine hit both sides
        matmul_s.append(timed(lambda: query @ gallery.t(), dev))
        retrieval_s.append(timed(retrieve, dev))
    exact_rows, gap = check_exact(query, gallery, exclude, indices) if check else (-1, float('nan'))
    return RetrievalResult(num_queries, num_gallery, DIM, k, matmul_s, retrieval_s, memory.peak_extra, exact_rows,
                           gap)

"""Optional faiss backend for inner-product top-k over large galleries.

``pip install faiss-cpu`` (or a faiss GPU build). The default index is
``IndexFlatIP`` (exhaustive, exact inner product; no quantisation, no
approximation), moved to a GPU when faiss reports one, so rankings equal those
of :func:`~sdfn_plugin.evaluation.topk.chunked_topk` up to floating-point ties.
``approximate`` selects an IVF or HNSW index instead (faster on many millions
of items, recall below 100%). Only scorers whose score is a plain inner product
(``inner_product = True``) can use it; query-dependent scorers (ARTEMIS) raise
a clear error. The object that owns the gallery owns its faiss index
(:class:`~sdfn_plugin.models.retrievers.GalleryIndex`).
"""
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from sdfn_plugin.structures import QueryBatch

from .topk import check_exclude, check_retrieval_backend

if TYPE_CHECKING:
    from sdfn_plugin.models.scorers.base import BaseScorer

__all__ = ['FaissGallery', 'faiss_topk', 'APPROXIMATE_TYPES']

#: approximate index types and their settings (faiss names: IndexIVFFlat, IndexHNSWFlat)
APPROXIMATE_TYPES = {'ivf': ('nlist', 'nprobe'), 'hnsw': ('m', 'ef_search', 'ef_construction')}


def _import_faiss():
    try:
        import faiss
    except ImportError:
        raise ImportError("retrieval_backend='faiss' needs the faiss package: pip install faiss-cpu "
                          '(or a faiss GPU build)') from None
    return faiss


def _as_float32_numpy(x: Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().to('cpu', torch.float32).numpy())


class FaissGallery:
    """An exact inner-product faiss index over a ``(G, D)`` gallery.

    Args:
        gallery: prepared gallery embeddings (``scorer.prepare_gallery`` applied).
        use_gpu: ``None`` = a GPU index when faiss was built with GPUs and sees
            one; ``True`` requires one; ``False`` stays on CPU.
        approximate: ``None`` (exact ``IndexFlatIP``), ``dict(type='ivf', nlist=..., nprobe=...)``
            (inverted lists trained on the gallery; a query visits ``nprobe`` of
            ``nlist`` cells) or ``dict(type='hnsw', m=32, ef_search=64, ef_construction=40)``
            (graph search; CPU only).
    """

    def __init__(self, gallery: Tensor, use_gpu: Optional[bool] = None, approximate: Optional[dict] = None) -> None:
        if not isinstance(gallery, Tensor) or gallery.dim() != 2:
            shape = tuple(gallery.shape) if isinstance(gallery, Tensor) else type(gallery).__name__
            raise ValueError(f'gallery must be a 2-D (G, D) tensor, got {shape}')
        faiss = _import_faiss()
        num_gpus = faiss.get_num_gpus() if hasattr(faiss, 'StandardGpuResources') else 0
        if use_gpu and num_gpus == 0:
            raise RuntimeError('FaissGallery(use_gpu=True): this faiss build sees no GPU')
        self.num_gallery, self.dim = gallery.shape
        self.device = gallery.device
        self.dtype = gallery.dtype
        index = _build_index(faiss, self.dim, approximate, gallery.shape[0])
        self.on_gpu = bool(num_gpus > 0 and use_gpu is not False and not (approximate or {}).get('type') == 'hnsw')
        if self.on_gpu:
            self._resources = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(self._resources, 0, index)
        data = _as_float32_numpy(gallery)
        if not index.is_trained:
            index.train(data)
        index.add(data)
        self.index = index

    def search(self, query: Tensor, k: int, exclude: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Top-``min(k, G)`` per query with the :func:`chunked_topk` contract
        (excluded items score ``-inf``; they appear, last, only when ``k >= G``)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f'k must be a positive int, got {k!r}')
        if query.dim() != 2 or query.shape[1] != self.dim:
            raise ValueError(f'query must be (Bq, {self.dim}), got {tuple(query.shape)}')
        k_out = min(k, self.num_gallery)
        if k_out == 0 or query.shape[0] == 0:
            return (torch.empty(query.shape[0], k_out, dtype=self.dtype, device=self.device),
                    torch.empty(query.shape[0], k_out, dtype=torch.long, device=self.device))
        # one extra result so that dropping the excluded item still leaves k_out
        width = min(k_out + (exclude is not None), self.num_gallery)
        values, indices = self.index.search(_as_float32_numpy(query), width)
        values, indices = torch.from_numpy(values), torch.from_numpy(indices).long()
        if exclude is not None:
            dropped = indices == exclude.cpu().unsqueeze(1)
            # stable sort on the flag moves the excluded item to the end and keeps the order of the rest
            order = torch.sort(dropped.to(torch.uint8), dim=1, stable=True).indices
            values, indices, dropped = values.gather(1, order), indices.gather(1, order), dropped.gather(1, order)
            values = values.masked_fill(dropped, float('-inf'))
        return (values[:, :k_out].to(self.device, self.dtype), indices[:, :k_out].to(self.device))


def _build_index(faiss, dim: int, approximate: Optional[dict], num_gallery: int):
    if approximate is None:
        return faiss.IndexFlatIP(dim)
    approximate = dict(approximate)
    kind = approximate.pop('type', None)
    if kind not in APPROXIMATE_TYPES:
        raise ValueError(f"approximate must be dict(type='ivf'|'hnsw', ...), got type {kind!r}")
    unknown = set(approximate) - set(APPROXIMATE_TYPES[kind])
    if unknown:
        raise ValueError(f'approximate {kind!r} takes {APPROXIMATE_TYPES[kind]}, got unknown {sorted(unknown)}')
    if kind == 'hnsw':
        index = faiss.IndexHNSWFlat(dim, int(approximate.get('m', 32)), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(approximate.get('ef_construction', 40))
        index.hnsw.efSearch = int(approximate.get('ef_search', 64))
        return index
    nlist = int(approximate.get('nlist', max(1, int(4 * num_gallery ** 0.5))))  # faiss guideline: ~4 sqrt(N)
    if nlist > num_gallery:
        raise ValueError(f'approximate ivf: nlist={nlist} cells need at least as many gallery items, got {num_gallery}')
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.nprobe = int(approximate.get('nprobe', 16))
    return index


@torch.no_grad()
def faiss_topk(query: QueryBatch,
               gallery: Tensor,
               scorer: 'BaseScorer',
               k: int,
               exclude: Optional[Union[Tensor, Sequence[int]]] = None) -> Tuple[Tensor, Tensor]:
    """:func:`~sdfn_plugin.evaluation.topk.chunked_topk` through an exact faiss index built for
    this call (to search one gallery many times, keep a :class:`FaissGallery` or a ``GalleryIndex``)."""
    check_retrieval_backend('faiss', scorer)
    if not isinstance(query, QueryBatch):
        raise TypeError(f'query must be a QueryBatch, got {type(query).__name__}')
    index = FaissGallery(gallery)
    if exclude is not None:
        exclude = check_exclude(exclude, query.query.shape[0], gallery.shape[0], gallery.device)
    return index.search(query.query, k, exclude)

"""Optional faiss backend for exact inner-product top-k over large galleries.

``pip install faiss-cpu`` (or a faiss GPU build). The index is ``IndexFlatIP``
(exhaustive, exact inner product; no quantisation, no approximation), moved to
a GPU when faiss reports one, so rankings equal those of
:func:`~sdfn_plugin.evaluation.topk.chunked_topk` up to floating-point ties.
Only scorers whose score is a plain inner product (``inner_product = True``)
can use it; query-dependent scorers (ARTEMIS) raise a clear error.
"""
import weakref
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from sdfn_plugin.structures import QueryBatch

from .topk import check_exclude, check_retrieval_backend

if TYPE_CHECKING:
    from sdfn_plugin.models.scorers.base import BaseScorer

__all__ = ['FaissGallery', 'faiss_topk']


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
    """

    def __init__(self, gallery: Tensor, use_gpu: Optional[bool] = None) -> None:
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
        index = faiss.IndexFlatIP(self.dim)
        self.on_gpu = bool(num_gpus > 0 and use_gpu is not False)
        if self.on_gpu:
            self._resources = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(self._resources, 0, index)
        index.add(_as_float32_numpy(gallery))
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


# One cached index: evaluation calls faiss_topk once per query batch on the same gallery tensor.
_cache: dict = {}


def _gallery_index(gallery: Tensor) -> FaissGallery:
    ref = _cache.get('gallery')
    if ref is not None and ref() is gallery and _cache['version'] == gallery._version:
        return _cache['index']
    index = FaissGallery(gallery)
    _cache.update(gallery=weakref.ref(gallery), version=gallery._version, index=index)
    return index


@torch.no_grad()
def faiss_topk(query: QueryBatch,
               gallery: Tensor,
               scorer: 'BaseScorer',
               k: int,
               exclude: Optional[Union[Tensor, Sequence[int]]] = None) -> Tuple[Tensor, Tensor]:
    """:func:`~sdfn_plugin.evaluation.topk.chunked_topk` through a faiss index
    (built once per gallery tensor and reused while the tensor is unchanged)."""
    check_retrieval_backend('faiss', scorer)
    if not isinstance(query, QueryBatch):
        raise TypeError(f'query must be a QueryBatch, got {type(query).__name__}')
    index = _gallery_index(gallery)
    if exclude is not None:
        exclude = check_exclude(exclude, query.query.shape[0], gallery.shape[0], gallery.device)
    return index.search(query.query, k, exclude)

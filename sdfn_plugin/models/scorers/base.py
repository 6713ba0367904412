"""Scorers: how a query batch is compared with gallery embeddings.

The retrieval metric and the in-batch losses call the model's scorer, never a
hard-wired ``Q @ G.T``, so methods with query-dependent scoring (ARTEMIS)
evaluate in gallery chunks through the same code path.
"""
from abc import ABCMeta, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import QueryBatch


class BaseScorer(nn.Module, metaclass=ABCMeta):
    """``scores[i, j]`` = similarity of query ``i`` and gallery item ``j``.

    ``prepare_gallery`` runs once per gallery (e.g. L2 normalisation) so the
    per-chunk ``forward`` does only the product.
    """

    #: True when scores are a plain inner product of one query vector and one
    #: gallery vector (enables matrix-product-only backends such as faiss).
    inner_product: bool = True

    def prepare_gallery(self, gallery: torch.Tensor) -> torch.Tensor:
        return gallery

    def prepare_query(self, query: QueryBatch) -> QueryBatch:
        return query

    @abstractmethod
    def forward(self, query: QueryBatch, gallery: torch.Tensor) -> torch.Tensor:
        """Scores ``(Bq, G)`` for prepared query and gallery tensors."""

    def score(self, query: QueryBatch, gallery: torch.Tensor) -> torch.Tensor:
        """Prepare both sides, then score (losses use this on in-batch targets)."""
        return self(self.prepare_query(query), self.prepare_gallery(gallery))


@MODELS.register_module()
class DotScorer(BaseScorer):
    """Plain dot product of the unnormalised query and gallery embeddings.

    Not TIRG's evaluation: the official TIRG code (google/tirg ``test_retrieval.py``)
    L2-normalises every query and gallery feature before the dot product, i.e.
    ranks by cosine, so the TIRG configs use :class:`CosineScorer`. Magnitudes
    matter here, which suits embeddings trained for an unnormalised inner product.
    """

    def forward(self, query: QueryBatch, gallery: torch.Tensor) -> torch.Tensor:
        return query.query @ gallery.t()


@MODELS.register_module()
class CosineScorer(BaseScorer):
    """Cosine similarity (AMC, SDFN, CLIP4Cir): both sides L2-normalised."""

    def prepare_gallery(self, gallery: torch.Tensor) -> torch.Tensor:
        return F.normalize(gallery, dim=-1)

    def prepare_query(self, query: QueryBatch) -> QueryBatch:
        return QueryBatch(F.normalize(query.query, dim=-1), query.aux)

    def forward(self, query: QueryBatch, gallery: torch.Tensor) -> torch.Tensor:
        return query.query @ gallery.t()

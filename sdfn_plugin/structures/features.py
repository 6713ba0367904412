"""Typed containers passed between encoders, fusion blocks, scorers and losses.

Every image encoder returns :class:`ImageFeatures`, every text encoder
:class:`TextFeatures`, every fusion block :class:`FusionOutput`. This is the
uniform feature API (timm's ``forward_features`` idea) that lets any fusion
method run on any encoder pair.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional

import torch


@dataclass
class ImageFeatures:
    """Image encoder output.

    Attributes:
        tokens: region/patch tokens ``(B, N, C)`` (a CNN map flattened row-major).
        pooled: global feature ``(B, C)``; for CNN encoders the mean of ``tokens``.
    """

    tokens: torch.Tensor
    pooled: torch.Tensor

    @property
    def dim(self) -> int:
        return self.pooled.shape[-1]


@dataclass
class TextFeatures:
    """Text encoder output.

    Attributes:
        tokens: per-word features ``(B, L, C)``; padded positions are arbitrary.
        mask: ``(B, L)`` bool, True at valid (non-padding) positions.
        pooled: sentence feature ``(B, C)``.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    @property
    def dim(self) -> int:
        return self.pooled.shape[-1]


@dataclass
class FusionOutput:
    """Fusion block output.

    Attributes:
        query: composed query embedding ``(B, D)`` (not normalised; the scorer
            and losses decide). Methods with query-dependent scoring may put
            extra query-side tensors in ``aux`` and read them in their scorer.
        aux: named extra tensors for losses, scorers and introspection
            (e.g. SDFN's routing probabilities).
    """

    query: torch.Tensor
    aux: Dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class QueryBatch:
    """What a scorer needs from the query side: the embedding and any aux tensors."""

    query: torch.Tensor
    aux: Dict[str, torch.Tensor] = field(default_factory=dict)

    def slice(self, start: int, stop: int) -> 'QueryBatch':
        return QueryBatch(self.query[start:stop],
                          {k: v[start:stop] for k, v in self.aux.items()})

    def to(self, device: Optional[torch.device]) -> 'QueryBatch':
        return QueryBatch(self.query.to(device), {k: v.to(device) for k, v in self.aux.items()})

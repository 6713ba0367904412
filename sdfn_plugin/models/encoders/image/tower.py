"""Base of image encoders that wrap a third-party model (timm, open_clip)."""
from abc import abstractmethod
from typing import List, Optional, Tuple

import torch
from torch import nn

from sdfn_plugin.structures import ImageFeatures

from ..adapters import build_adapter
from ..freezing import FreezableMixin


class ImageTower(FreezableMixin, nn.Module):
    """``backbone`` -> native ``(tokens, pooled)`` -> shared Linear adapter -> :class:`ImageFeatures`.

    Subclasses build ``self.backbone`` (the library's model, loaded with its
    weights) and then call :meth:`apply_freezing`. ``frozen=True`` freezes the
    whole backbone and keeps it in eval mode; the adapter, which is new and
    randomly initialised, stays trainable.

    Args:
        native_dim: width of the backbone's tokens and pooled feature.
        out_dim: adapter width; ``None`` keeps ``native_dim``.
        frozen: freeze the whole backbone.
        frozen_bn: freeze BatchNorm affine parameters and running statistics.
    """

    backbone: nn.Module

    def __init__(self, native_dim: int, out_dim: Optional[int], frozen: bool, frozen_bn: bool) -> None:
        super().__init__()
        self.native_dim = native_dim
        self.adapter, self.out_dim = build_adapter(type(self).__name__, native_dim, out_dim)
        self.frozen = bool(frozen)
        self.frozen_bn = bool(frozen_bn)

    def frozen_modules(self) -> List[nn.Module]:
        return [self.backbone] if self.frozen else []

    @abstractmethod
    def forward_native(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Backbone tokens ``(B, N, native_dim)`` and pooled feature ``(B, native_dim)``."""

    def forward(self, images: torch.Tensor) -> ImageFeatures:
        tokens, pooled = self.forward_native(images)
        return ImageFeatures(tokens=self.adapter(tokens), pooled=self.adapter(pooled))

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Pooled embedding (open_clip-style convenience)."""
        pooled = self(images).pooled
        return nn.functional.normalize(pooled, dim=-1) if normalize else pooled

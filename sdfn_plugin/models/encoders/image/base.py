"""Shared logic of CNN image encoders: feature map -> projected region tokens."""
from abc import ABCMeta, abstractmethod
from typing import Optional

import torch
from torch import nn

from sdfn_plugin.structures import ImageFeatures


class MapImageEncoder(nn.Module, metaclass=ABCMeta):
    """A backbone producing a feature map, followed by an optional 1x1 projection.

    ``tokens`` are the projected map flattened row-major to ``(B, h*w, C)``;
    ``pooled`` is their mean. Because a 1x1 convolution is linear, the mean of
    projected tokens equals "global average pool, then fc": one design covers
    TIRG's ``GAP -> fc 512`` and AMC/SDFN's ``1x1 conv 2048->1024 -> 49 tokens``.

    Args:
        out_dim: channels after projection; ``None`` keeps the backbone width.
        proj_bias: bias of the 1x1 projection (AMC/SDFN use none).
    """

    def __init__(self, backbone_dim: int, out_dim: Optional[int] = None, proj_bias: bool = True) -> None:
        super().__init__()
        if out_dim is not None and out_dim <= 0:
            raise ValueError(f'{type(self).__name__}.out_dim must be positive or None, got {out_dim}')
        self.backbone_dim = backbone_dim
        self.out_dim = out_dim or backbone_dim
        self.proj = nn.Conv2d(backbone_dim, out_dim, 1, bias=proj_bias) if out_dim else nn.Identity()

    @abstractmethod
    def forward_map(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone feature map ``(B, backbone_dim, h, w)``."""

    def forward(self, images: torch.Tensor) -> ImageFeatures:
        fmap = self.proj(self.forward_map(images))
        tokens = fmap.flatten(2).transpose(1, 2)
        return ImageFeatures(tokens=tokens, pooled=tokens.mean(dim=1))

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Pooled embedding (open_clip-style convenience)."""
        pooled = self(images).pooled
        return nn.functional.normalize(pooled, dim=-1) if normalize else pooled

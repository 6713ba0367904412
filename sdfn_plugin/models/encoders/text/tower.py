"""Base of text encoders that wrap a third-party model (Hugging Face, open_clip)."""
from abc import abstractmethod
from typing import List, Optional, Tuple

import torch
from torch import nn

from sdfn_plugin.structures import TextFeatures

from ..adapters import build_adapter
from ..freezing import FreezableMixin


class TextTower(FreezableMixin, nn.Module):
    """Raw strings -> the model's own tokenizer -> ``backbone`` -> Linear adapter -> :class:`TextFeatures`.

    ``frozen=True`` freezes the whole backbone and keeps it in eval mode (no
    dropout); the adapter stays trainable.

    Args:
        native_dim: width of the backbone's token and pooled features.
        out_dim: adapter width; ``None`` keeps ``native_dim``.
        frozen: freeze the whole backbone.
    """

    backbone: nn.Module

    def __init__(self, native_dim: int, out_dim: Optional[int], frozen: bool) -> None:
        super().__init__()
        self.native_dim = native_dim
        self.adapter, self.out_dim = build_adapter(type(self).__name__, native_dim, out_dim)
        self.frozen = bool(frozen)

    def frozen_modules(self) -> List[nn.Module]:
        return [self.backbone] if self.frozen else []

    @abstractmethod
    def forward_native(self, texts: List[str]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Token features ``(B, L, native_dim)``, bool mask ``(B, L)`` and pooled ``(B, native_dim)``."""

    def forward(self, texts: List[str]) -> TextFeatures:
        if len(texts) == 0:
            raise ValueError(f'{type(self).__name__} got an empty batch of texts')
        tokens, mask, pooled = self.forward_native(list(texts))
        return TextFeatures(tokens=self.adapter(tokens), mask=mask, pooled=self.adapter(pooled))

    def encode_text(self, texts: List[str], normalize: bool = False) -> torch.Tensor:
        """Pooled embedding (open_clip-style convenience)."""
        pooled = self(texts).pooled
        return nn.functional.normalize(pooled, dim=-1) if normalize else pooled

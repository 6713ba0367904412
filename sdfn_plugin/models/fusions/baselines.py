"""Single-modality and concatenation baselines (TIRG paper, Sec. 4 "Baselines").

* ``ImageOnly``: the query is the reference image feature (the text is ignored).
* ``TextOnly``: the query is the text feature (the reference image is ignored).
* ``Concat``: an MLP on ``[phi_x; phi_t]`` -- TIRG's residual branch alone.
"""
import torch
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import FusionOutput, ImageFeatures, TextFeatures

from .base import BaseFusion


@MODELS.register_module()
class ImageOnly(BaseFusion):
    """Query = pooled reference image feature (needs ``embed_dim == image_dim``)."""

    def __init__(self, image_dim: int = 512, text_dim: int = 512, embed_dim: int = 512) -> None:
        super().__init__(image_dim, text_dim, embed_dim)
        if embed_dim != image_dim:
            raise ValueError(f'ImageOnly needs embed_dim == image_dim, got {embed_dim} and {image_dim}')

    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        return FusionOutput(query=img.pooled)


@MODELS.register_module()
class TextOnly(BaseFusion):
    """Query = sentence feature, linearly projected when ``text_dim != embed_dim``."""

    def __init__(self, image_dim: int = 512, text_dim: int = 512, embed_dim: int = 512) -> None:
        super().__init__(image_dim, text_dim, embed_dim)
        self.proj = nn.Identity() if text_dim == embed_dim else nn.Linear(text_dim, embed_dim)

    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        return FusionOutput(query=self.proj(txt.pooled))


@MODELS.register_module()
class Concat(BaseFusion):
    """``Linear(ReLU(Linear(ReLU(BN([phi_x; phi_t])))))`` to ``embed_dim``."""

    def __init__(self, image_dim: int = 512, text_dim: int = 512, embed_dim: int = 512) -> None:
        super().__init__(image_dim, text_dim, embed_dim)
        z = image_dim + text_dim
        self.mlp = nn.Sequential(nn.BatchNorm1d(z), nn.ReLU(), nn.Linear(z, z), nn.ReLU(),
                                 nn.Linear(z, embed_dim))

    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        return FusionOutput(query=self.mlp(torch.cat([img.pooled, txt.pooled], dim=-1)))

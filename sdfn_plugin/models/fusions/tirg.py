"""TIRG: Text Image Residual Gating.

Vo et al., "Composing Text and Image for Image Retrieval - An Empirical
Odyssey", CVPR 2019 (google/tirg ``img_text_composition_models.TIRG``), Eq. 1-3:

    z = [phi_x; phi_t]
    gate     = sigmoid(Linear(ReLU(BN(z))))
    residual = Linear(ReLU(Linear(ReLU(BN(z)))))
    f = w_g * (gate * phi_x) + w_r * residual,   (w_g, w_r) learnable, init (1, 10)

Deviation: the official code allocates a 4-vector ``[1, 10, 1, 1]`` of which
only the first two entries are used; we keep just the two.
"""
import torch
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import FusionOutput, ImageFeatures, TextFeatures

from .base import BaseFusion


@MODELS.register_module()
class TIRG(BaseFusion):
    """Gated residual composition on pooled features (``embed_dim == image_dim``).

    Args:
        image_dim: pooled image feature size (= embed_dim; the gate multiplies phi_x).
        text_dim: pooled text feature size.
        weight_init: initial ``(w_g, w_r)``.
    """

    def __init__(self, image_dim: int = 512, text_dim: int = 512, embed_dim: int = 512,
                 weight_init: tuple = (1.0, 10.0)) -> None:
        super().__init__(image_dim, text_dim, embed_dim)
        if embed_dim != image_dim:
            raise ValueError(f'TIRG needs embed_dim == image_dim (the gate scales the image feature), '
                             f'got embed_dim={embed_dim}, image_dim={image_dim}')
        z = image_dim + text_dim
        self.gate = nn.Sequential(nn.BatchNorm1d(z), nn.ReLU(), nn.Linear(z, image_dim))
        self.residual = nn.Sequential(nn.BatchNorm1d(z), nn.ReLU(), nn.Linear(z, z), nn.ReLU(),
                                      nn.Linear(z, image_dim))
        self.weights = nn.Parameter(torch.tensor([float(w) for w in weight_init]))

    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        x = img.pooled
        z = torch.cat([x, txt.pooled], dim=-1)
        gate = torch.sigmoid(self.gate(z))
        query = self.weights[0] * gate * x + self.weights[1] * self.residual(z)
        return FusionOutput(query=query, aux={'gate': gate})

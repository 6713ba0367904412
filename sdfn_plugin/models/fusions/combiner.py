"""CLIP4Cir Combiner: projected text/image features, a learned residual and a dynamic mixing gate.

Baldrati et al., "Effective Conditioned and Composed Image Retrieval Combining
CLIP-Based Features", CVPR 2022 (and "Conditioned and Composed Image Retrieval
Combining and Partially Fine-Tuning CLIP-Based Features", CVPRW 2022), Fig. 2;
official code ``ABaldrati/CLIP4Cir`` ``src/combiner.py`` (``docs/zoo.md``,
CLIP4Cir Combiner). With image feature ``i``, text feature ``t`` and dropout 0.5 everywhere::

    p_t = Drop(ReLU(Lin_t(t))) ,  p_i = Drop(ReLU(Lin_i(i))) ,  c = [p_t ; p_i]
    h      = Drop(ReLU(Lin_c(c)))                               # combiner branch
    lambda = sigmoid(Lin_2(Drop(ReLU(Lin_1(c)))))               # dynamic scalar branch
    query  = normalize(Lin_o(h) + lambda * t + (1 - lambda) * i)

Trained with cross-entropy over ``100 * cos(q, target)`` (fixed logit scale:
``BatchClassificationLoss(scale=100)`` with a ``CosineScorer``).

Deviation from the official code, so the block works on any encoder pair: when
``text_dim`` (or ``image_dim``) differs from ``embed_dim`` the residual term
``t`` (or ``i``) is first mapped by a Linear layer to ``embed_dim``; the
official Combiner requires one CLIP feature size for both (then no extra layer
exists, as here). ``projection_dim``/``hidden_dim`` default to the official
RN50x4 ratios (640 -> 2560 -> 5120, i.e. 4x and 8x ``embed_dim``).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import FusionOutput, ImageFeatures, TextFeatures

from .base import BaseFusion


def _residual_map(in_dim: int, out_dim: int) -> nn.Module:
    return nn.Identity() if in_dim == out_dim else nn.Linear(in_dim, out_dim)


@MODELS.register_module()
class Combiner(BaseFusion):
    """Args:
        image_dim, text_dim: pooled input feature sizes.
        embed_dim: query size (the gallery feature size for cosine scoring).
        projection_dim: P (default ``4 * embed_dim``).
        hidden_dim: H (default ``8 * embed_dim``).
        dropout: dropout probability of every dropout layer (official 0.5).
    """

    def __init__(self, image_dim: int = 640, text_dim: int = 640, embed_dim: int = 640,
                 projection_dim: Optional[int] = None, hidden_dim: Optional[int] = None,
                 dropout: float = 0.5) -> None:
        super().__init__(image_dim, text_dim, embed_dim)
        projection_dim = 4 * embed_dim if projection_dim is None else projection_dim
        hidden_dim = 8 * embed_dim if hidden_dim is None else hidden_dim
        for name, value in (('projection_dim', projection_dim), ('hidden_dim', hidden_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'Combiner.{name} must be a positive int, got {value!r}')
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f'Combiner.dropout must be in [0, 1), got {dropout}')
        self.text_projection = nn.Linear(text_dim, projection_dim)
        self.image_projection = nn.Linear(image_dim, projection_dim)
        self.combiner_layer = nn.Linear(2 * projection_dim, hidden_dim)
        self.output_layer = nn.Linear(hidden_dim, embed_dim)
        self.dynamic_scalar = nn.Sequential(nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(),
                                            nn.Dropout(dropout), nn.Linear(hidden_dim, 1), nn.Sigmoid())
        self.dropout = nn.Dropout(dropout)  # stateless, so one module serves the three official dropouts
        self.text_residual = _residual_map(text_dim, embed_dim)
        self.image_residual = _residual_map(image_dim, embed_dim)

    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        t, i = txt.pooled, img.pooled
        p_t = self.dropout(F.relu(self.text_projection(t)))
        p_i = self.dropout(F.relu(self.image_projection(i)))
        c = torch.cat([p_t, p_i], dim=-1)
        h = self.dropout(F.relu(self.combiner_layer(c)))
        lam = self.dynamic_scalar(c)
        out = self.output_layer(h) + lam * self.text_residual(t) + (1 - lam) * self.image_residual(i)
        return FusionOutput(query=F.normalize(out, dim=-1), aux={'gate': lam.squeeze(-1)})

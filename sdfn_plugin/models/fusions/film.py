"""FiLM: feature-wise linear modulation of the image feature map by the text.

Perez et al., "FiLM: Visual Reasoning with a General Conditioning Layer",
AAAI 2018, Eq. 1-2, used as a composition baseline in TIRG (Vo et al.,
CVPR 2019, Sec. 4) and in later CIR tables (``docs/zoo.md``, FiLM)::

    gamma = W_g phi_t + b_g ,   beta = W_b phi_t + b_b
    Y_n   = gamma * X_n + beta          # every region token n, channel-wise
    query = pool(Y)

No public CIR repository implements this baseline, so the pooling is ours:
``'mean'`` averages the modulated tokens (for a mean-pooled CNN encoder this
equals FiLM on the pooled vector, since the modulation is affine per channel);
``'flatten'`` applies a Linear over the whole flattened modulated map (the
position-aware head of the synthetic-benchmark encoder, with its own weights).
"""
from typing import Optional, Tuple

import torch
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import FusionOutput, ImageFeatures, TextFeatures

from .base import BaseFusion

POOLS: Tuple[str, ...] = ('mean', 'flatten')


def check_token_dim(name: str, img: ImageFeatures, image_dim: int) -> None:
    """Clear error when the region tokens do not have ``image_dim`` channels."""
    if img.tokens.dim() != 3 or img.tokens.shape[-1] != image_dim:
        raise ValueError(f'{name} expects region tokens (B, N, image_dim={image_dim}), got '
                         f'{tuple(img.tokens.shape)}; set fusion.image_dim to the encoder out_dim')


@MODELS.register_module()
class FiLM(BaseFusion):
    """Text-conditioned scale and shift of the region tokens, then pooling.

    Args:
        image_dim: channels of the region tokens (the encoder ``out_dim``).
        text_dim: sentence feature size.
        embed_dim: query size; ``pool='mean'`` needs ``embed_dim == image_dim``.
        pool: ``'mean'`` or ``'flatten'`` (see module docstring).
        num_tokens: number of region tokens N, required by ``pool='flatten'``.

    ``gamma``'s bias starts at 1 (and ``beta``'s at 0), so a fresh block is close
    to the identity on the image feature (our initialisation; the FiLM paper
    predicts gamma directly and is silent on its initial value).
    """

    def __init__(self, image_dim: int = 512, text_dim: int = 512, embed_dim: int = 512, pool: str = 'mean',
                 num_tokens: Optional[int] = None) -> None:
        super().__init__(image_dim, text_dim, embed_dim)
        if pool not in POOLS:
            raise ValueError(f'FiLM.pool must be one of {POOLS}, got {pool!r}')
        if pool == 'mean' and embed_dim != image_dim:
            raise ValueError(f"FiLM(pool='mean') needs embed_dim == image_dim, got embed_dim={embed_dim}, "
                             f'image_dim={image_dim}')
        if pool == 'flatten' and (not isinstance(num_tokens, int) or num_tokens < 1):
            raise ValueError(f"FiLM(pool='flatten') needs num_tokens (number of region tokens), got {num_tokens!r}")
        self.pool = pool
        self.num_tokens = num_tokens
        self.gamma = nn.Linear(text_dim, image_dim)
        self.beta = nn.Linear(text_dim, image_dim)
        with torch.no_grad():
            self.gamma.bias.fill_(1.0)
            self.beta.bias.zero_()
        self.head = nn.Linear(num_tokens * image_dim, embed_dim) if pool == 'flatten' else None

    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        check_token_dim('FiLM', img, self.image_dim)
        x = img.tokens
        gamma, beta = self.gamma(txt.pooled), self.beta(txt.pooled)
        y = gamma.unsqueeze(1) * x + beta.unsqueeze(1)
        if self.head is None:
            query = y.mean(dim=1)
        else:
            if x.shape[1] != self.num_tokens:
                raise ValueError(f'FiLM.num_tokens={self.num_tokens} but the encoder gives {x.shape[1]} tokens')
            query = self.head(y.flatten(1))
        return FusionOutput(query=query, aux={'gamma': gamma, 'beta': beta})

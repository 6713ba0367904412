"""SDFN routers: Modality Specific Routers (MSR), the shared router (SR) and
uniform routing (the Baseline).

SDFN (arXiv 2405.15451) gives every operation module an image router
and a text router whose probabilities are combined; the ablation's SR is one
modality-agnostic router per module (AMC's router input, KevinLight831/AMC).
Reconstruction and defaults: ``docs/sdfn.md`` (Routing).

Every router maps ``(x (B, N, C), txt)`` to a dict of **logits** ``(B, num_out)``:

* :class:`ModalitySpecificRouter` -> ``{'img': z_img, 'txt': z_txt}``
* :class:`SharedRouter`           -> ``{'shared': z}``
* :class:`UniformRouter`          -> ``{'uniform': 0}`` (no parameters)

:func:`route_probs` turns (stacked) logits into probabilities with the chosen
combination. The last Linear layer of every router is zero-initialised, so a
fresh network routes uniformly (= the Baseline); :meth:`init_weights` restores
this after a parent ``init_cfg`` has re-initialised all Linear layers.
"""
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import TextFeatures

__all__ = ['COMBINES', 'ROUTER_INPUTS', 'ROUTERS', 'ImageRouter', 'TextRouter', 'SharedRouter',
           'ModalitySpecificRouter', 'UniformRouter', 'combine_probs', 'fused_logits', 'route_probs']

COMBINES: Tuple[str, ...] = ('mean', 'product', 'logit_mean')
ROUTER_INPUTS: Tuple[str, ...] = ('input', 'output')
ROUTERS: Tuple[str, ...] = ('msr', 'shared', 'none')


def _zero_(layer: nn.Linear) -> None:
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def token_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over the token axis of ``(B, N, C)`` (region tokens have no padding)."""
    return x.mean(dim=1)


class _RouterBase(nn.Module):
    """Shared bits: ``num_out`` logits, a zero-initialised ``self.head``.

    :class:`ImageRouter` and :class:`TextRouter` return a logit tensor (they are
    the two halves of :class:`ModalitySpecificRouter`); the per-module routers
    (:class:`ModalitySpecificRouter`, :class:`SharedRouter`,
    :class:`UniformRouter`) return a logit dict.
    """

    head: nn.Linear

    def __init__(self, dim: int, num_out: int, hidden_dim: int) -> None:
        super().__init__()
        for name, value in (('dim', dim), ('num_out', num_out), ('hidden_dim', hidden_dim)):
            if value < 1:
                raise ValueError(f'{type(self).__name__}.{name} must be >= 1, got {value}')
        self.dim, self.num_out, self.hidden_dim = dim, num_out, hidden_dim

    def init_weights(self) -> None:
        """Zero the last layer: uniform routing at initialisation."""
        _zero_(self.head)


@MODELS.register_module()
class ImageRouter(_RouterBase):
    """Image router: ``mean_n x -> Linear(C, H, no bias) -> LN -> ReLU -> Linear(H, num_out)``.

    AMC's router shape restricted to the image part (doc Sec. 4.2). ``x`` is the
    module's input (default) or output tokens.
    """

    def __init__(self, dim: int, num_out: int, hidden_dim: int) -> None:
        super().__init__(dim, num_out, hidden_dim)
        self.body = nn.Sequential(nn.Linear(dim, hidden_dim, bias=False), nn.LayerNorm(hidden_dim),
                                  nn.ReLU())
        self.head = nn.Linear(hidden_dim, num_out)
        self.init_weights()

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> torch.Tensor:
        return self.head(self.body(token_mean(x)))


@MODELS.register_module()
class TextRouter(_RouterBase):
    """Text router: masked additive attention pooling over the words
    (``score_k = v^T tanh(A w_k)``, softmax over valid words; Bahdanau et al.,
    ICLR 2015), concatenated with the sentence feature ``s``, then
    ``Linear(2C, H) -> ReLU -> Linear(H, num_out)``. The attention's hidden
    size is ``H`` as well (paper silent). Ignores ``x``.
    """

    def __init__(self, dim: int, num_out: int, hidden_dim: int) -> None:
        super().__init__(dim, num_out, hidden_dim)
        self.att_proj = nn.Linear(dim, hidden_dim)  # A
        self.att_score = nn.Linear(hidden_dim, 1, bias=False)  # v
        self.body = nn.Sequential(nn.Linear(2 * dim, hidden_dim), nn.ReLU())
        self.head = nn.Linear(hidden_dim, num_out)
        self.init_weights()

    def pool_words(self, txt: TextFeatures) -> torch.Tensor:
        """Attention-pooled word feature ``(B, C)``; padded words get weight 0."""
        valid = txt.mask.to(device=txt.tokens.device, dtype=torch.bool)
        words = txt.tokens.masked_fill(~valid.unsqueeze(-1), 0.0)  # padded features may be anything
        score = self.att_score(torch.tanh(self.att_proj(words))).squeeze(-1).float()
        weight = torch.softmax(score.masked_fill(~valid, float('-inf')), dim=-1)
        weight = torch.nan_to_num(weight, nan=0.0)  # a caption without valid words pools to 0
        return torch.einsum('bl,blc->bc', weight.to(words.dtype), words)

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> torch.Tensor:
        feat = torch.cat([self.pool_words(txt), txt.pooled.to(txt.tokens.dtype)], dim=-1)
        return self.head(self.body(feat))


@MODELS.register_module()
class SharedRouter(_RouterBase):
    """SR (modality-agnostic, ablation): ``[mean_n x ; s] -> Linear(2C, H, no bias)
    -> LN -> ReLU -> Linear(H, num_out)`` (AMC's router input, doc Sec. 4.5)."""

    def __init__(self, dim: int, num_out: int, hidden_dim: int) -> None:
        super().__init__(dim, num_out, hidden_dim)
        self.body = nn.Sequential(nn.Linear(2 * dim, hidden_dim, bias=False), nn.LayerNorm(hidden_dim),
                                  nn.ReLU())
        self.head = nn.Linear(hidden_dim, num_out)
        self.init_weights()

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> Dict[str, torch.Tensor]:
        feat = torch.cat([token_mean(x), txt.pooled.to(x.dtype)], dim=-1)
        return {'shared': self.head(self.body(feat))}


@MODELS.register_module()
class ModalitySpecificRouter(nn.Module):
    """MSR: an :class:`ImageRouter` and a :class:`TextRouter` for one module.

    Returns both logit vectors; :func:`route_probs` combines them.
    """

    def __init__(self, dim: int, num_out: int, hidden_dim: int) -> None:
        super().__init__()
        self.image = ImageRouter(dim, num_out, hidden_dim)
        self.text = TextRouter(dim, num_out, hidden_dim)

    def init_weights(self) -> None:
        self.image.init_weights()
        self.text.init_weights()

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> Dict[str, torch.Tensor]:
        return {'img': self.image(x, txt), 'txt': self.text(x, txt)}


@MODELS.register_module()
class UniformRouter(nn.Module):
    """Baseline routing: constant zero logits, i.e. ``p = 1 / num_out``; no parameters."""

    def __init__(self, dim: int, num_out: int, hidden_dim: Optional[int] = None) -> None:
        super().__init__()
        self.num_out = num_out

    def init_weights(self) -> None:
        pass

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> Dict[str, torch.Tensor]:
        return {'uniform': x.new_zeros(x.shape[0], self.num_out, dtype=torch.float32)}


def combine_probs(z_img: torch.Tensor, z_txt: torch.Tensor, combine: str = 'mean',
                  temperature: float = 1.0) -> torch.Tensor:
    """Combine image and text logits into one distribution over the last axis.

    * ``'mean'``: ``(softmax(z_img/T) + softmax(z_txt/T)) / 2`` (doc default).
    * ``'product'``: normalised product of experts
      ``softmax(z_img/T) * softmax(z_txt/T) / sum(...) = softmax((z_img + z_txt)/T)``.
    * ``'logit_mean'``: ``softmax((z_img + z_txt) / (2T))``.

    Computed in float32 (AMP-safe).
    """
    if combine not in COMBINES:
        raise ValueError(f'combine must be one of {COMBINES}, got {combine!r}')
    z_img, z_txt = z_img.float(), z_txt.float()
    if combine == 'mean':
        return 0.5 * (torch.softmax(z_img / temperature, dim=-1) + torch.softmax(z_txt / temperature, dim=-1))
    return torch.softmax(fused_logits(z_img, z_txt, combine) / temperature, dim=-1)


def fused_logits(z_img: torch.Tensor, z_txt: torch.Tensor, combine: str) -> Optional[torch.Tensor]:
    """Single logits whose (tempered) softmax equals :func:`combine_probs` for
    ``'product'`` / ``'logit_mean'``; ``None`` for ``'mean'`` (no such logits)."""
    if combine == 'product':
        return z_img.float() + z_txt.float()
    if combine == 'logit_mean':
        return 0.5 * (z_img.float() + z_txt.float())
    return None


def route_probs(logits: Dict[str, torch.Tensor], combine: str = 'mean') -> torch.Tensor:
    """Probabilities (softmax over the last axis) from a router's logit dict.

    ``{'img', 'txt'}`` are combined with ``combine``; a single entry
    (``'shared'`` or ``'uniform'``) is a plain softmax.
    """
    if 'img' in logits and 'txt' in logits:
        return combine_probs(logits['img'], logits['txt'], combine)
    if len(logits) != 1:
        raise KeyError(f'route_probs: expected keys img+txt or a single entry, got {sorted(logits)}')
    return torch.softmax(next(iter(logits.values())).float(), dim=-1)

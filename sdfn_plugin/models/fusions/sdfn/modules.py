"""SDFN operation modules (JRM, CAM, GTM, RCM).

Wu et al., "Self-Distilled Dynamic Fusion Network for Language-based Fashion
Retrieval", ICASSP 2024 (arXiv 2405.15451), operation modules, reconstructed in
``docs/sdfn.md`` (Operation modules). Where the paper is silent the modules follow
the cells of AMC (Zhu et al., TOMM 2023, KevinLight831/AMC: GlobalCell ~ JRM,
StyleCell ~ GTM, Rescell ~ RCM) and DIME's cross-modal refinement cell
(Qu et al., SIGIR 2021, LgQu/DIME ~ CAM). The code is our own.

Every module has the same small interface::

    forward(x: (B, N, C) region tokens, txt: TextFeatures) -> (B, N, C)

Notation: ``LN`` = LayerNorm with affine parameters, ``LN°`` = LayerNorm
without them, ``[a; b]`` = concatenation along the feature axis.
"""
from typing import Tuple

import torch
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import TextFeatures

__all__ = ['SDFNModule', 'JRM', 'CAM', 'GTM', 'RCM', 'MODULE_TYPES']

JRM_CONCATS: Tuple[str, ...] = ('feature', 'token')
RCM_MODES: Tuple[str, ...] = ('ln', 'identity', 'relu')


def _check_heads(cls: str, dim: int, num_heads: int) -> None:
    if num_heads < 1 or dim % num_heads:
        raise ValueError(f'{cls}: num_heads={num_heads} must be >= 1 and divide the feature size {dim}')


class SDFNModule(nn.Module):
    """Base class of the operation modules: ``forward(x, txt) -> same shape as x``.

    Args:
        dim: feature size C shared by region tokens and text features.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f'{type(self).__name__}.dim must be >= 1, got {dim}')
        self.dim = dim

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


@MODELS.register_module()
class JRM(SDFNModule):
    """Joint Reasoning Module: region-sentence fusion by self-attention (Eq. 1).

    Default (``concat='feature'``, ``residual=False``; exactly AMC's GlobalCell)::

        Z = [X ; 1_N s^T] A_J          # Linear 2C -> C with bias
        H = MHA_self(LN_1(Z))          # no residual around the attention
        O = LN°(H + FFN(LN_2(H)))      # FFN: C -> ffn_ratio*C -> C, ReLU

    Args:
        dim: feature size C.
        num_heads: attention heads.
        ffn_ratio: FFN hidden size as a fraction of C (AMC: 0.5).
        concat: ``'feature'`` appends ``s`` to every region (A_J: 2C -> C);
            ``'token'`` appends ``s`` as an extra (N+1-th) token (A_J: C -> C),
            the sentence token is dropped after the FFN so the output keeps N tokens.
        residual: add ``Z +`` around the attention (``H = Z + MHA(LN_1(Z))``).

    With ``concat='feature'`` A_J is stored as its two row blocks,
    ``proj_regions`` (A_x, acting on X, no bias) and ``proj_sentence`` (A_s and
    A_J's bias): ``[X ; 1_N s^T] A_J = X A_x + 1_N (s A_s + b)``, so the sentence
    half is projected once per query instead of once per region. Both blocks
    are initialised as the one ``Linear(2C, C)`` would be (bound ``1/sqrt(2C)``),
    and a checkpoint holding the concatenated ``proj.weight`` / ``proj.bias``
    loads into them.
    """

    def __init__(self, dim: int, num_heads: int = 8, ffn_ratio: float = 0.5, concat: str = 'feature',
                 residual: bool = False) -> None:
        super().__init__(dim)
        _check_heads('JRM', dim, num_heads)
        if concat not in JRM_CONCATS:
            raise ValueError(f'JRM.concat must be one of {JRM_CONCATS}, got {concat!r}')
        hidden = int(round(dim * ffn_ratio))
        if hidden < 1:
            raise ValueError(f'JRM.ffn_ratio={ffn_ratio} gives an empty FFN for dim={dim}')
        self.concat = concat
        self.residual = bool(residual)
        if concat == 'feature':
            # separate blocks rather than slices of one weight: slicing costs a zero-filled (C, 2C) gradient
            # buffer and two copies per step in the backward
            self.proj_regions = nn.Linear(dim, dim, bias=False)  # A_x
            self.proj_sentence = nn.Linear(dim, dim)  # A_s, b
            bound = (2 * dim) ** -0.5  # nn.Linear(2C, C)'s default init
            for param in (self.proj_regions.weight, self.proj_sentence.weight, self.proj_sentence.bias):
                nn.init.uniform_(param, -bound, bound)
        else:
            self.proj = nn.Linear(dim, dim)  # A_J
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.norm_out = nn.LayerNorm(dim, elementwise_affine=False)

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> torch.Tensor:
        n = x.shape[1]
        s = txt.pooled.to(x.dtype)
        if self.concat == 'feature':
            z = self.proj_regions(x) + self.proj_sentence(s).unsqueeze(1)
        else:
            z = self.proj(torch.cat([x, s.unsqueeze(1)], dim=1))
        y = self.norm_attn(z)
        h = self.attn(y, y, y, need_weights=False)[0]
        if self.residual:
            h = z + h
        out = self.norm_out(h + self.ffn(self.norm_ffn(h)))
        return out[:, :n]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # checkpoints written before A_J was split hold it as one Linear(2C, C): proj.weight (C, 2C), proj.bias
        weight, bias = prefix + 'proj.weight', prefix + 'proj.bias'
        if self.concat == 'feature' and weight in state_dict and prefix + 'proj_regions.weight' not in state_dict:
            regions, sentence = state_dict.pop(weight).split(self.dim, dim=1)
            state_dict[prefix + 'proj_regions.weight'] = regions
            state_dict[prefix + 'proj_sentence.weight'] = sentence
            if bias in state_dict:
                state_dict[prefix + 'proj_sentence.bias'] = state_dict.pop(bias)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


@MODELS.register_module()
class CAM(SDFNModule):
    """Cross Attention Module: regions attend to the (valid) words (Eq. 2)::

        O = LN(X + MHA(Q = X W_q, K = W W_k, V = W W_v, key_padding_mask = padded words))

    ``W_q, W_k, W_v`` (and the output projection) are the input/output
    projections of :class:`torch.nn.MultiheadAttention`; post-norm residual, no
    FFN, no dropout (doc Sec. 3.2). A caption with no valid word contributes no
    attention output (``O = LN(X)``) instead of NaNs.

    Args:
        dim: feature size C.
        num_heads: attention heads.
    """

    def __init__(self, dim: int, num_heads: int = 8) -> None:
        super().__init__(dim)
        _check_heads('CAM', dim, num_heads)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> torch.Tensor:
        words = txt.tokens.to(x.dtype)
        valid = txt.mask.to(device=x.device, dtype=torch.bool)
        empty = ~valid.any(dim=1)  # (B,) captions without any valid word
        pad = ~valid & ~empty.unsqueeze(1)  # those attend everywhere; the result is zeroed below (no host sync)
        att = self.attn(x, words, words, key_padding_mask=pad, need_weights=False)[0]
        return self.norm(x + att.masked_fill(empty.view(-1, 1, 1), 0.0))


@MODELS.register_module()
class GTM(SDFNModule):
    """Global Transformation Module: FiLM-style modulation by the sentence::

        gamma = W_g s + b_g ;  beta = W_b s + b_b
        O = LN°(gamma * X + beta)        # broadcast over the N regions

    (doc Sec. 3.3; AMC's StyleCell; FiLM: Perez et al., AAAI 2018.) The two
    projections use PyTorch's default Linear initialisation (paper silent).

    Args:
        dim: feature size C.
    """

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.gamma = nn.Linear(dim, dim)
        self.beta = nn.Linear(dim, dim)
        self.norm_out = nn.LayerNorm(dim, elementwise_affine=False)

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> torch.Tensor:
        s = txt.pooled.to(x.dtype)
        return self.norm_out(self.gamma(s).unsqueeze(1) * x + self.beta(s).unsqueeze(1))


@MODELS.register_module()
class RCM(SDFNModule):
    """Residual Connection Module: parameter-free pass-through of the input.

    ``mode='ln'`` (default, AMC's Rescell): ``O = LN°(X)``; ``'identity'``:
    ``O = X``; ``'relu'``: ``O = ReLU(X)`` (DIME's rectified identity cell).

    Args:
        dim: feature size C (used by the LayerNorm).
        mode: one of ``'ln'``, ``'identity'``, ``'relu'``.
    """

    def __init__(self, dim: int, mode: str = 'ln') -> None:
        super().__init__(dim)
        if mode not in RCM_MODES:
            raise ValueError(f'RCM.mode must be one of {RCM_MODES}, got {mode!r}')
        self.mode = mode
        self.norm_out = nn.LayerNorm(dim, elementwise_affine=False) if mode == 'ln' else None

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> torch.Tensor:
        if self.mode == 'ln':
            return self.norm_out(x)
        if self.mode == 'relu':
            return torch.relu(x)
        return x


#: name -> class, in the paper's order; ``SDFN(modules=...)`` picks from these.
MODULE_TYPES = {'JRM': JRM, 'CAM': CAM, 'GTM': GTM, 'RCM': RCM}

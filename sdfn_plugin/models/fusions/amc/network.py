"""AMC: Adaptive Multi-expert Collaborative network (the fusion part).

Zhu et al., "AMC: Adaptive Multi-expert Collaborative Network for
Text-guided Image Retrieval", ACM TOMM 2023 (official code ``KevinLight831/AMC``:
``router.py``, ``cells.py``, ``model.py``; ``docs/zoo.md``, AMC).

Each of the ``num_layers`` (official 2) dynamic layers feeds the current region
tokens ``X`` (layer 1: the projected reference tokens ``R``) and the sentence
feature ``s`` to three cells and a router, and outputs ``sum_k p_k cell_k(X)``:

* residual cell ``LN°(X)`` (official ``Rescell``; SDFN's :class:`RCM` ``'ln'``),
* joint-reasoning cell: ``[X; s]`` -> Linear 2C->C -> pre-norm multi-head
  self-attention (no residual around it) + FFN (hidden C/2, residual) -> ``LN°``
  (official ``GlobalCell``; SDFN's :class:`JRM`),
* style cell ``LN°(X * Linear(s) + Linear(s))`` (official ``StyleCell``, FiLM on
  the regions; SDFN's :class:`GTM`),
* :class:`AMCRouter`: independent sigmoid gates ``p`` from ``mean_n [X_n; s]``.

Query = mean over regions of the last layer's output (gallery: mean of the
projected target tokens, i.e. the encoder's ``pooled``; cosine scoring).

``aux``: ``'paths'`` ``(B, num_layers, 3)`` gate values (cell order
:data:`CELL_NAMES`); ``'amc_last_input_pooled'`` ``(B, C)`` = region mean of the
last layer's input (for two layers: of the layer-1 output), which
``GramConsistencyLoss(aux_key='amc_last_input_pooled')`` concatenates with the
query for AMC's similarity-MSE term (``u = normalize([mean X^(1); mean X^(2)])``).

Deviation from the official code: the joint-reasoning cell's self-attention is
:class:`torch.nn.MultiheadAttention`, which has an output projection after the
concatenated heads; the official ``AttentionLayer`` has none. Word features are
passed to the official cells but never used, so they are not taken here.
"""
from typing import Optional, Tuple

import torch
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import FusionOutput, ImageFeatures, TextFeatures

from ..base import BaseFusion
from ..sdfn.modules import GTM, JRM, RCM
from .router import AMCRouter

__all__ = ['AMC', 'AMCLayer', 'CELL_NAMES', 'AUX_LAST_INPUT']

CELL_NAMES: Tuple[str, ...] = ('residual', 'joint_reasoning', 'style')
AUX_LAST_INPUT = 'amc_last_input_pooled'


class AMCLayer(nn.Module):
    """One dynamic layer: router + residual, joint-reasoning and style cells."""

    def __init__(self, dim: int, num_heads: int, ffn_ratio: float, router_hidden: int) -> None:
        super().__init__()
        self.router = AMCRouter(dim, len(CELL_NAMES), router_hidden)
        self.cells = nn.ModuleList([RCM(dim, mode='ln'), JRM(dim, num_heads=num_heads, ffn_ratio=ffn_ratio),
                                    GTM(dim)])

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> Tuple[torch.Tensor, torch.Tensor]:
        gates = self.router(x, txt)
        out = torch.stack([cell(x, txt) for cell in self.cells], dim=1)  # (B, 3, N, C)
        return (gates.to(out.dtype)[:, :, None, None] * out).sum(dim=1), gates


@MODELS.register_module()
class AMC(BaseFusion):
    """Args:
        image_dim, text_dim, embed_dim: must be equal (tokens, sentence and query share one space).
        num_layers: dynamic layers (official 2).
        num_heads: self-attention heads of the joint-reasoning cell (official 8).
        ffn_ratio: its FFN hidden size / C (official 0.5).
        router_hidden: router hidden size H; ``None`` -> ``embed_dim // 2`` (official 512 for 1024).
    """

    predict_aux_keys = ('paths', )

    def __init__(self, image_dim: int = 1024, text_dim: int = 1024, embed_dim: int = 1024, num_layers: int = 2,
                 num_heads: int = 8, ffn_ratio: float = 0.5, router_hidden: Optional[int] = None) -> None:
        super().__init__(image_dim, text_dim, embed_dim)
        if not image_dim == text_dim == embed_dim:
            raise ValueError(f'AMC needs image_dim == text_dim == embed_dim (cells mix region tokens and the '
                             f'sentence feature), got {image_dim}, {text_dim}, {embed_dim}')
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f'AMC.num_layers must be a positive int, got {num_layers!r}')
        router_hidden = embed_dim // 2 if router_hidden is None else router_hidden
        self.layers = nn.ModuleList(
            [AMCLayer(embed_dim, num_heads, ffn_ratio, router_hidden) for _ in range(num_layers)])

    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        x = img.tokens
        if x.dim() != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f'AMC expects region tokens (B, N, {self.embed_dim}), got {tuple(x.shape)}')
        gates = []
        for layer in self.layers:
            last_input = x
            x, g = layer(x, txt)
            gates.append(g)
        return FusionOutput(query=x.mean(dim=1),
                            aux={'paths': torch.stack(gates, dim=1), AUX_LAST_INPUT: last_input.mean(dim=1)})

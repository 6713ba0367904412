"""AMC's router: one per layer, independent sigmoid gates over the cells.

Zhu et al., "AMC: Adaptive Multi-expert Collaborative Network for
Text-guided Image Retrieval", ACM TOMM 2023 (official code ``KevinLight831/AMC`` ``cells.py::Router``)::

    p = sigmoid(W_2 ReLU(LN(W_1 mean_n [X_n ; s])))     # W_1: 2C -> H, W_2: H -> n_cells, no biases

The gates are independent (no softmax): several cells can be fully on at once.
Same input and body as SDFN's shared router (whose head is zero-initialised
and softmax-normalised); here the head has no bias and keeps PyTorch's default
initialisation, as in the official code.
"""
import torch
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import TextFeatures

from ..sdfn.routers import SharedRouter

__all__ = ['AMCRouter']


@MODELS.register_module()
class AMCRouter(SharedRouter):
    """Args:
        dim: feature size C of the region tokens and the sentence feature.
        num_out: number of cells gated.
        hidden_dim: H (official 512 for C = 1024).

    ``forward(x (B, N, C), txt) -> (B, num_out)`` gate values in (0, 1).
    """

    def __init__(self, dim: int, num_out: int = 3, hidden_dim: int = 512) -> None:
        super().__init__(dim, num_out, hidden_dim)
        self.head = nn.Linear(hidden_dim, num_out, bias=False)

    def init_weights(self) -> None:
        """Keep the default initialisation (SDFN's routers zero their head here)."""

    def logits(self, x: torch.Tensor, txt: TextFeatures) -> torch.Tensor:
        return super().forward(x, txt)['shared']

    def forward(self, x: torch.Tensor, txt: TextFeatures) -> torch.Tensor:  # type: ignore[override]
        return torch.sigmoid(self.logits(x, txt))

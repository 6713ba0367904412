"""Gram-matrix consistency loss of SDFN.

SDFN (Wu et al., ICASSP 2024, arXiv 2405.15451) Eq. 5-6 aligns the pairwise
similarity structure of the fused query side with that of the targets. The
formula is not legible in the text version of the paper; we follow AMC's
similarity-MSE (Zhu et al., TOMM 2023, KevinLight831/AMC) as reconstructed in
``docs/sdfn.md`` (Objective)::

    z_i = sum_m mean_n X_m^(K)[n]       # SDFN aux 'last_inputs_pooled_sum'
    u_i = normalize([z_i ; q_i])        # q: the composed query (pooled last-layer output)
    v_i = normalize(t_i)                # t: the target embedding
    L_c = (1/B^2) sum_ij (u_i.u_j - v_i.v_j)^2

``mode='sum'``: ``MSE(G(z), G(t)) + MSE(G(q), G(t))`` with the cosine Gram
matrix ``G(x)_ij = x_i.x_j / (|x_i| |x_j|)``. Gradients flow into both sides.

Distributed: with ``gather=True`` (default) ``z``, ``q`` and ``t`` of all ranks
are all-gathered (gradients for the local part), so every rank computes the
loss of the global batch and the value does not change with the GPU count
(AMC's and SDFN's official code run on one GPU, where the batch is global).
"""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import CIRDataSample, QueryBatch

from ..scorers import BaseScorer
from .base import BaseCIRLoss
from .batch_classification import gather_with_grad

__all__ = ['GramConsistencyLoss', 'cosine_gram']

_MODES = ('concat', 'sum')
AUX_KEY = 'last_inputs_pooled_sum'


def cosine_gram(x: torch.Tensor) -> torch.Tensor:
    """``(B, B)`` cosine-similarity matrix of the rows of ``x`` (float32)."""
    x = F.normalize(x.float(), dim=-1)
    return x @ x.t()


@MODELS.register_module()
class GramConsistencyLoss(BaseCIRLoss):
    """Args:
        mode: ``'concat'`` (default, Gram of ``[z; q]`` vs Gram of ``t``) or
            ``'sum'`` (two Gram MSEs, ``z`` vs ``t`` and ``q`` vs ``t``).
        aux_key: the fusion aux entry holding ``z``.
        loss_weight: lambda_c.
        gather: under torch.distributed, compute the Gram matrices over the
            batches of all ranks (see module docstring).

    Output: ``loss_consistency``.
    """

    def __init__(self, mode: str = 'concat', aux_key: str = AUX_KEY, loss_weight: float = 1.0,
                 gather: bool = True) -> None:
        super().__init__(loss_weight)
        if mode not in _MODES:
            raise ValueError(f'GramConsistencyLoss.mode must be one of {_MODES}, got {mode!r}')
        self.mode = mode
        self.aux_key = aux_key
        self.gather = gather

    def forward(self, query: QueryBatch, target: torch.Tensor, scorer: BaseScorer,
                data_samples: Optional[List[CIRDataSample]] = None) -> Dict[str, torch.Tensor]:
        if self.aux_key not in query.aux:
            raise KeyError(f"GramConsistencyLoss needs aux[{self.aux_key!r}] (the summed pooled inputs of the last "
                           f'fusion layer, provided by the SDFN fusion); this fusion\'s aux has keys '
                           f'{sorted(query.aux)}')
        z, q = query.aux[self.aux_key], query.query
        if z.shape != q.shape or target.shape[0] != q.shape[0]:
            raise ValueError(f'GramConsistencyLoss: shapes z {tuple(z.shape)}, q {tuple(q.shape)}, '
                             f't {tuple(target.shape)} do not match')
        if self.gather:  # identity outside torch.distributed
            z, q, target = gather_with_grad(z), gather_with_grad(q), gather_with_grad(target)
        g_t = cosine_gram(target)
        if self.mode == 'concat':
            loss = F.mse_loss(cosine_gram(torch.cat([z.float(), q.float()], dim=-1)), g_t)
        else:
            loss = F.mse_loss(cosine_gram(z), g_t) + F.mse_loss(cosine_gram(q), g_t)
        return {'loss_consistency': self.loss_weight * loss}

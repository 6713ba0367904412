"""Batch-based classification loss (in-batch softmax over query->target scores).

TIRG (Vo et al., CVPR 2019, "batch-based classification"), also used by
CoSMo, AMC, ARTEMIS, CLIP4Cir and SDFN (Eq. of L_bbc): logits
``L_ij = scale * score(q_i, t_j)``, cross-entropy with labels ``i``.

Scale parametrisations (``docs/zoo.md``, Classification-loss scale per method):
``'linear'`` -> s (AMC/SDFN 10, CLIP4Cir 100), ``'square'`` -> s**2 (TIRG's
learnable normalisation scale, init 4 -> 16), ``'exp'`` -> exp(s) (ARTEMIS,
init ln(1/0.07)).

Distributed: with ``gather_targets=True`` the target embeddings of all ranks
are all-gathered with gradients for the local part, so each query keeps
``B * world_size`` candidates and the loss does not change with the GPU count.
"""
from typing import Dict, List, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import CIRDataSample, QueryBatch

from ..scorers import BaseScorer
from .base import BaseCIRLoss

_PARAM = ('linear', 'square', 'exp')


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from all ranks along dim 0; gradients flow to the local slice.

    Requires equal batch sizes on every rank (``drop_last=True`` in training).
    Returns ``x`` unchanged outside distributed runs.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather
    return torch.cat(all_gather(x), dim=0)


@MODELS.register_module()
class BatchClassificationLoss(BaseCIRLoss):
    """Args:
        scale: initial value of the scale parameter s.
        learn_scale: make s a trainable parameter.
        parametrization: how s becomes the logit multiplier, one of ``'linear'``,
            ``'square'``, ``'exp'``.
        gather_targets: all-gather targets across ranks (see module docstring).
    """

    def __init__(self, scale: float = 10.0, learn_scale: bool = False, parametrization: str = 'linear',
                 gather_targets: bool = True, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        if parametrization not in _PARAM:
            raise ValueError(f'BatchClassificationLoss.parametrization must be one of {_PARAM}, '
                             f'got {parametrization!r}')
        s = torch.tensor(float(scale))
        if learn_scale:
            self.scale = nn.Parameter(s)
        else:
            self.register_buffer('scale', s, persistent=False)
        self.parametrization = parametrization
        self.gather_targets = gather_targets

    def multiplier(self) -> torch.Tensor:
        if self.parametrization == 'square':
            return self.scale ** 2
        if self.parametrization == 'exp':
            return self.scale.exp()
        return self.scale

    def forward(self, query: QueryBatch, target: torch.Tensor, scorer: BaseScorer,
                data_samples: Optional[List[CIRDataSample]] = None) -> Dict[str, torch.Tensor]:
        offset = 0
        if self.gather_targets and dist.is_available() and dist.is_initialized():
            offset = dist.get_rank() * target.shape[0]
            target = gather_with_grad(target)
        logits = self.multiplier() * scorer.score(query, target)
        labels = torch.arange(logits.shape[0], device=logits.device) + offset
        loss = F.cross_entropy(logits.float(), labels)
        with torch.no_grad():
            acc = (logits.argmax(dim=1) == labels).float().mean()
        return {'loss_bbc': self.loss_weight * loss, 'bbc_acc': acc,
                'bbc_scale': self.multiplier().detach()}

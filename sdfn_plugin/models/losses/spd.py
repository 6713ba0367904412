"""Self Path Distillation (SPD) loss.

SDFN (Wu et al., ICASSP 2024, arXiv 2405.15451) Eq. 4: the model of the
previous epoch is the teacher; the KL divergence between its
temperature-softened path predictions and the current model's is minimised.
Temperature softening and the tau^2 factor follow Hinton et al., "Distilling
the Knowledge in a Neural Network" (2015). Reconstruction and defaults:
``docs/sdfn.md`` (Objective). The teacher is a per-sample memory
(:class:`~sdfn_plugin.models.losses.path_memory.PathMemory`) filled one epoch
earlier, so no copy of the previous network is kept.
"""
from typing import Dict, List, Optional

import torch
from mmengine import dist

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import CIRDataSample, QueryBatch, stack_sample_idx

from ..scorers import BaseScorer
from .base import BaseCIRLoss
from .path_memory import PathMemory

__all__ = ['SelfPathDistillationLoss', 'student_path_probs']


def student_path_probs(aux: Dict[str, torch.Tensor], temperature: float, owner: str = 'SelfPathDistillationLoss'
                       ) -> torch.Tensor:
    """Temperature-softened path predictions ``(B, n_dist, n_M)`` from router logits.

    * ``aux['route_logits']`` present (SR router, or MSR with ``combine='product'
      | 'logit_mean'`` where it is the fused logit): ``softmax(route_logits / tau)``;
    * else ``aux['route_logits_img']`` and ``aux['route_logits_txt']`` (MSR with
      ``combine='mean'``): ``(softmax(z_img / tau) + softmax(z_txt / tau)) / 2``.

    Computed in float32.
    """
    if 'route_logits' in aux:
        return torch.softmax(aux['route_logits'].float() / temperature, dim=-1)
    if 'route_logits_img' in aux and 'route_logits_txt' in aux:
        return 0.5 * (torch.softmax(aux['route_logits_img'].float() / temperature, dim=-1)
                      + torch.softmax(aux['route_logits_txt'].float() / temperature, dim=-1))
    raise KeyError(
        f"{owner} needs router logits in the fusion aux ('route_logits', or 'route_logits_img' and "
        f"'route_logits_txt'; provided by SDFN with router='msr' or 'shared'); got aux keys {sorted(aux)}. "
        "SDFN(router='none') has no routers, so self path distillation is undefined: drop this loss or "
        'use a router.')


def _gather(sample_idx: torch.Tensor, probs: torch.Tensor, owner: str):
    """All-gather ``(sample_idx, probs)`` from every rank (identity when not distributed).

    Assumes equal per-rank batch sizes (``drop_last=True`` in training, the
    usual DDP setting); the sizes are all-gathered first and a mismatch raises
    on every rank (so no rank is left waiting in a collective).
    """
    if dist.get_world_size() == 1:
        return sample_idx, probs
    sizes = dist.all_gather(torch.tensor([sample_idx.numel()], device=probs.device))
    sizes = [int(s.item()) for s in sizes]
    if len(set(sizes)) != 1:
        raise ValueError(f'{owner}: per-rank batch sizes differ {sizes}; the path-memory all-gather needs equal '
                         'batch sizes on every rank (set drop_last=True in the train dataloader)')
    all_idx = torch.cat(dist.all_gather(sample_idx.to(probs.device)), dim=0)
    all_probs = torch.cat(dist.all_gather(probs.contiguous()), dim=0)
    return all_idx, all_probs


@MODELS.register_module()
class SelfPathDistillationLoss(BaseCIRLoss):
    """``L_spd = tau^2 * (1/B) * sum_{i valid} mean_delta KL(q^T_{i,delta} || q^S_{i,delta})``.

    For each sample ``i`` of the batch and each of its routing distributions
    ``delta`` (9 for the default SDFN): the student ``q^S`` is the
    temperature-softened routing of the current forward (see
    :func:`student_path_probs`), the teacher ``q^T`` the row the memory holds
    for ``sample_idx_i`` from the previous epoch (detached). Samples without a
    valid teacher (all of epoch 0) contribute 0 but still count in ``B`` (so the
    loss is exactly 0 on an empty memory).

    After computing the loss (training mode only) the current detached
    softened predictions are written to the memory's ``current`` bank; the
    teacher bank only changes at :meth:`commit_epoch` (``PathMemoryHook``).
    Under ``torch.distributed`` (initialised, world size > 1) the
    ``(sample_idx, predictions)`` of all ranks are all-gathered before the write
    so every rank holds an identical memory; this assumes equal per-rank batch
    sizes and raises ``ValueError`` otherwise.

    Outputs: ``loss_spd`` (optimised) and ``spd_coverage`` (log only: fraction of
    the batch with a valid teacher).

    Args:
        temperature: tau, softening temperature (doc default 4).
        num_paths: expected path-vector length (36 for the default SDFN);
            ``None`` -> taken from the fusion by ``PathMemoryHook``/first write.
        loss_weight: lambda_spd.
    """

    def __init__(self, temperature: float = 4.0, num_paths: Optional[int] = None, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        if not temperature > 0:
            raise ValueError(f'SelfPathDistillationLoss.temperature must be > 0, got {temperature}')
        self.temperature = float(temperature)
        self.memory = PathMemory(num_paths, owner=type(self).__name__)

    # delegated so that callers need not know the submodule
    def allocate(self, num_samples: int, num_paths: Optional[int] = None) -> None:
        self.memory.allocate(num_samples, num_paths)

    def commit_epoch(self) -> None:
        self.memory.commit_epoch()

    def forward(self, query: QueryBatch, target: torch.Tensor, scorer: BaseScorer,
                data_samples: Optional[List[CIRDataSample]] = None) -> Dict[str, torch.Tensor]:
        owner = type(self).__name__
        student = student_path_probs(query.aux, self.temperature, owner)  # (B, n_dist, n)
        b, n_dist, n = student.shape
        idx = torch.as_tensor(stack_sample_idx(data_samples), dtype=torch.long, device=student.device)
        if idx.numel() != b:
            raise ValueError(f'{owner}: {idx.numel()} data_samples for a batch of {b} queries')

        teacher, valid = self.memory.read(idx)
        if self.memory.num_paths not in (0, n_dist * n):
            raise ValueError(f'{owner} memory has {self.memory.num_paths} paths per sample but the fusion gives '
                             f'{n_dist * n} (num_paths; SDFN modules/num_layers changed?)')
        valid = valid.to(student.device)
        if self.memory.num_paths == 0:  # width not fixed yet: nothing was ever written
            per_sample = student.new_zeros(b)
        else:
            t = teacher.to(device=student.device, dtype=torch.float32).reshape(b, n_dist, n)
            tiny = torch.finfo(torch.float32).tiny
            log_ratio = torch.log(t.clamp_min(tiny)) - torch.log(student.clamp_min(tiny))
            kl = torch.where(t > 0, t * log_ratio, torch.zeros_like(t)).sum(dim=-1)  # (B, n_dist)
            per_sample = kl.mean(dim=-1)
        per_sample = torch.where(valid, per_sample, torch.zeros_like(per_sample))
        loss = (self.temperature ** 2) * per_sample.sum() / max(b, 1)

        if self.training:
            all_idx, all_probs = _gather(idx, student.detach().reshape(b, -1), owner)
            self.memory.write(all_idx, all_probs)
        return {'loss_spd': self.loss_weight * loss, 'spd_coverage': valid.float().mean()}

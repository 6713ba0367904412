import math

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from sdfn_plugin.models.losses import BatchClassificationLoss, gather_with_grad
from sdfn_plugin.models.scorers import CosineScorer, DotScorer
from sdfn_plugin.structures import QueryBatch
from sdfn_plugin.testing import run_distributed


def _ce(logits, labels):
    """Cross-entropy by hand: mean of logsumexp(row) - row[label]."""
    total = 0.0
    for row, label in zip(logits, labels):
        total += math.log(sum(math.exp(v) for v in row)) - row[label]
    return total / len(logits)


def test_hand_computed_2x2_cosine():
    q = torch.tensor([[1., 0.], [0., 1.]])
    t = torch.tensor([[1., 0.], [1., 1.]])  # the cosine scorer normalises t[1] to [1, 1]/sqrt(2)
    out = BatchClassificationLoss(scale=10.0)(QueryBatch(q), t, CosineScorer())
    c = 1 / math.sqrt(2)
    # logits = 10 * [[1, c], [0, c]], labels [0, 1]
    row0 = -10 + math.log(math.exp(10) + math.exp(10 * c))
    row1 = -10 * c + math.log(math.exp(0) + math.exp(10 * c))
    expected = (row0 + row1) / 2
    # = mean(log(1 + e^(10c - 10)), log(1 + e^(-10c))) = mean(0.052074, 0.000849)
    assert expected == pytest.approx(0.0264617, abs=1e-7)
    assert out['loss_bbc'].item() == pytest.approx(expected, rel=1e-6)
    assert out['bbc_acc'].item() == 1.0
    assert out['bbc_scale'].item() == 10.0
    assert not out['bbc_scale'].requires_grad


def test_hand_computed_dot_scorer_and_accuracy():
    q = torch.tensor([[1., 2.], [0., 1.]])
    t = torch.tensor([[1., 0.], [3., 1.]])
    out = BatchClassificationLoss(scale=1.0)(QueryBatch(q), t, DotScorer())
    logits = [[1., 5.], [0., 1.]]  # row 0 prefers target 1: one of two correct
    assert out['loss_bbc'].item() == pytest.approx(_ce(logits, [0, 1]), rel=1e-6)
    assert out['bbc_acc'].item() == 0.5


@pytest.mark.parametrize('param,multiplier', [('linear', 2.0), ('square', 4.0), ('exp', math.exp(2.0))])
def test_parametrizations(param, multiplier):
    loss = BatchClassificationLoss(scale=2.0, parametrization=param)
    assert loss.multiplier().item() == pytest.approx(multiplier, rel=1e-6)
    g = torch.Generator().manual_seed(0)
    q, t = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    out = loss(QueryBatch(q), t, CosineScorer())
    logits = (multiplier * F.normalize(q, dim=1) @ F.normalize(t, dim=1).t()).tolist()
    assert out['loss_bbc'].item() == pytest.approx(_ce(logits, [0, 1, 2]), rel=1e-5)
    assert out['bbc_scale'].item() == pytest.approx(multiplier, rel=1e-6)


def test_loss_weight():
    q, t = torch.eye(2), torch.tensor([[1., 0.], [1., 1.]])
    base = BatchClassificationLoss()(QueryBatch(q), t, CosineScorer())['loss_bbc']
    weighted = BatchClassificationLoss(loss_weight=0.25)(QueryBatch(q), t, CosineScorer())['loss_bbc']
    assert weighted.item() == pytest.approx(0.25 * base.item(), rel=1e-6)
    with pytest.raises(ValueError, match='loss_weight'):
        BatchClassificationLoss(loss_weight=-1)


@pytest.mark.parametrize('param', ['linear', 'square', 'exp'])
def test_learn_scale_is_a_parameter_with_gradient(param):
    loss = BatchClassificationLoss(scale=4.0, learn_scale=True, parametrization=param)
    assert isinstance(loss.scale, nn.Parameter)
    assert [name for name, _ in loss.named_parameters()] == ['scale']
    g = torch.Generator().manual_seed(0)
    q, t = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    loss(QueryBatch(q), t, CosineScorer())['loss_bbc'].backward()
    assert loss.scale.grad is not None and loss.scale.grad.item() != 0


def test_fixed_scale_is_not_a_parameter():
    loss = BatchClassificationLoss(scale=4.0)
    assert not isinstance(loss.scale, nn.Parameter)
    assert list(loss.parameters()) == []
    assert 'scale' not in loss.state_dict()  # non-persistent buffer


@pytest.mark.parametrize('param', ['log', 'Linear', None])
def test_invalid_parametrization(param):
    with pytest.raises(ValueError, match='parametrization must be one of'):
        BatchClassificationLoss(parametrization=param)


def test_gather_with_grad_is_identity_outside_distributed():
    x = torch.randn(2, 3)
    assert gather_with_grad(x) is x


# --------------------------------------------------------------------------- distributed
SEED, B, D = 7, 2, 5


def _global_tensors():
    g = torch.Generator().manual_seed(SEED)
    return torch.randn(2 * B, D, generator=g), torch.randn(2 * B, D, generator=g)


def _distributed_loss(rank, world_size):
    torch.set_num_threads(1)
    assert dist.get_world_size() == world_size == 2
    q_all, t_all = _global_tensors()
    q = q_all[rank * B:(rank + 1) * B]
    t = t_all[rank * B:(rank + 1) * B].clone().requires_grad_(True)
    out = BatchClassificationLoss(scale=10.0)(QueryBatch(q), t, CosineScorer())
    out['loss_bbc'].backward()
    return out['loss_bbc'].item(), out['bbc_acc'].item(), t.grad.clone()


def test_distributed_gathers_targets_of_all_ranks():
    results = run_distributed(_distributed_loss, 2, timeout=120)
    q_all, t_all = _global_tensors()
    t_all.requires_grad_(True)
    logits = 10.0 * F.normalize(q_all, dim=1) @ F.normalize(t_all, dim=1).t()
    total = 0
    for rank, (loss, acc, grad) in enumerate(results):
        rows = slice(rank * B, (rank + 1) * B)
        labels = torch.arange(B) + rank * B
        expected = F.cross_entropy(logits[rows], labels)
        assert loss == pytest.approx(expected.item(), rel=1e-5)
        assert acc == (logits[rows].argmax(1) == labels).float().mean().item()
        assert grad.shape == (B, D) and grad.abs().sum() > 0
        total = total + expected
    # the local target gradient is that of the sum of both ranks' losses (all_gather backward sums)
    total.backward()
    for rank, (_, _, grad) in enumerate(results):
        torch.testing.assert_close(grad, t_all.grad[rank * B:(rank + 1) * B], rtol=1e-4, atol=1e-6)

"""Gram consistency loss (SDFN Eq. 5-6 reconstruction) against hand computations."""
import math

import pytest
import torch

from mmengine.registry import DefaultScope

from sdfn_plugin.models.fusions.sdfn import SDFN
from sdfn_plugin.models.losses.consistency import GramConsistencyLoss
from sdfn_plugin.models.scorers import CosineScorer
from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import ImageFeatures, QueryBatch, TextFeatures

KEY = 'last_inputs_pooled_sum'


def batch(z, q):
    return QueryBatch(torch.tensor(q, dtype=torch.float32), {KEY: torch.tensor(z, dtype=torch.float32)})


def test_concat_mode_hand_value():
    # u_1 = [1,0,1,0]/sqrt2, u_2 = [0,1,0,1]/sqrt2 -> G_u = I
    # v_1 = [1,0], v_2 = [1,1]/sqrt2             -> G_v off-diagonal 1/sqrt2
    # L = (2 * (1/sqrt2)^2) / 4 = 0.25
    loss = GramConsistencyLoss()
    out = loss(batch([[1, 0], [0, 1]], [[1, 0], [0, 1]]), torch.tensor([[1.0, 0.0], [1.0, 1.0]]), None)
    assert set(out) == {'loss_consistency'}
    torch.testing.assert_close(out['loss_consistency'], torch.tensor(0.25))


def test_concat_mode_matches_elementwise_formula():
    g = torch.Generator().manual_seed(0)
    z, q, t = (torch.randn(3, 2, generator=g) for _ in range(3))
    b = 3
    total = 0.0
    for i in range(b):
        for j in range(b):
            ui, uj = torch.cat([z[i], q[i]]), torch.cat([z[j], q[j]])
            gu = float(ui @ uj) / (float(ui.norm()) * float(uj.norm()))
            gv = float(t[i] @ t[j]) / (float(t[i].norm()) * float(t[j].norm()))
            total += (gu - gv) ** 2
    out = GramConsistencyLoss(loss_weight=2.0)(QueryBatch(q, {KEY: z}), t, None)['loss_consistency']
    assert math.isclose(out.item(), 2.0 * total / b ** 2, rel_tol=1e-5)


def test_sum_mode_hand_value():
    # z: G_z = I; q = t -> second term 0; t: off-diagonal 1/sqrt2 -> first term 0.25
    t = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    out = GramConsistencyLoss(mode='sum')(batch([[2, 0], [0, 3]], t.tolist()), t, None)
    torch.testing.assert_close(out['loss_consistency'], torch.tensor(0.25))


def test_zero_when_structures_agree_and_gradients_flow():
    t = torch.randn(4, 3, requires_grad=True)
    z = t.detach().clone().requires_grad_(True)
    q = (2 * t.detach()).requires_grad_(True)  # [z; q] = [t; 2t]: same cosine structure as t
    out = GramConsistencyLoss()(QueryBatch(q, {KEY: z}), t, None)['loss_consistency']
    assert out.item() < 1e-10
    z2 = torch.randn(4, 3, requires_grad=True)
    out = GramConsistencyLoss()(QueryBatch(q, {KEY: z2}), t, None)['loss_consistency']
    out.backward()
    assert out.item() > 0 and all(x.grad.abs().sum() > 0 for x in (z2, q, t))


def test_missing_aux_names_key_and_provider():
    with pytest.raises(KeyError, match=r"aux\['last_inputs_pooled_sum'\].*SDFN"):
        GramConsistencyLoss()(QueryBatch(torch.zeros(2, 3), {'gate': torch.zeros(2, 3)}), torch.zeros(2, 3), None)
    with pytest.raises(ValueError, match='mode'):
        GramConsistencyLoss(mode='cat')


def test_with_sdfn_output():
    model = SDFN(8, 8, 8, modules=('GTM', 'RCM'), num_layers=2, num_heads=2)
    x, w = torch.randn(3, 4, 8), torch.randn(3, 5, 8)
    out = model(ImageFeatures(x, x.mean(1)), TextFeatures(w, torch.ones(3, 5, dtype=torch.bool), w.max(1).values))
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        loss = MODELS.build(dict(type='GramConsistencyLoss'))
    value = loss(QueryBatch(out.query, out.aux), torch.randn(3, 8), CosineScorer())['loss_consistency']
    assert value.ndim == 0 and torch.isfinite(value)


# --------------------------------------------------------------------------- distributed
def _global_zqt():
    g = torch.Generator().manual_seed(11)
    return [torch.randn(4, 5, generator=g) for _ in range(3)]


def _distributed_gram(rank, world_size, gather):
    torch.set_num_threads(1)
    z, q, t = (x[2 * rank:2 * rank + 2].clone().requires_grad_(True) for x in _global_zqt())
    loss = GramConsistencyLoss(gather=gather)(QueryBatch(q, {'last_inputs_pooled_sum': z}), t, None)
    loss['loss_consistency'].backward()
    return loss['loss_consistency'].item(), t.grad.clone()


@pytest.mark.parametrize('gather', [True, False])
def test_distributed_gram_covers_the_global_batch(gather):
    from sdfn_plugin.testing import run_distributed
    results = run_distributed(_distributed_gram, 2, gather, timeout=120)
    z, q, t = (x.requires_grad_(True) for x in _global_zqt())
    full = GramConsistencyLoss(gather=False)(QueryBatch(q, {'last_inputs_pooled_sum': z}), t, None)
    if gather:  # both ranks see the 4x4 Gram matrices of the global batch of 4
        assert [r[0] for r in results] == pytest.approx([full['loss_consistency'].item()] * 2, rel=1e-5)
        # all_gather's backward sums both ranks' (identical) losses: the local gradient is twice the global one
        (2 * full['loss_consistency']).backward()
        for rank, (_, grad) in enumerate(results):
            torch.testing.assert_close(grad, t.grad[2 * rank:2 * rank + 2], rtol=1e-4, atol=1e-6)
    else:  # per-rank 2x2 matrices: a different value
        assert results[0][0] != pytest.approx(full['loss_consistency'].item(), rel=1e-3)

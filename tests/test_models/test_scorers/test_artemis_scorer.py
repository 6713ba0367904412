import math

import pytest
import torch
import torch.nn.functional as F

from sdfn_plugin.evaluation.topk import chunked_topk
from sdfn_plugin.models.fusions import ARTEMIS
from sdfn_plugin.models.losses import BatchClassificationLoss
from sdfn_plugin.models.scorers import ARTEMISScorer, CosineScorer
from sdfn_plugin.models.scorers.artemis import AUX_A_EM, AUX_A_IS, AUX_IS_REF
from sdfn_plugin.structures import QueryBatch

from zoo_testlib import features


def _official_broadcast(fusion, r, m, t):
    """The official broadcast EM + IS, literally: (Bq, Bt, D) tensors, l2norm after each attention."""
    m, r, t = F.normalize(m, dim=-1), F.normalize(r, dim=-1), F.normalize(t, dim=-1)
    tr_m = F.normalize(fusion.transform_m(m), dim=-1)
    a_em, a_is = fusion.attention_em(m), fusion.attention_is(m)
    em = (tr_m[:, None] * F.normalize(a_em[:, None] * t[None], dim=-1)).sum(-1)
    is_ = (F.normalize(a_is * r, dim=-1)[:, None] * F.normalize(a_is[:, None] * t[None], dim=-1)).sum(-1)
    return em + is_


def _query(tr_m, a_em, a_is, is_ref):
    return QueryBatch(tr_m, {AUX_A_EM: a_em, AUX_A_IS: a_is, AUX_IS_REF: is_ref})


def test_em_plus_is_by_hand():
    d = torch.float64
    r = torch.tensor([[1.0, 1.0]], dtype=d)
    a_is = torch.tensor([[0.8, 0.2]], dtype=d)
    query = _query(torch.tensor([[1.0, 0.0]], dtype=d), torch.tensor([[0.5, 0.5]], dtype=d), a_is,
                   F.normalize(a_is * r, dim=-1))
    t = torch.tensor([[3.0, 4.0]], dtype=d)
    scorer = ARTEMISScorer()
    # EM: A_EM * t = (1.5, 2) -> (0.6, 0.8); <(1, 0), .> = 0.6
    # IS: A_IS * r = (0.8, 0.2), A_IS * t = (2.4, 0.8): cos = 2.08 / sqrt(0.68 * 6.4)
    em, is_ = 0.6, 2.08 / math.sqrt(0.68 * 6.4)
    assert scorer.score(query, t).item() == pytest.approx(em + is_, abs=1e-12)
    assert ARTEMISScorer('em-only').score(query, t).item() == pytest.approx(em, abs=1e-12)
    assert ARTEMISScorer('is-only').score(query, t).item() == pytest.approx(is_, abs=1e-12)
    # the target's scale does not matter (official targets are L2-normalised)
    assert scorer.score(query, 10 * t).item() == pytest.approx(em + is_, abs=1e-12)


def test_fusion_and_scorer_equal_the_official_broadcast_score():
    torch.manual_seed(0)
    fusion = ARTEMIS(image_dim=6, text_dim=6, embed_dim=6).double()
    img, txt = features(batch=4, image_dim=6, text_dim=6)
    t = torch.randn(5, 6, dtype=torch.float64)
    out = fusion(img, txt)
    torch.testing.assert_close(out.aux[AUX_A_EM].sum(-1), torch.ones(4, dtype=torch.float64))  # softmax over D
    assert (out.aux[AUX_A_IS] > 0).all()
    torch.testing.assert_close(out.query.norm(dim=-1), torch.ones(4, dtype=torch.float64))
    got = ARTEMISScorer().score(QueryBatch(out.query, out.aux), t)
    torch.testing.assert_close(got, _official_broadcast(fusion, img.pooled, txt.pooled, t))


def test_score_depends_on_the_query_text():
    torch.manual_seed(0)
    fusion = ARTEMIS(4, 4, 4).double()
    img, txt = features(batch=3)
    t = torch.randn(3, 4, dtype=torch.float64)
    base = ARTEMISScorer().score(QueryBatch(*vars(fusion(img, txt)).values()), t)
    txt.pooled = txt.pooled.clone()
    txt.pooled[0] += 1.0
    moved = ARTEMISScorer().score(QueryBatch(*vars(fusion(img, txt)).values()), t)
    assert not torch.allclose(moved[0], base[0])  # query 0's text re-weights every target differently
    torch.testing.assert_close(moved[1:], base[1:])


@pytest.mark.parametrize('chunk', [1, 3, 7, 50, 51, 1000])
def test_chunked_topk_equals_brute_force(chunk):
    torch.manual_seed(0)
    fusion = ARTEMIS(8, 5, 8).double()
    img, txt = features(batch=6, image_dim=8, text_dim=5, seed=1)
    scorer = ARTEMISScorer()
    out = fusion(img, txt)
    query = scorer.prepare_query(QueryBatch(out.query, out.aux))
    gallery = scorer.prepare_gallery(torch.randn(51, 8, dtype=torch.float64))
    full = _official_broadcast(fusion, img.pooled, txt.pooled, gallery)
    exclude = torch.tensor([0, -1, 50, 7, 7, 3])
    full_ex = full.clone()
    for i, j in enumerate(exclude.tolist()):
        if j >= 0:
            full_ex[i, j] = float('-inf')
    values, indices = chunked_topk(query, gallery, scorer, k=10, exclude=exclude, gallery_chunk=chunk)
    ref_values, ref_indices = full_ex.topk(10, dim=1)
    torch.testing.assert_close(values, ref_values)
    assert torch.equal(indices, ref_indices)


def test_in_batch_loss_uses_the_query_dependent_score_and_exp_temperature():
    torch.manual_seed(0)
    fusion = ARTEMIS(4, 4, 4).double()
    img, txt = features(batch=5)
    t = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    out = fusion(img, txt)
    loss_fn = BatchClassificationLoss(scale=math.log(1 / 0.07), learn_scale=True, parametrization='exp').double()
    res = loss_fn(QueryBatch(out.query, out.aux), t, ARTEMISScorer())
    logits = (1 / 0.07) * _official_broadcast(fusion, img.pooled, txt.pooled, t)
    torch.testing.assert_close(res['loss_bbc'], F.cross_entropy(logits.float(), torch.arange(5)))  # loss in fp32
    res['loss_bbc'].backward()
    assert loss_fn.scale.grad is not None and fusion.attention_em[0].weight.grad.abs().sum() > 0


def test_bad_inputs():
    assert ARTEMISScorer.inner_product is False and CosineScorer.inner_product is True
    with pytest.raises(ValueError, match='ARTEMISScorer.version must be one of'):
        ARTEMISScorer('late-fusion')
    with pytest.raises(KeyError, match='needs the query aux entries'):
        ARTEMISScorer().score(QueryBatch(torch.randn(2, 4), {}), torch.randn(3, 4))
    with pytest.raises(ValueError, match='ARTEMIS needs embed_dim == image_dim'):
        ARTEMIS(image_dim=4, text_dim=4, embed_dim=8)

import pytest
import torch
from torch import nn

from sdfn_plugin.models.fusions import Concat, ImageOnly, TextOnly, TIRG
from sdfn_plugin.structures import ImageFeatures, TextFeatures


def _features(batch=3, image_dim=4, text_dim=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, image_dim, generator=g, dtype=dtype)
    t = torch.randn(batch, text_dim, generator=g, dtype=dtype)
    img = ImageFeatures(tokens=x.unsqueeze(1), pooled=x)
    txt = TextFeatures(tokens=t.unsqueeze(1), mask=torch.ones(batch, 1, dtype=torch.bool), pooled=t)
    return img, txt


def _randomize_bn(bn, g):
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=g))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
        bn.weight.copy_(torch.randn(bn.num_features, generator=g))
        bn.bias.copy_(torch.randn(bn.num_features, generator=g))


def _bn_eval(z, bn):
    return (z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias


def test_tirg_initial_weights():
    tirg = TIRG(image_dim=4, text_dim=4, embed_dim=4)
    assert isinstance(tirg.weights, nn.Parameter)
    assert tirg.weights.tolist() == [1.0, 10.0]
    assert TIRG(4, 4, 4, weight_init=(2, 0.5)).weights.tolist() == [2.0, 0.5]


@pytest.mark.parametrize('text_dim', [4, 3])
def test_tirg_formula_by_hand(text_dim):
    torch.manual_seed(0)
    tirg = TIRG(image_dim=4, text_dim=text_dim, embed_dim=4).double()
    g = torch.Generator().manual_seed(1)
    _randomize_bn(tirg.gate[0], g)
    _randomize_bn(tirg.residual[0], g)
    tirg.eval()
    img, txt = _features(text_dim=text_dim)
    x = img.pooled
    z = torch.cat([x, txt.pooled], dim=1)

    with torch.no_grad():
        w0, w1 = tirg.weights
        lin_g = tirg.gate[2]
        gate = torch.sigmoid(torch.relu(_bn_eval(z, tirg.gate[0])) @ lin_g.weight.t() + lin_g.bias)
        lin1, lin2 = tirg.residual[2], tirg.residual[4]
        hidden = torch.relu(torch.relu(_bn_eval(z, tirg.residual[0])) @ lin1.weight.t() + lin1.bias)
        residual = hidden @ lin2.weight.t() + lin2.bias
        expected = w0 * gate * x + w1 * residual
        out = tirg(img, txt)

    assert w0.item() == 1.0 and w1.item() == 10.0
    assert out.query.shape == (3, 4)
    torch.testing.assert_close(out.query, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.aux['gate'], gate, rtol=1e-12, atol=1e-12)


def test_tirg_weights_receive_gradients():
    tirg = TIRG(4, 4, 4).double().train()
    img, txt = _features()
    tirg(img, txt).query.sum().backward()
    assert tirg.weights.grad is not None and (tirg.weights.grad != 0).all()


def test_tirg_embed_dim_must_equal_image_dim():
    with pytest.raises(ValueError, match='embed_dim == image_dim'):
        TIRG(image_dim=4, text_dim=4, embed_dim=8)


# --------------------------------------------------------------------------- baselines
def test_image_only_returns_pooled_unchanged():
    img, txt = _features()
    out = ImageOnly(4, 4, 4)(img, txt)
    assert out.query is img.pooled and out.aux == {}
    with pytest.raises(ValueError, match='embed_dim == image_dim'):
        ImageOnly(image_dim=4, text_dim=4, embed_dim=5)


def test_text_only_projects_only_when_dims_differ():
    img, txt = _features(text_dim=4)
    same = TextOnly(image_dim=4, text_dim=4, embed_dim=4)
    assert isinstance(same.proj, nn.Identity)
    assert same(img, txt).query is txt.pooled

    img, txt = _features(text_dim=3)
    proj = TextOnly(image_dim=4, text_dim=3, embed_dim=5).double()
    assert isinstance(proj.proj, nn.Linear)
    out = proj(img, txt).query
    assert out.shape == (3, 5)
    torch.testing.assert_close(out, txt.pooled @ proj.proj.weight.t() + proj.proj.bias)


def test_concat_output_shape():
    img, txt = _features(image_dim=4, text_dim=3)
    concat = Concat(image_dim=4, text_dim=3, embed_dim=6).double()
    assert concat(img, txt).query.shape == (3, 6)
    concat.eval()
    assert concat(img, txt).query.shape == (3, 6)


@pytest.mark.parametrize('cls', [TIRG, ImageOnly, TextOnly, Concat])
@pytest.mark.parametrize('bad', [dict(image_dim=0), dict(text_dim=-1), dict(embed_dim=4.0),
                                 dict(text_dim='4'), dict(image_dim=None)])
def test_base_fusion_validates_positive_ints(cls, bad):
    kwargs = dict(image_dim=4, text_dim=4, embed_dim=4, **{})
    kwargs.update(bad)
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f'{cls.__name__}.{name} must be a positive int'):
        cls(**kwargs)

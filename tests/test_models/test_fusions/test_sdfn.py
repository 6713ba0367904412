"""SDFN fusion: module formulas, routers, Eq. 3 wiring, aux contract, config errors."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from torch import nn

from sdfn_plugin.models.fusions.sdfn import (CAM, GTM, JRM, RCM, SDFN, ImageRouter, ModalitySpecificRouter,
                                             SharedRouter, TextRouter, UniformRouter, combine_probs)
from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import ImageFeatures, TextFeatures

C, N, L, B, HEADS = 16, 4, 5, 3, 2


def make_feats(b=B, seed=0, dim=C):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(b, N, dim, generator=g)
    words = torch.randn(b, L, dim, generator=g)
    mask = torch.ones(b, L, dtype=torch.bool)
    mask[0, 3:] = False
    if b > 1:
        mask[1, 4:] = False
    pooled = words.masked_fill(~mask[..., None], float('-inf')).max(dim=1).values
    return ImageFeatures(tokens, tokens.mean(1)), TextFeatures(words, mask, pooled)


def hand_ln(x, weight=None, bias=None, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    y = (x - mu) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight + bias
    return y


def hand_mha(attn: nn.MultiheadAttention, q_in, kv_in, pad=None):
    """Multi-head attention written out from the module's projection weights."""
    c = q_in.shape[-1]
    h = attn.num_heads
    w_q, w_k, w_v = attn.in_proj_weight.split(c)
    b_q, b_k, b_v = attn.in_proj_bias.split(c)
    q, k, v = q_in @ w_q.t() + b_q, kv_in @ w_k.t() + b_k, kv_in @ w_v.t() + b_v

    def heads(x):
        return x.view(x.shape[0], x.shape[1], h, c // h).transpose(1, 2)

    scores = heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(c // h)
    if pad is not None:
        scores = scores.masked_fill(pad[:, None, None, :], float('-inf'))
    out = (scores.softmax(-1) @ heads(v)).transpose(1, 2).reshape(q.shape)
    return out @ attn.out_proj.weight.t() + attn.out_proj.bias


def perturb_routers(model: SDFN, seed=1, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.routers.modules():
            if isinstance(mod, (ImageRouter, TextRouter, SharedRouter)):
                mod.head.weight.copy_(torch.randn(mod.head.weight.shape, generator=g) * scale)
                mod.head.bias.copy_(torch.randn(mod.head.bias.shape, generator=g) * scale)


# ----------------------------------------------------------------------------- modules
def test_gtm_formula():
    torch.manual_seed(0)
    img, txt = make_feats()
    gtm = GTM(C)
    with torch.no_grad():
        gtm.gamma.weight.copy_(torch.eye(C) * 2.0)
        gtm.gamma.bias.fill_(0.5)
        gtm.beta.weight.copy_(-torch.eye(C))
        gtm.beta.bias.fill_(1.0)
    x, s = img.tokens, txt.pooled
    gamma = (2.0 * s + 0.5)[:, None, :]
    beta = (-s + 1.0)[:, None, :]
    expected = hand_ln(gamma * x + beta)
    torch.testing.assert_close(gtm(x, txt), expected, rtol=1e-5, atol=1e-5)


def test_rcm_modes():
    img, txt = make_feats()
    x = img.tokens
    torch.testing.assert_close(RCM(C)(x, txt), hand_ln(x), rtol=1e-5, atol=1e-5)
    assert torch.equal(RCM(C, mode='identity')(x, txt), x)
    assert torch.equal(RCM(C, mode='relu')(x, txt), x.clamp_min(0))
    assert sum(p.numel() for p in RCM(C).parameters()) == 0
    with pytest.raises(ValueError, match='RCM.mode'):
        RCM(C, mode='gelu')


def test_cam_formula_and_padding():
    torch.manual_seed(0)
    img, txt = make_feats()
    cam = CAM(C, num_heads=HEADS)
    with torch.no_grad():
        cam.norm.weight.uniform_(0.5, 1.5)
        cam.norm.bias.uniform_(-0.5, 0.5)
    x = img.tokens
    out = cam(x, txt)
    expected = hand_ln(x + hand_mha(cam.attn, x, txt.tokens, ~txt.mask), cam.norm.weight, cam.norm.bias)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    # changing padded words (even to huge values) must not change the output
    words = txt.tokens.clone()
    words[~txt.mask] = 1e4
    out2 = cam(x, TextFeatures(words, txt.mask, txt.pooled))
    assert torch.equal(out, out2)
    # a caption without any valid word: no attention contribution, no NaN
    empty = TextFeatures(txt.tokens, torch.zeros_like(txt.mask), txt.pooled)
    torch.testing.assert_close(cam(x, empty), hand_ln(x, cam.norm.weight, cam.norm.bias), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('concat', ['feature', 'token'])
@pytest.mark.parametrize('residual', [False, True])
def test_jrm_reference(concat, residual):
    torch.manual_seed(0)
    img, txt = make_feats()
    jrm = JRM(C, num_heads=HEADS, ffn_ratio=0.5, concat=concat, residual=residual)
    x, s = img.tokens, txt.pooled
    out = jrm(x, txt)
    assert out.shape == (B, N, C)
    assert jrm.ffn[0].out_features == C // 2
    if concat == 'feature':
        a_j = torch.cat([jrm.proj_regions.weight, jrm.proj_sentence.weight], dim=1)  # (C, 2C)
        assert jrm.proj_regions.bias is None
        z = torch.cat([x, s[:, None].expand(-1, N, -1)], -1) @ a_j.t() + jrm.proj_sentence.bias
    else:
        assert jrm.proj.in_features == C
        z = torch.cat([x, s[:, None]], 1) @ jrm.proj.weight.t() + jrm.proj.bias
    y = hand_ln(z, jrm.norm_attn.weight, jrm.norm_attn.bias)
    h = hand_mha(jrm.attn, y, y)
    if residual:
        h = z + h
    ffn = F.relu(hand_ln(h, jrm.norm_ffn.weight, jrm.norm_ffn.bias) @ jrm.ffn[0].weight.t() + jrm.ffn[0].bias)
    ffn = ffn @ jrm.ffn[2].weight.t() + jrm.ffn[2].bias
    expected = hand_ln(h + ffn)[:, :N]
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_jrm_loads_concatenated_projection():
    """A checkpoint with A_J as one Linear(2C, C) loads into the two blocks and gives the same output."""
    torch.manual_seed(0)
    img, txt = make_feats()
    jrm = JRM(C, num_heads=HEADS)
    old = dict(jrm.state_dict())
    a_j = torch.randn(C, 2 * C) / (2 * C) ** 0.5
    old['proj.weight'], old['proj.bias'] = a_j, torch.randn(C)
    for key in ('proj_regions.weight', 'proj_sentence.weight', 'proj_sentence.bias'):
        del old[key]
    target = JRM(C, num_heads=HEADS)
    target.load_state_dict(old)  # strict: every key consumed
    assert torch.equal(target.proj_regions.weight, a_j[:, :C])
    assert torch.equal(target.proj_sentence.weight, a_j[:, C:])
    assert torch.equal(target.proj_sentence.bias, old['proj.bias'])
    z = torch.cat([img.tokens, txt.pooled[:, None].expand(-1, N, -1)], -1) @ a_j.t() + old['proj.bias']
    split = target.proj_regions(img.tokens) + target.proj_sentence(txt.pooled)[:, None]
    torch.testing.assert_close(split, z, rtol=1e-5, atol=1e-5)


def test_jrm_projection_init_matches_one_linear():
    """Both blocks are drawn with nn.Linear(2C, C)'s bound 1/sqrt(2C), not Linear(C, C)'s 1/sqrt(C)."""
    torch.manual_seed(0)
    jrm = JRM(256, num_heads=HEADS)
    bound = (2 * 256) ** -0.5
    for param in (jrm.proj_regions.weight, jrm.proj_sentence.weight, jrm.proj_sentence.bias):
        assert param.abs().max() <= bound
        assert param.abs().max() > 0.95 * bound  # uses the whole range (65k or 256 draws)


def test_module_registry_names():
    for cls in (JRM, CAM, GTM, RCM, SDFN, ImageRouter, TextRouter, SharedRouter, ModalitySpecificRouter,
                UniformRouter):
        assert MODELS.get(cls.__name__) is cls
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        model = MODELS.build(dict(type='SDFN', image_dim=C, text_dim=C, embed_dim=C, num_heads=HEADS))
    assert isinstance(model, SDFN)


# ----------------------------------------------------------------------------- routers
def test_text_router_ignores_padding():
    torch.manual_seed(0)
    img, txt = make_feats()
    router = TextRouter(C, 4, 8)
    nn.init.normal_(router.head.weight)
    out = router(img.tokens, txt)
    words = txt.tokens.clone()
    words[~txt.mask] = float('nan')
    assert torch.equal(out, router(img.tokens, TextFeatures(words, txt.mask, txt.pooled)))


def test_combine_probs_variants():
    torch.manual_seed(0)
    zi, zt = torch.randn(5, 4), torch.randn(5, 4)
    mean = combine_probs(zi, zt, 'mean')
    torch.testing.assert_close(mean, 0.5 * (zi.softmax(-1) + zt.softmax(-1)))
    prod = zi.softmax(-1) * zt.softmax(-1)
    torch.testing.assert_close(combine_probs(zi, zt, 'product'), prod / prod.sum(-1, keepdim=True))
    torch.testing.assert_close(combine_probs(zi, zt, 'logit_mean'), ((zi + zt) / 2).softmax(-1))
    torch.testing.assert_close(combine_probs(zi, zt, 'mean', temperature=4.0),
                               0.5 * ((zi / 4).softmax(-1) + (zt / 4).softmax(-1)))


ROUTER_VARIANTS = [('msr', 'mean', 'input'), ('msr', 'product', 'input'), ('msr', 'logit_mean', 'input'),
                   ('msr', 'mean', 'output'), ('shared', 'mean', 'input'), ('shared', 'mean', 'output'),
                   ('none', 'mean', 'input')]


@pytest.mark.parametrize('router,combine,router_input', ROUTER_VARIANTS)
def test_routing_is_uniform_at_init_and_valid_after_perturbation(router, combine, router_input):
    torch.manual_seed(0)
    img, txt = make_feats()
    model = SDFN(C, C, C, num_heads=HEADS, router=router, combine=combine, router_input=router_input)
    paths = model(img, txt).aux['paths']
    assert paths.shape == (B, 36) and paths.dtype == torch.float32
    assert torch.equal(paths, torch.full_like(paths, 0.25))  # zero-init last layers -> exactly uniform
    perturb_routers(model)
    paths = model(img, txt).aux['paths'].detach()
    dists = paths.view(B, 9, 4)
    assert (dists >= 0).all()
    torch.testing.assert_close(dists.sum(-1), torch.ones(B, 9))
    if router != 'none':
        assert not torch.allclose(paths, torch.full_like(paths, 0.25))


@pytest.mark.parametrize('router,combine', [('msr', 'mean'), ('msr', 'product'), ('msr', 'logit_mean'),
                                            ('shared', 'mean'), ('none', 'mean')])
def test_aux_logits_reproduce_paths(router, combine):
    img, txt = make_feats()
    model = SDFN(C, C, C, num_heads=HEADS, router=router, combine=combine)
    perturb_routers(model)
    aux = model(img, txt).aux
    dists = aux['paths'].view(B, 9, 4)
    assert aux['last_inputs_pooled_sum'].shape == (B, C)
    if router == 'msr':
        assert aux['route_logits_img'].shape == aux['route_logits_txt'].shape == (B, 9, 4)
        expected = combine_probs(aux['route_logits_img'], aux['route_logits_txt'], combine)
        torch.testing.assert_close(dists, expected)
        assert ('route_logits' in aux) == (combine != 'mean')
    if 'route_logits' in aux:
        torch.testing.assert_close(dists, aux['route_logits'].softmax(-1))
    if router == 'none':
        assert not any(k.startswith('route_logits') for k in aux)
    assert SDFN.predict_aux_keys == ('paths',)


def test_init_weights_restores_uniform_routing():
    img, txt = make_feats()
    model = SDFN(C, C, C, num_heads=HEADS)
    perturb_routers(model)
    model.init_weights()
    paths = model(img, txt).aux['paths']
    assert torch.equal(paths, torch.full_like(paths, 0.25))


def test_router_input_output_uses_module_outputs():
    img, txt = make_feats()
    model = SDFN(C, C, C, num_heads=HEADS, router_input='output')
    perturb_routers(model)
    aux = model(img, txt).aux
    for m, name in enumerate(model.module_names):
        out = model.layers[0][name](img.tokens, txt)
        expected = model.routers[0][name].image(out, txt)
        torch.testing.assert_close(aux['route_logits_img'][:, m], expected)


# ----------------------------------------------------------------------------- wiring
def _fix_router(router: ModalitySpecificRouter, z_img, z_txt):
    with torch.no_grad():
        for part, z in ((router.image, z_img), (router.text, z_txt)):
            part.head.weight.zero_()
            part.head.bias.copy_(torch.tensor(z))


@pytest.mark.parametrize('normalize_inputs', [False, True])
def test_eq3_wiring_matches_hand_loop(normalize_inputs):
    torch.manual_seed(0)
    img, txt = make_feats()
    model = SDFN(C, C, C, modules=('GTM', 'JRM'), num_layers=2, num_heads=HEADS, normalize_inputs=normalize_inputs)
    assert model.num_paths == 2 * 2 + 2
    # constant logits -> fixed probabilities p[m, j] (layer 1) and a[m] (read-out)
    _fix_router(model.routers[0]['GTM'], [1.0, -1.0], [0.0, 2.0])
    _fix_router(model.routers[0]['JRM'], [0.5, 0.5], [3.0, 0.0])
    _fix_router(model.routers[1]['GTM'], [2.0], [0.0])
    _fix_router(model.routers[1]['JRM'], [0.0], [1.0])

    def mean_sm(a, b):
        return 0.5 * (torch.tensor(a).softmax(0) + torch.tensor(b).softmax(0))

    p = torch.stack([mean_sm([1.0, -1.0], [0.0, 2.0]), mean_sm([0.5, 0.5], [3.0, 0.0])])  # (src, dst)
    a = mean_sm([2.0, 0.0], [0.0, 1.0])  # read-out over (GTM, JRM)
    r = img.tokens
    o1 = [model.layers[0]['GTM'](r, txt), model.layers[0]['JRM'](r, txt)]
    x2 = []
    for j in range(2):
        xj = p[0, j] * o1[0] + p[1, j] * o1[1]
        if normalize_inputs:
            xj = xj / (p[0, j] + p[1, j] + 1e-8)
        x2.append(xj)
    o2 = [model.layers[1]['GTM'](x2[0], txt), model.layers[1]['JRM'](x2[1], txt)]
    fused = a[0] * o2[0] + a[1] * o2[1]
    out = model(img, txt)
    torch.testing.assert_close(out.query, fused.mean(1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.aux['paths'], torch.cat([p.flatten(), a]).expand(B, -1))
    torch.testing.assert_close(out.aux['last_inputs_pooled_sum'], x2[0].mean(1) + x2[1].mean(1),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('router', ['msr', 'shared'])
def test_gradients_reach_every_module_and_router(router):
    torch.manual_seed(0)
    img, txt = make_feats()
    model = SDFN(C, C, C, num_heads=HEADS, router=router)
    proj = torch.randn(C)

    def backward():
        model.zero_grad()
        out = model(img, txt)
        ((out.query * proj).sum() + out.query.pow(2).sum()).backward()

    # at initialisation only the zero-initialised last router layers (and the modules) get gradients
    backward()
    heads = [m.head for m in model.routers.modules() if isinstance(m, (ImageRouter, TextRouter, SharedRouter))]
    assert heads and all(h.weight.grad.abs().sum() > 0 for h in heads)
    for name, param in model.layers.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    # one optimiser step moves the heads off zero; then every parameter gets a gradient
    with torch.no_grad():  # plain SGD step, lr 0.5
        for param in model.parameters():
            param -= 0.5 * param.grad
    backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    if router == 'msr':
        names = {n for n, _ in model.named_parameters()}
        assert any('.image.' in n for n in names) and any('.text.att_score' in n for n in names)


def test_num_paths():
    assert SDFN(C, C, C, num_heads=HEADS).num_paths == 36
    assert SDFN(C, C, C, num_heads=HEADS, modules=('JRM', 'GTM', 'RCM')).num_paths == 21
    assert SDFN(C, C, C, num_heads=HEADS, num_layers=1).num_paths == 4
    img, txt = make_feats()
    out = SDFN(C, C, C, num_heads=HEADS, modules=('CAM', 'GTM', 'RCM'))(img, txt)
    assert out.aux['paths'].shape == (B, 21) and out.aux['route_logits_img'].shape == (B, 7, 3)
    out = SDFN(C, C, C, modules=('RCM',), num_layers=2, router='shared')(img, txt)
    assert out.query.shape == (B, C) and torch.equal(out.aux['paths'], torch.ones(B, 2))


def test_autocast_bfloat16():
    img, txt = make_feats()
    model = SDFN(C, C, C, num_heads=HEADS)
    perturb_routers(model)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = model(img, txt)
    assert torch.isfinite(out.query.float()).all()
    assert out.aux['paths'].dtype == torch.float32
    torch.testing.assert_close(out.aux['paths'].view(B, 9, 4).sum(-1), torch.ones(B, 9))


# ----------------------------------------------------------------------------- config errors
def test_config_errors():
    with pytest.raises(ValueError, match=r'SDFN\.modules is empty'):
        SDFN(C, C, C, modules=())
    with pytest.raises(ValueError, match=r"unknown name\(s\) \['XYZ'\]; valid names are \['JRM', 'CAM', 'GTM', "
                                         r"'RCM'\]"):
        SDFN(C, C, C, modules=('JRM', 'XYZ'))
    with pytest.raises(ValueError, match='sequence of module names'):
        SDFN(C, C, C, modules='JRM')
    with pytest.raises(ValueError, match='duplicates'):
        SDFN(C, C, C, modules=('JRM', 'JRM'))
    with pytest.raises(ValueError, match=r'image_dim == text_dim == embed_dim.*image_dim=16, text_dim=8, '
                                         r'embed_dim=16'):
        SDFN(16, 8, 16, num_heads=HEADS)
    with pytest.raises(ValueError, match=r'SDFN\.router must be one of'):
        SDFN(C, C, C, router='dense')
    with pytest.raises(ValueError, match=r'SDFN\.combine must be one of'):
        SDFN(C, C, C, combine='max')
    with pytest.raises(ValueError, match=r'SDFN\.router_input'):
        SDFN(C, C, C, router_input='both')
    with pytest.raises(ValueError, match=r'SDFN\.num_layers'):
        SDFN(C, C, C, num_layers=0)
    with pytest.raises(ValueError, match='num_heads=3 must divide embed_dim=16'):
        SDFN(C, C, C, num_heads=3)
    img, txt = make_feats(dim=8)
    with pytest.raises(ValueError, match='expects image tokens'):
        SDFN(C, C, C, num_heads=HEADS)(img, txt)

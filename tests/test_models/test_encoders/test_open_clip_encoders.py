"""OpenCLIPVisual / OpenCLIPText against open_clip's own CLIP model: the pooled features are CLIP's
encode_image / encode_text, the tokens are consistent with them, freezing, errors."""
import open_clip
import pytest
import torch

from sdfn_plugin.models.encoders import OpenCLIPText, OpenCLIPVisual
from sdfn_plugin.models.encoders.freezing import batchnorms

from encoder_testlib import encoder_step

TEXTS = ['a red dress with short sleeves', 'is darker', 'a man riding a bicycle on the road']


@pytest.fixture(scope='module')
def clip_rn50():
    """A randomly initialised open_clip RN50 at 64 px: the reference the encoders must reproduce."""
    torch.manual_seed(0)
    return open_clip.create_model('RN50', force_image_size=64).eval()


def _images() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_resnet_pooled_is_clip_image_embedding(clip_rn50):
    enc = OpenCLIPVisual('RN50', image_size=64).eval()
    enc.backbone.load_state_dict(clip_rn50.visual.state_dict())
    x = _images()
    with torch.no_grad():
        out = enc(x)
        expected = clip_rn50.encode_image(x)
    assert out.tokens.shape == (2, 4, 1024) and enc.out_dim == 1024 and enc.kind == 'resnet'
    torch.testing.assert_close(out.pooled, expected)
    torch.testing.assert_close(enc.encode_image(x, normalize=True), expected / expected.norm(dim=-1, keepdim=True))


def test_resnet_tokens_are_the_values_the_attention_pool_mixes():
    """With q/k projections zeroed the attention is uniform over the mean token and the 4 positions, so the
    pooled embedding is the mean of their value/output projections: the 4 tokens and the mean token's."""
    torch.manual_seed(0)
    enc = OpenCLIPVisual('RN50', image_size=64).eval()
    pool = enc.backbone.attnpool
    with torch.no_grad():
        for lin in (pool.q_proj, pool.k_proj):
            lin.weight.zero_()
            lin.bias.zero_()
        x = _images()
        out = enc(x)
        net = enc.backbone
        fmap = net.layer4(net.layer3(net.layer2(net.layer1(net.stem(x)))))
        mean_token = pool.c_proj(pool.v_proj(fmap.mean(dim=(2, 3)) + pool.positional_embedding[0]))
    expected = (out.tokens.sum(dim=1) + mean_token) / 5
    torch.testing.assert_close(out.pooled, expected, rtol=1e-4, atol=1e-5)


def test_vit_pooled_is_clip_embedding_and_tokens_share_its_projection():
    torch.manual_seed(0)
    enc = OpenCLIPVisual('ViT-B-32', image_size=64, out_dim=16).eval()
    visual = enc.backbone  # open_clip's VisionTransformer; encode_image(x) is visual(x)
    x = _images()
    with torch.no_grad():
        visual.output_tokens = False
        clip_embedding = visual(x)
        visual.output_tokens = True
        _, patch = visual(x)  # open_clip returns the patch tokens unprojected
        out = enc(x)
    w, b = enc.adapter.weight, enc.adapter.bias
    assert out.tokens.shape == (2, 4, 16) and enc.native_dim == 512 and enc.kind == 'vit'
    torch.testing.assert_close(out.pooled, clip_embedding @ w.t() + b)
    torch.testing.assert_close(out.tokens, (patch @ visual.proj) @ w.t() + b)


@pytest.mark.parametrize('max_length', [77, 12])
def test_text_pooled_is_clip_text_embedding(clip_rn50, max_length):
    """Also with a context shorter than CLIP's 77: under the causal mask positions before the end-of-text
    token never see the padding after it."""
    enc = OpenCLIPText('RN50', max_length=max_length).eval()
    assert enc.backbone.load_state_dict(clip_rn50.state_dict(), strict=False).missing_keys == []
    with torch.no_grad():
        out = enc(TEXTS)
        expected = clip_rn50.encode_text(open_clip.get_tokenizer('RN50')(TEXTS))
    # <start> + words + <end>: 'a red dress with short sleeves' has 6 BPE words
    assert out.mask.sum(dim=1).tolist()[:2] == [8, 4] and out.mask.shape == (3, max_length)
    assert out.tokens.shape == (3, max_length, 1024)
    torch.testing.assert_close(out.pooled, expected, rtol=1e-4, atol=1e-5)
    eot = out.mask.sum(dim=1) - 1
    assert torch.equal(out.pooled, out.tokens[torch.arange(3), eot])


def test_frozen_visual_tower_keeps_bn_statistics_and_weights():
    torch.manual_seed(0)
    enc = OpenCLIPVisual('RN50', image_size=64, out_dim=8, frozen=True)
    assert all(not p.requires_grad for p in enc.backbone.parameters())
    assert all(p.requires_grad for p in enc.adapter.parameters())
    before = {k: v.clone() for k, v in enc.backbone.state_dict().items()}
    encoder_step(enc, _images())
    assert not any(m.training for m in batchnorms(enc))
    assert all(torch.equal(v, before[k]) for k, v in enc.backbone.state_dict().items())


def test_frozen_bn_only():
    enc = OpenCLIPVisual('RN50', image_size=64, frozen_bn=True).train()
    bns = batchnorms(enc)
    assert bns and not any(m.training for m in bns)
    assert all(not p.requires_grad for m in bns for p in m.parameters())
    assert enc.backbone.layer1[0].conv1.weight.requires_grad and enc.backbone.attnpool.q_proj.weight.requires_grad


def test_frozen_text_tower_is_in_eval_mode():
    enc = OpenCLIPText('ViT-B-32', max_length=8, frozen=True).train()
    assert not enc.backbone.training and all(not p.requires_grad for p in enc.backbone.parameters())


@pytest.mark.parametrize('build,message', [
    (lambda: OpenCLIPVisual('RN-nope'), r"OpenCLIPVisual.model_name 'RN-nope' is not an open_clip model config"),
    (lambda: OpenCLIPText('ViT-B-32', max_length=78), r'OpenCLIPText.max_length must be an int in \[2, 77\]'),
    (lambda: OpenCLIPVisual('RN50', image_size=0), 'OpenCLIPVisual.image_size must be a positive int'),
    (lambda: OpenCLIPText('RN50', out_dim=-1), 'OpenCLIPText.out_dim must be a positive int or None'),
])
def test_config_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()

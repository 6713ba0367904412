import re

import pytest
import torch
import torchvision
from torch import nn

from sdfn_plugin.models.encoders.image import MapImageEncoder, SmallCNN, TorchvisionResNet


class _FixedMap(MapImageEncoder):
    """Backbone = identity on a given feature map (isolates the projection logic)."""

    def forward_map(self, images):
        return images


# --------------------------------------------------------------------------- MapImageEncoder
@pytest.mark.parametrize('bias', [True, False])
def test_pooled_equals_fc_of_gap(bias):
    torch.manual_seed(0)
    enc = _FixedMap(backbone_dim=6, out_dim=4, proj_bias=bias).double()
    fmap = torch.randn(3, 6, 5, 7, dtype=torch.float64)
    out = enc(fmap)
    assert out.tokens.shape == (3, 35, 4) and out.pooled.shape == (3, 4)
    weight = enc.proj.weight[:, :, 0, 0]  # (out, in) of the 1x1 conv
    expected = fmap.mean(dim=(2, 3)) @ weight.t()
    if bias:
        expected = expected + enc.proj.bias
    torch.testing.assert_close(out.pooled, expected, rtol=1e-12, atol=1e-12)
    # tokens are the projected map flattened row-major
    torch.testing.assert_close(out.tokens[:, 2 * 7 + 3], enc.proj(fmap)[:, :, 2, 3])


def test_no_projection_keeps_backbone_width():
    enc = _FixedMap(backbone_dim=6, out_dim=None)
    assert isinstance(enc.proj, nn.Identity) and enc.out_dim == 6
    fmap = torch.randn(2, 6, 3, 3)
    out = enc(fmap)
    assert torch.equal(out.tokens, fmap.flatten(2).transpose(1, 2))
    assert torch.equal(out.pooled, out.tokens.mean(1))
    torch.testing.assert_close(enc.encode_image(fmap, normalize=True).norm(dim=-1), torch.ones(2))


@pytest.mark.parametrize('out_dim', [0, -3])
def test_bad_out_dim(out_dim):
    with pytest.raises(ValueError, match='out_dim'):
        _FixedMap(backbone_dim=6, out_dim=out_dim)


# --------------------------------------------------------------------------- SmallCNN
def test_small_cnn_tokens_and_pooled():
    torch.manual_seed(0)
    enc = SmallCNN(channels=(4, 8, 8, 16), out_dim=12)
    out = enc(torch.randn(2, 3, 64, 64))
    assert out.tokens.shape == (2, 16, 12) and enc.out_dim == 12
    assert torch.equal(out.pooled, out.tokens.mean(1))


def test_small_cnn_identity_with_own_weights():
    torch.manual_seed(0)
    enc = SmallCNN(channels=(4, 8), out_dim=5).eval()
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        fmap = enc.forward_map(images)
        assert fmap.shape == (2, 8, 4, 4)
        expected = fmap.mean(dim=(2, 3)) @ enc.proj.weight[:, :, 0, 0].t() + enc.proj.bias
        torch.testing.assert_close(enc(images).pooled, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('channels', [(), (8, 0)])
def test_small_cnn_bad_channels(channels):
    with pytest.raises(ValueError, match='channels'):
        SmallCNN(channels=channels)


# --------------------------------------------------------------------------- TorchvisionResNet
def _bn_layers(module):
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


def test_resnet18_random_init_tokens():
    torch.manual_seed(0)
    enc = TorchvisionResNet(depth=18, out_dim=32).eval()
    with torch.no_grad():
        out = enc(torch.randn(1, 3, 224, 224))
    assert enc.backbone_dim == 512 and enc.out_dim == 32
    assert out.tokens.shape == (1, 49, 32) and out.pooled.shape == (1, 32)
    assert enc.proj.bias is None  # AMC/SDFN: no projection bias by default


def test_frozen_bn():
    enc = TorchvisionResNet(depth=18, out_dim=8, frozen_bn=True)
    enc.train()
    assert enc.training
    bns = _bn_layers(enc)
    assert len(bns) == 20  # stem + 8 basic blocks x 2 + 3 downsample BNs
    assert all(not m.training for m in bns)
    assert all(not p.requires_grad for m in bns for p in m.parameters())
    assert enc.stem[0].weight.requires_grad and enc.layers[3][1].conv2.weight.requires_grad
    # running statistics are not updated by a training-mode forward pass
    before = bns[0].running_mean.clone()
    enc(torch.randn(2, 3, 32, 32))
    assert torch.equal(bns[0].running_mean, before)


def test_no_frozen_bn_trains_bn():
    enc = TorchvisionResNet(depth=18, out_dim=8).train()
    assert all(m.training for m in _bn_layers(enc))
    assert all(p.requires_grad for p in enc.parameters())


def _sgd_step(enc, x):
    opt = torch.optim.SGD([p for p in enc.parameters() if p.requires_grad], lr=0.1)
    enc(x).pooled.square().sum().backward()
    opt.step()


def test_norm_eval_fixes_running_stats_while_affine_trains():
    """AMC: BatchNorm normalises with its running statistics, which a training step leaves unchanged,
    while its weight and bias are updated."""
    torch.manual_seed(0)
    enc = TorchvisionResNet(depth=18, out_dim=8, norm_eval=True).train()
    bns = _bn_layers(enc)
    assert enc.training and not any(m.training for m in bns)
    assert all(p.requires_grad for p in enc.parameters())
    stats = [(m.running_mean.clone(), m.running_var.clone(), int(m.num_batches_tracked)) for m in bns]
    affine = [(m.weight.clone(), m.bias.clone()) for m in bns]
    _sgd_step(enc, torch.randn(2, 3, 32, 32))
    for m, (mean, var, n) in zip(bns, stats):
        assert torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var) and int(m.num_batches_tracked) == n
    assert all(not torch.equal(m.weight, w) and not torch.equal(m.bias, b) for m, (w, b) in zip(bns, affine))
    # with running statistics mean 0 / var 1 (fresh), the first BN is exactly weight * x + bias
    x = torch.randn(2, 64, 4, 4)
    bn = bns[0]
    ref = x * bn.weight.view(1, -1, 1, 1) / torch.sqrt(torch.tensor(1.0 + bn.eps)) + bn.bias.view(1, -1, 1, 1)
    assert torch.allclose(bn(x), ref, atol=1e-6)


def test_frozen_eval_false_runs_frozen_batchnorm_in_train_mode():
    """ARTEMIS stage 1: the CNN is frozen through requires_grad only, so its BatchNorm keeps
    updating running statistics (weights unchanged); the default keeps frozen stages in eval mode."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    for frozen_eval in (True, False):
        enc = TorchvisionResNet(depth=18, out_dim=8, frozen=True, frozen_eval=frozen_eval).train()
        bn = enc.stem[1]
        mean, weight = bn.running_mean.clone(), bn.weight.clone()
        _sgd_step(enc, x)
        assert bn.training is (not frozen_eval) and not bn.weight.requires_grad
        assert torch.equal(bn.weight, weight)
        assert torch.equal(bn.running_mean, mean) is frozen_eval
        if not frozen_eval:  # momentum 0.1 from zero: running mean = 0.1 x the batch mean of the stem conv output
            batch_mean = enc.stem[0](x).mean(dim=(0, 2, 3))
            assert torch.allclose(bn.running_mean, 0.1 * batch_mean, atol=1e-6)


def test_norm_option_errors():
    with pytest.raises(ValueError, match='frozen_bn=True already keeps BatchNorm in eval mode'):
        TorchvisionResNet(depth=18, out_dim=8, frozen_bn=True, norm_eval=True)
    with pytest.raises(ValueError, match='frozen_eval=False .* needs frozen parts'):
        TorchvisionResNet(depth=18, out_dim=8, frozen_eval=False)


def test_frozen_stages_one_freezes_stem_and_layer1_only():
    enc = TorchvisionResNet(depth=18, out_dim=8, frozen_stages=1)
    assert all(not p.requires_grad for p in enc.stem.parameters())
    assert all(not p.requires_grad for p in enc.layers[0].parameters())
    for layer in enc.layers[1:]:
        assert all(p.requires_grad for p in layer.parameters())
    assert all(p.requires_grad for p in enc.proj.parameters())
    # frozen_stages=0: stem only
    enc0 = TorchvisionResNet(depth=18, out_dim=8, frozen_stages=0)
    assert all(not p.requires_grad for p in enc0.stem.parameters())
    assert all(p.requires_grad for p in enc0.layers[0].parameters())


def test_frozen_freezes_the_whole_backbone_and_keeps_it_in_eval_mode():
    enc = TorchvisionResNet(depth=18, out_dim=8, frozen=True).train()
    backbone = [enc.stem, *enc.layers]
    assert all(not p.requires_grad for m in backbone for p in m.parameters())
    assert all(p.requires_grad for p in enc.proj.parameters())  # the adapter still learns
    assert not any(m.training for m in backbone for m in m.modules())
    x = torch.randn(2, 3, 32, 32)
    before = [b.running_mean.clone() for b in enc.modules() if isinstance(b, torch.nn.BatchNorm2d)]
    enc(x).pooled.sum().backward()
    after = [b.running_mean for b in enc.modules() if isinstance(b, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert TorchvisionResNet(depth=18, out_dim=None, frozen=True).train().encode_image(x).shape == (2, 512)
    assert not any(p.requires_grad for p in TorchvisionResNet(depth=18, out_dim=None, frozen=True).parameters())


@pytest.mark.parametrize('wrap', [False, True])
def test_local_checkpoint(tmp_path, wrap):
    torch.manual_seed(123)
    net = torchvision.models.resnet18(weights=None)
    state = net.state_dict()  # includes fc.*, which must be ignored
    path = tmp_path / 'r18.pth'
    torch.save({'state_dict': state} if wrap else state, path)
    torch.manual_seed(0)
    enc = TorchvisionResNet(depth=18, out_dim=8, checkpoint=str(path))
    assert torch.equal(enc.stem[0].weight, net.conv1.weight)
    assert torch.equal(enc.layers[3][1].conv2.weight, net.layer4[1].conv2.weight)
    assert torch.equal(enc.layers[1][0].downsample[1].running_var, net.layer2[0].downsample[1].running_var)


def test_checkpoint_of_other_architecture(tmp_path):
    state = torchvision.models.resnet18(weights=None).state_dict()
    del state['layer4.1.conv2.weight']
    path = tmp_path / 'broken.pth'
    torch.save(state, path)
    with pytest.raises(ValueError, match='does not match the architecture'):
        TorchvisionResNet(depth=18, out_dim=8, checkpoint=str(path))


def test_weights_and_checkpoint_together(tmp_path):
    with pytest.raises(ValueError, match='not both'):
        TorchvisionResNet(depth=18, weights='IMAGENET1K_V1', checkpoint=str(tmp_path / 'x.pth'))


@pytest.mark.parametrize('depth', [0, 152, 'resnet18'])
def test_bad_depth(depth):
    with pytest.raises(ValueError, match='depth'):
        TorchvisionResNet(depth=depth)


@pytest.mark.parametrize('stages', [-2, 5])
def test_bad_frozen_stages(stages):
    with pytest.raises(ValueError, match='frozen_stages'):
        TorchvisionResNet(depth=18, frozen_stages=stages)


def test_missing_checkpoint(tmp_path):
    path = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match=re.escape(repr(path))):
        TorchvisionResNet(depth=18, out_dim=8, checkpoint=path)


def test_small_cnn_coord_channels_make_features_position_dependent():
    torch.manual_seed(0)
    net = SmallCNN(channels=(4, 8), out_dim=6, coord_channels=True).eval()
    assert net.body[0].in_channels == 5  # RGB + x + y
    # a blank image: without coordinates every location would give the same token
    tokens = net(torch.zeros(1, 3, 8, 8)).tokens[0]
    assert not torch.allclose(tokens[0], tokens[-1])
    assert SmallCNN(channels=(4, 8), out_dim=6).body[0].in_channels == 3


def test_small_cnn_flatten_pool_is_a_linear_map_of_all_tokens():
    net = SmallCNN(channels=(4, 8), out_dim=6, pool='flatten', input_size=16).eval()
    feats = net(torch.randn(2, 3, 16, 16))
    assert feats.tokens.shape == (2, 16, 6)
    expected = feats.tokens.flatten(1) @ net.flatten_head.weight.t() + net.flatten_head.bias
    assert torch.allclose(feats.pooled, expected, atol=1e-6)
    with pytest.raises(ValueError, match='needs input_size divisible by 4'):
        SmallCNN(channels=(4, 8), pool='flatten', input_size=18)
    with pytest.raises(ValueError, match='SmallCNN.pool must be one of'):
        SmallCNN(pool='max')

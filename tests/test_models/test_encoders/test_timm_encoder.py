"""TimmEncoder: tokens/pooled of CNNs and ViTs, adapters, local weights through timm and through checkpoint=,
freezing (whole tower, stages, BatchNorm) and config errors."""
import re

import pytest
import timm
import torch
from torch import nn

from sdfn_plugin.models.encoders import TimmEncoder
from sdfn_plugin.models.encoders.freezing import batchnorms

from encoder_testlib import encoder_step


def _images(size: int = 64, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_resnet_tokens_are_the_last_map_and_the_adapter_is_a_1x1_conv():
    torch.manual_seed(0)
    enc = TimmEncoder('resnet18', out_dim=8).eval()
    x = _images()
    with torch.no_grad():
        out = enc(x)
        fmap = enc.backbone.forward_features(x)  # (2, 512, 2, 2)
    assert enc.native_dim == 512 and enc.out_dim == 8
    assert out.tokens.shape == (2, 4, 8) and out.pooled.shape == (2, 8)
    w, b = enc.adapter.weight, enc.adapter.bias
    torch.testing.assert_close(out.tokens[:, 1 * 2 + 0], fmap[:, :, 1, 0] @ w.t() + b)  # row-major position (1, 0)
    # timm's head pooling on a ResNet is global average pooling, and the affine adapter commutes with it
    torch.testing.assert_close(out.pooled, out.tokens.mean(dim=1), rtol=1e-5, atol=1e-6)


def test_vit_tokens_drop_the_class_token_and_head_pooling_takes_it():
    torch.manual_seed(0)
    enc = TimmEncoder('vit_tiny_patch16_224', model_args=dict(img_size=32)).eval()
    x = _images(32)
    with torch.no_grad():
        feats = enc.backbone.forward_features(x)  # (2, 1 + 4, 192)
        out = enc(x)
        mean = TimmEncoder('vit_tiny_patch16_224', model_args=dict(img_size=32), pooling='mean')
        mean.load_state_dict(enc.state_dict())
        mean_out = mean.eval()(x)
    assert feats.shape == (2, 5, 192) and enc.out_dim == 192
    assert torch.equal(out.tokens, feats[:, 1:])
    assert torch.equal(out.pooled, feats[:, 0])
    torch.testing.assert_close(mean_out.pooled, feats[:, 1:].mean(dim=1))


@pytest.mark.parametrize('wrap', [None, 'state_dict', 'model'])
def test_local_checkpoint_ignores_the_classifier(tmp_path, wrap):
    torch.manual_seed(123)
    net = timm.create_model('resnet18')  # with its 1000-class fc, which the encoder drops
    path = tmp_path / 'r18.pth'
    torch.save({wrap: net.state_dict()} if wrap else net.state_dict(), path)
    torch.manual_seed(0)
    enc = TimmEncoder('resnet18', checkpoint=str(path))
    assert torch.equal(enc.backbone.conv1.weight, net.conv1.weight)
    assert torch.equal(enc.backbone.layer4[1].bn2.running_var, net.layer4[1].bn2.running_var)


def test_timm_pretrained_mechanism_with_a_local_file(tmp_path):
    torch.manual_seed(7)
    net = timm.create_model('resnet18')
    path = tmp_path / 'r18_timm.pth'
    torch.save(net.state_dict(), path)
    enc = TimmEncoder('resnet18', pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    assert torch.equal(enc.backbone.layer3[0].conv1.weight, net.layer3[0].conv1.weight)


def test_checkpoint_of_another_architecture(tmp_path):
    path = tmp_path / 'r34.pth'
    torch.save(timm.create_model('resnet34').state_dict(), path)
    with pytest.raises(ValueError, match=r'TimmEncoder.checkpoint .* does not match the architecture'):
        TimmEncoder('resnet18', checkpoint=str(path))
    missing = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match=re.escape(repr(missing))):
        TimmEncoder('resnet18', checkpoint=missing)


# --------------------------------------------------------------------------- freezing
def _bn(module: nn.Module) -> nn.BatchNorm2d:
    return next(m for m in module.modules() if isinstance(m, nn.BatchNorm2d))


def test_frozen_stages_freezes_stem_and_first_stages_and_keeps_their_bn_statistics():
    torch.manual_seed(0)
    enc = TimmEncoder('resnet18', out_dim=8, frozen_stages=1)
    net = enc.backbone
    frozen = [net.conv1, net.bn1, net.layer1]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in (net.layer2, net.layer3, net.layer4, enc.adapter) for p in m.parameters())
    enc.train()
    assert not net.bn1.training and not _bn(net.layer1).training and _bn(net.layer2).training
    before = {k: v.clone() for k, v in net.state_dict().items()}
    encoder_step(enc, _images())
    after = net.state_dict()
    for key in ('conv1.weight', 'bn1.running_mean', 'layer1.1.bn2.running_var', 'layer1.0.conv2.weight'):
        assert torch.equal(after[key], before[key]), key
    assert not torch.equal(after['layer2.0.bn1.running_mean'], before['layer2.0.bn1.running_mean'])
    assert not torch.equal(after['layer4.1.bn2.weight'], before['layer4.1.bn2.weight'])  # trainable stage


def test_frozen_stages_on_a_vit_freezes_embeddings_and_first_blocks():
    enc = TimmEncoder('vit_tiny_patch16_224', model_args=dict(img_size=32), frozen_stages=0)
    net = enc.backbone
    assert not net.cls_token.requires_grad and not net.pos_embed.requires_grad
    assert all(not p.requires_grad for m in (net.patch_embed, net.blocks[0]) for p in m.parameters())
    assert all(p.requires_grad for m in (net.blocks[1], net.norm) for p in m.parameters())


def test_frozen_tower_is_unchanged_by_a_train_step_and_its_adapter_trains():
    torch.manual_seed(0)
    enc = TimmEncoder('resnet18', out_dim=8, frozen=True)
    assert all(not p.requires_grad for p in enc.backbone.parameters())
    assert all(p.requires_grad for p in enc.adapter.parameters())
    enc.train()
    assert enc.training and not any(m.training for m in enc.backbone.modules())
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    encoder_step(enc, _images())
    after = enc.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before if k.startswith('backbone.'))
    assert not torch.equal(after['adapter.weight'], before['adapter.weight'])


def test_frozen_bn_freezes_every_batchnorm_only():
    enc = TimmEncoder('resnet18', frozen_bn=True)
    bns = batchnorms(enc)
    assert len(bns) == 20
    assert all(not p.requires_grad for m in bns for p in m.parameters())
    assert enc.backbone.conv1.weight.requires_grad and enc.backbone.layer1[0].conv1.weight.requires_grad
    enc.train()
    assert not any(m.training for m in bns)
    before = [m.running_mean.clone() for m in bns]
    encoder_step(enc, _images())
    assert all(torch.equal(m.running_mean, b) for m, b in zip(bns, before))


# --------------------------------------------------------------------------- config errors
@pytest.mark.parametrize('kwargs,error,message', [
    (dict(model_name='resnet_nope'), ValueError, r"TimmEncoder.model_name 'resnet_nope' is not a timm model"),
    (dict(model_name='resnet18', frozen_stages=5), ValueError,
     r'TimmEncoder.frozen_stages must be in \[-1, 4\] for resnet18'),
    (dict(model_name='resnet18', frozen=True, frozen_stages=1), ValueError, 'frozen=True already freezes'),
    (dict(model_name='resnet18', pretrained_cfg_overlay=dict(file='x.pth')), ValueError,
     'pretrained_cfg_overlay needs pretrained=True'),
    (dict(model_name='resnet18', pretrained=True, checkpoint='x.pth'), ValueError, 'not both'),
    (dict(model_name='resnet18', pooling='max'), ValueError, r"TimmEncoder.pooling must be one of \('head', 'mean'\)"),
    (dict(model_name='resnet18', out_dim=0), ValueError, r'TimmEncoder.out_dim must be a positive int or None'),
])
def test_config_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        TimmEncoder(**kwargs)

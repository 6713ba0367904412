"""ComposedRetriever with model.feature_cache and ImageFeatures inputs."""
import pytest
import torch

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import ImageFeatures
from sdfn_plugin.utils import register_all_modules

register_all_modules()

_FROZEN_R18 = dict(type='TorchvisionResNet', depth=18, out_dim=None, frozen_stages=4, frozen_bn=True)


def _model(tmp_path, image_encoder=_FROZEN_R18, dim=512, **kw):
    vocab = tmp_path / 'vocab.txt'
    vocab.write_text('<pad>\n<unk>\nadd\nred\ncircle\n')
    return MODELS.build(dict(
        type='ComposedRetriever', image_encoder=image_encoder,
        text_encoder=dict(type='LSTMTextEncoder', vocab_file=str(vocab), embed_dim=8, hidden_dim=8, out_dim=dim),
        fusion=dict(type='TIRG', image_dim=dim, text_dim=dim, embed_dim=dim),
        losses=[dict(type='BatchClassificationLoss', scale=4.0)], **kw))


def _inputs(model, b=3):
    g = torch.Generator().manual_seed(0)
    images = {k: list(torch.randint(0, 256, (b, 3, 32, 32), generator=g, dtype=torch.uint8)) for k in ('ref', 'tgt')}
    return model.data_preprocessor({'inputs': dict(images, text=['add red circle'] * b)}, True)['inputs']


def test_image_features_inputs_skip_the_tower_and_give_the_same_results(tmp_path):
    torch.manual_seed(0)
    model = _model(tmp_path).eval()  # no dropout: both passes compute the same thing
    inputs = _inputs(model)
    with torch.no_grad():
        feats = model.image_encoder(torch.cat([inputs['ref'], inputs['tgt']]))
    ref = ImageFeatures(feats.tokens[:3], feats.pooled[:3])
    tgt = ImageFeatures(feats.tokens[3:], feats.pooled[3:])
    cached = dict(inputs, ref=ref, tgt=tgt)
    assert model(cached, mode='loss')['loss_bbc'].item() == model(inputs, mode='loss')['loss_bbc'].item()
    live, from_feats = model(inputs, mode='tensor'), model(cached, mode='tensor')
    assert torch.equal(live['query'], from_feats['query']) and torch.equal(live['target'], from_feats['target'])
    assert torch.equal(model.extract_gallery(tgt), tgt.pooled)


def test_preprocessor_stacks_per_image_features_as_float32(tmp_path):
    model = _model(tmp_path)
    per_image = [ImageFeatures(torch.full((4, 2), float(i), dtype=torch.float16), torch.full((2, ), float(i),
                                                                                                dtype=torch.float16))
                 for i in range(3)]
    out = model.data_preprocessor({'inputs': {'img': per_image}}, False)['inputs']['img']
    assert out.tokens.dtype == out.pooled.dtype == torch.float32
    assert out.tokens.shape == (3, 4, 2) and out.pooled[:, 0].tolist() == [0.0, 1.0, 2.0]


def test_feature_cache_keeps_the_frozen_tower_in_eval_mode(tmp_path):
    model = _model(tmp_path, feature_cache=dict(dir=str(tmp_path / 'cache'))).train()
    assert model.fusion.training and not any(m.training for m in model.image_encoder.modules())
    assert model.feature_cache.dtype == 'float32'


def test_a_training_batch_of_images_with_a_feature_cache_needs_the_hook(tmp_path):
    model = _model(tmp_path, feature_cache=dict(dir=str(tmp_path / 'cache'), dtype='float16'))
    with pytest.raises(RuntimeError, match=r"add dict\(type='FeatureCacheHook'\) to custom_hooks"):
        model(_inputs(model), mode='loss')


def test_feature_cache_needs_a_frozen_tower(tmp_path):
    small = dict(type='SmallCNN', channels=(4, 8), out_dim=16)
    with pytest.raises(ValueError, match=r"image_encoder parameter 'proj.weight' is trainable \(8 in all\)"):
        _model(tmp_path, image_encoder=small, dim=16, feature_cache=dict(dir=str(tmp_path)))
    # a frozen backbone with a trainable projection inside the encoder is not a frozen tower
    with pytest.raises(ValueError, match=r"image_encoder parameter 'proj.weight' is trainable \(1 in all\)"):
        _model(tmp_path, image_encoder=dict(_FROZEN_R18, out_dim=512), feature_cache=dict(dir=str(tmp_path)))


@pytest.mark.parametrize('cfg, message', [
    (dict(dir='c', dtype='bfloat16'), r"model.feature_cache.dtype must be one of \['float16', 'float32'\]"),
    (dict(dir=''), 'model.feature_cache.dir must be a non-empty folder path'),
    (dict(dir='c', path='x'), r"model.feature_cache has unknown keys \['path'\]"),
    ('work_dirs/cache', 'model.feature_cache must be a dict')])
def test_feature_cache_config_is_validated(tmp_path, cfg, message):
    with pytest.raises((ValueError, TypeError), match=message):
        _model(tmp_path, feature_cache=cfg)

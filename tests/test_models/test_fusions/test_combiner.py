import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from sdfn_plugin.models.fusions import Combiner

from cir_testlib import CONFIGS
from zoo_testlib import features, train_one_iteration


def _set(linear, weight, bias):
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(weight, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.as_tensor(bias, dtype=linear.bias.dtype))


def test_combiner_gating_by_hand():
    # D = 2, P = 1, H = 1: every layer is a hand-set scalar map
    comb = Combiner(image_dim=2, text_dim=2, embed_dim=2, projection_dim=1, hidden_dim=1).double().eval()
    _set(comb.text_projection, [[1.0, 0.0]], [0.0])   # p_t = relu(t0)
    _set(comb.image_projection, [[0.0, 1.0]], [0.0])  # p_i = relu(i1)
    _set(comb.combiner_layer, [[1.0, 1.0]], [0.0])    # h = relu(p_t + p_i)
    _set(comb.output_layer, [[1.0], [-1.0]], [0.0, 0.0])  # out = (h, -h)
    _set(comb.dynamic_scalar[0], [[1.0, -1.0]], [0.0])  # relu(p_t - p_i)
    _set(comb.dynamic_scalar[3], [[1.0]], [0.0])        # lambda = sigmoid(relu(p_t - p_i))
    img, txt = features(batch=1, num_tokens=1, image_dim=2, text_dim=2)
    t = torch.tensor([[3.0, 1.0]], dtype=torch.float64)
    i = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    img.pooled, txt.pooled = i, t
    out = comb(img, txt)
    # p_t = 3, p_i = 1, h = 4, lambda = sigmoid(2)
    lam = torch.sigmoid(torch.tensor(2.0, dtype=torch.float64))
    expected = torch.tensor([[4.0, -4.0]], dtype=torch.float64) + lam * t + (1 - lam) * i
    torch.testing.assert_close(out.aux['gate'], lam.reshape(1))
    torch.testing.assert_close(out.query, F.normalize(expected, dim=-1))
    assert out.query.norm().item() == pytest.approx(1.0)


def test_combiner_default_sizes_and_dropout():
    comb = Combiner(image_dim=8, text_dim=8, embed_dim=8)
    assert comb.text_projection.out_features == 32 and comb.combiner_layer.out_features == 64
    assert comb.dropout.p == 0.5 and comb.dynamic_scalar[2].p == 0.5
    assert isinstance(comb.text_residual, torch.nn.Identity)
    img, txt = features(batch=64, image_dim=8, text_dim=8, dtype=torch.float32)
    comb.train()
    a, b = comb(img, txt).query, comb(img, txt).query
    assert not torch.allclose(a, b)  # dropout active in training
    comb.eval()
    torch.testing.assert_close(comb(img, txt).query, comb(img, txt).query)


def test_combiner_on_an_encoder_pair_of_different_sizes():
    comb = Combiner(image_dim=6, text_dim=3, embed_dim=6, projection_dim=4, hidden_dim=5).double().eval()
    assert isinstance(comb.text_residual, torch.nn.Linear) and isinstance(comb.image_residual, torch.nn.Identity)
    img, txt = features(image_dim=6, text_dim=3)
    out = comb(img, txt)
    lam = out.aux['gate'].unsqueeze(-1)
    c = torch.cat([F.relu(comb.text_projection(txt.pooled)), F.relu(comb.image_projection(img.pooled))], -1)
    raw = comb.output_layer(F.relu(comb.combiner_layer(c))) + lam * comb.text_residual(txt.pooled) \
        + (1 - lam) * img.pooled
    torch.testing.assert_close(out.query, F.normalize(raw, dim=-1))


def test_combiner_bad_config():
    with pytest.raises(ValueError, match='Combiner.dropout must be in'):
        Combiner(4, 4, 4, dropout=1.0)
    with pytest.raises(ValueError, match='Combiner.hidden_dim must be a positive int'):
        Combiner(4, 4, 4, hidden_dim=0)


def test_combiner_css_config_trains_one_iteration(css_root):
    model, losses = train_one_iteration('combiner_css.py', css_root)
    assert type(model.fusion).__name__ == 'Combiner'
    assert model.losses[0].multiplier().item() == 100.0 and not model.losses[0].scale.requires_grad
    assert torch.isfinite(losses['loss'])


@pytest.mark.parametrize('dataset', ['shoes', 'fashioniq', 'fashion200k'])
def test_combiner_real_dataset_configs_follow_clip4cir_stage2(dataset):
    # parsed only: building the RN50x4 towers takes ~10 s on a CPU (test_encoder_pairs covers OpenCLIP towers)
    cfg = Config.fromfile(osp.join(CONFIGS, f'combiner_{dataset}.py'))
    model = cfg.model
    assert model.image_encoder.model_name == model.text_encoder.model_name == 'RN50x4'
    assert model.image_encoder.frozen and model.text_encoder.frozen
    assert (model.fusion.embed_dim, model.fusion.projection_dim, model.fusion.hidden_dim) == (640, 2560, 5120)
    assert model.losses[0].scale == 100.0 and not model.losses[0].learn_scale
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=2e-5) and cfg.train_cfg.max_epochs == 300
    assert cfg.train_dataloader.batch_size == 4096
    loaders = cfg.val_dataloader if isinstance(cfg.val_dataloader, list) else [cfg.val_dataloader]
    pipelines = [cfg.train_dataloader.dataset.pipeline] + [p for d in loaders for p in
                                                           (d.dataset.pipeline, d.dataset.gallery_pipeline)]
    for pipeline in pipelines:  # RN50x4's attention pool needs 288-px inputs
        assert pipeline[1:3] == [dict(type='ResizeImages', size=288), dict(type='CenterCropImages', size=288)]
    # stage 2 trains on pre-extracted image features: the frozen tower runs once per image
    assert model.feature_cache == dict(dir='work_dirs/feature_cache', dtype='float16')
    assert [h['type'] for h in cfg.custom_hooks][:2] == ['FeatureCacheHook', 'PrepareGalleryHook']

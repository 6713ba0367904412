import pytest
import torch

from sdfn_plugin.models.fusions import FiLM
from sdfn_plugin.structures import ImageFeatures

from zoo_testlib import build_offline, features, train_one_iteration


def test_film_scale_shift_by_hand():
    film = FiLM(image_dim=2, text_dim=2, embed_dim=2).double()
    with torch.no_grad():
        film.gamma.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        film.gamma.bias.copy_(torch.tensor([0.5, 0.0]))
        film.beta.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
        film.beta.bias.copy_(torch.tensor([0.0, -1.0]))
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]], dtype=torch.float64)  # 1 query, 2 tokens
    s = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    img, txt = features(batch=1, num_tokens=2, image_dim=2, text_dim=2)
    img, txt.pooled = ImageFeatures(x, x.mean(1)), s
    out = film(img, txt)
    # gamma = (1*2 + 0.5, 2*3) = (2.5, 6); beta = (3, 2 + 3 - 1) = (3, 4)
    torch.testing.assert_close(out.aux['gamma'], torch.tensor([[2.5, 6.0]], dtype=torch.float64))
    torch.testing.assert_close(out.aux['beta'], torch.tensor([[3.0, 4.0]], dtype=torch.float64))
    # tokens -> (2.5+3, 12+4) = (5.5, 16) and (7.5+3, 24+4) = (10.5, 28); mean = (8, 22)
    torch.testing.assert_close(out.query, torch.tensor([[8.0, 22.0]], dtype=torch.float64))


def test_film_starts_near_identity_and_mean_pool_equals_film_on_pooled_vector():
    film = FiLM(image_dim=4, text_dim=3, embed_dim=4).double()
    assert film.gamma.bias.tolist() == [1.0] * 4 and film.beta.bias.tolist() == [0.0] * 4
    img, txt = features(num_tokens=5, text_dim=3)
    out = film(img, txt)
    expected = out.aux['gamma'] * img.tokens.mean(1) + out.aux['beta']  # affine per channel commutes with mean
    torch.testing.assert_close(out.query, expected)


def test_film_flatten_pool_is_a_linear_over_the_modulated_map():
    film = FiLM(image_dim=4, text_dim=4, embed_dim=3, pool='flatten', num_tokens=2).double()
    img, txt = features(num_tokens=2)
    out = film(img, txt)
    y = out.aux['gamma'].unsqueeze(1) * img.tokens + out.aux['beta'].unsqueeze(1)
    torch.testing.assert_close(out.query, y.flatten(1) @ film.head.weight.t() + film.head.bias)
    with pytest.raises(ValueError, match='num_tokens=2 but the encoder gives 3 tokens'):
        film(*features(num_tokens=3))


def test_film_bad_config_and_input():
    with pytest.raises(ValueError, match='FiLM.pool must be one of'):
        FiLM(4, 4, 4, pool='max')
    with pytest.raises(ValueError, match=r"needs embed_dim == image_dim"):
        FiLM(4, 4, 8)
    with pytest.raises(ValueError, match='needs num_tokens'):
        FiLM(4, 4, 4, pool='flatten')
    with pytest.raises(ValueError, match=r'expects region tokens \(B, N, image_dim=4\)'):
        FiLM(4, 4, 4)(*features(image_dim=5))


def test_film_css_config_trains_one_iteration(css_root):
    model, losses = train_one_iteration('film_css.py', css_root)
    assert type(model.fusion).__name__ == 'FiLM' and model.fusion.pool == 'flatten'
    assert torch.isfinite(losses['loss']) and 'loss_bbc' in losses


@pytest.mark.parametrize('dataset', ['shoes', 'fashioniq', 'fashion200k'])
def test_film_real_dataset_configs_are_tirg_with_film(dataset, css_root):
    model, cfg = build_offline(f'film_{dataset}.py', css_root)
    assert isinstance(model.fusion, FiLM) and model.fusion.pool == 'mean'
    assert cfg.optim_wrapper.optimizer.type == 'SGD'  # TIRG's recipe

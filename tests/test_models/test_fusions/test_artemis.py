import torch

from sdfn_plugin.models.scorers import ARTEMISScorer

from zoo_testlib import train_one_iteration


def test_artemis_css_config_trains_one_iteration(css_root):
    model, losses = train_one_iteration('artemis_css.py', css_root)
    assert type(model.fusion).__name__ == 'ARTEMIS' and isinstance(model.scorer, ARTEMISScorer)
    loss = model.losses[0]
    assert loss.parametrization == 'exp' and loss.scale.requires_grad
    assert abs(loss.multiplier().item() - 1 / 0.07) < 0.1  # one Adam step moves T by about lr
    assert torch.isfinite(losses['loss'])

"""LoadOptimizerStateHook: ARTEMIS's stage 2 continues the stage-1 AdamW moments at this run's learning rate."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from torch import nn

from sdfn_plugin.engine.hooks import LoadOptimizerStateHook


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))


def _step(wrapper, model):
    wrapper.update_params(model(torch.ones(4, 3)).square().sum())


@pytest.fixture
def stage1(tmp_path):
    """Two AdamW steps at lr 5e-4 with the first layer frozen (as ARTEMIS's frozen CNN), saved like mmengine."""
    model = _model()
    model[0].requires_grad_(False)
    wrapper = build_optim_wrapper(model, dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-4)))
    for _ in range(2):
        _step(wrapper, model)
    path = tmp_path / 'epoch_8.pth'
    torch.save({'state_dict': model.state_dict(), 'optimizer': wrapper.state_dict()}, path)
    return str(path), wrapper.optimizer.state_dict()


def _runner(path, **cfg):
    model = _model()
    wrapper = build_optim_wrapper(model, dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2.5e-4)))
    wrapper.optimizer.param_groups[0]['initial_lr'] = 2.5e-4  # as a param scheduler sets it
    return SimpleNamespace(cfg=Config(dict(load_from=path, **cfg)), optim_wrapper=wrapper), model


def test_moments_continue_at_this_runs_learning_rate(stage1):
    path, saved = stage1
    runner, model = _runner(path)
    LoadOptimizerStateHook().before_train(runner)
    opt = runner.optim_wrapper.optimizer
    state = opt.state_dict()['state']
    assert sorted(state) == sorted(saved['state']) == [2, 3]  # the frozen layer had no moments
    for i in (2, 3):
        for key in ('exp_avg', 'exp_avg_sq', 'step'):
            assert torch.equal(state[i][key], saved['state'][i][key])
    assert state[2]['step'] == 2
    assert opt.param_groups[0]['lr'] == opt.param_groups[0]['initial_lr'] == 2.5e-4
    _step(runner.optim_wrapper, model)  # stage 2: the first layer starts its moments, the second continues
    assert opt.state[model[0].weight]['step'] == 1 and opt.state[model[1].weight]['step'] == 3


def test_skipped_on_resume_and_errors(stage1, tmp_path):
    path, _ = stage1
    runner, _ = _runner(path, resume=True)
    LoadOptimizerStateHook().before_train(runner)
    assert runner.optim_wrapper.optimizer.state_dict()['state'] == {}
    with pytest.raises(ValueError, match='no checkpoint given and the config has no load_from'):
        LoadOptimizerStateHook().before_train(_runner(None)[0])
    weights = tmp_path / 'weights.pth'
    torch.save({'state_dict': {}}, weights)
    with pytest.raises(KeyError, match="has no 'optimizer' entry"):
        LoadOptimizerStateHook(str(weights)).before_train(_runner(path)[0])
    other = SimpleNamespace(cfg=Config(dict(load_from=path)), optim_wrapper=build_optim_wrapper(
        nn.Linear(3, 1), dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2.5e-4))))
    with pytest.raises(ValueError, match=r'parameter groups of sizes \[4\], this run\'s optimizer \[2\]'):
        LoadOptimizerStateHook().before_train(other)

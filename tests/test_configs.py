"""Every shipped config parses; every SDFN ablation config builds its model and trains one iteration."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper

from sdfn_plugin.registry import DATASETS, MODELS
from sdfn_plugin.cli.config_check import check_config
from sdfn_plugin.utils import register_all_modules

from cir_testlib import CONFIGS, TINY

register_all_modules()

ALL = sorted(p for p in glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True) if '_base_' not in p)
ABLATIONS = sorted(glob.glob(osp.join(CONFIGS, 'ablations', '*.py')))

ROWS = {  # paper Table 3 -> (router, consistency, spd, number of modules)
    'baseline': ('none', False, False, 4), 'w-sr': ('shared', False, False, 4), 'w-msr': ('msr', False, False, 4),
    'w-lc': ('none', True, False, 4), 'w-lc-sr': ('shared', True, False, 4), 'w-lc-msr': ('msr', True, False, 4),
    'full': ('msr', True, True, 4), 'wo-rcm': ('msr', True, True, 3), 'wo-jrm': ('msr', True, True, 3),
    'wo-gtm': ('msr', True, True, 3), 'wo-cam': ('msr', True, True, 3)}


def test_config_basenames_are_unique_for_mim():
    names = [osp.basename(p) for p in glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize('path', ALL, ids=[osp.relpath(p, CONFIGS) for p in ALL])
def test_config_parses_and_passes_boundary_checks(path):
    check_config(Config.fromfile(path), path)


def test_every_ablation_row_exists_for_both_datasets():
    got = {osp.basename(p)[len('sdfn-'):-3] for p in ABLATIONS}
    assert got == {f'{row}_{ds}' for row in ROWS for ds in ('shoes', 'fashioniq')}


@pytest.mark.parametrize('path', ABLATIONS, ids=[osp.basename(p) for p in ABLATIONS])
def test_ablation_builds_and_trains_one_iteration(path, css_root):
    cfg = Config.fromfile(path)
    row = osp.basename(path)[len('sdfn-'):].split('_')[0]
    router, consistency, spd, n_modules = ROWS[row]
    model_cfg = cfg.model
    # offline: no downloaded weights / GloVe; the tiny synthetic benchmark stands in for the images
    model_cfg.image_encoder.weights = None
    model_cfg.text_encoder.glove_file = None
    model_cfg.text_encoder.vocab_dataset = dict(type='CSSDataset', data_root=css_root, split='train', **TINY)
    model = MODELS.build(model_cfg)
    assert model.fusion.router_type == router
    assert len(model.fusion.module_names) == n_modules
    loss_types = {type(l).__name__ for l in model.losses}
    assert ('GramConsistencyLoss' in loss_types) == consistency
    assert ('SelfPathDistillationLoss' in loss_types) == spd
    dataset = DATASETS.build(dict(type='CSSDataset', data_root=css_root, split='train', **TINY,
                                  pipeline=[dict(type='LoadCIRImages', keys=('ref', 'tgt')),
                                            dict(type='ResizeImages', size=(64, 64)),
                                            dict(type='PackCIRInputs')]))
    for module in model.modules():
        if hasattr(module, 'allocate') and hasattr(module, 'commit_epoch'):
            module.allocate(len(dataset))
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    losses = model.train_step(pseudo_collate([dataset[i] for i in range(2)]), optim)
    assert 'loss_bbc' in losses and torch.isfinite(losses['loss'])
    assert ('loss_spd' in losses) == spd and ('loss_consistency' in losses) == consistency

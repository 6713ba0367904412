"""`--cfg-options data_root=...` reaches every dataset of every dataset config, the vocabulary dataset included."""
import os

import pytest
from mmengine.config import Config

from sdfn_plugin.cli.data_root import merge_cfg_options

CONFIGS = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', 'configs'))


def _data_roots(node, path=''):
    """``{dotted path: data_root}`` of every dict holding a data_root."""
    out = {}
    if isinstance(node, dict):
        if 'data_root' in node:
            out[path] = node['data_root']
        for k, v in node.items():
            out.update(_data_roots(v, f'{path}.{k}' if path else k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            out.update(_data_roots(v, f'{path}[{i}]'))
    return out


# (config, dataset sections that must follow: train, val (FashionIQ: 3), vocabulary)
@pytest.mark.parametrize('config,n_val', [('tirg_css.py', 1), ('tirg_fashioniq.py', 3), ('tirg_shoes.py', 1),
                                          ('tirg_fashion200k.py', 1), ('custom-triplets_tirg.py', 1)])
def test_one_override_reaches_every_dataset(config, n_val):
    cfg = Config.fromfile(os.path.join(CONFIGS, config))
    old = cfg.data_root
    merge_cfg_options(cfg, {'data_root': '/elsewhere', 'train_cfg.max_epochs': 1})
    roots = _data_roots(cfg.to_dict())
    built = {k: v for k, v in roots.items() if k.startswith(('train_dataloader', 'val_dataloader',
                                                              'test_dataloader', 'model'))}
    assert 'model.text_encoder.vocab_dataset' in built and 'train_dataloader.dataset' in built
    assert sum(k.startswith('val_dataloader') for k in built) == n_val
    assert set(built.values()) == {'/elsewhere'}, built
    assert old not in roots.values() and cfg.train_cfg.max_epochs == 1


def test_explicit_dataset_root_is_kept():
    cfg = Config.fromfile(os.path.join(CONFIGS, 'tirg_shoes.py'))
    merge_cfg_options(cfg, {'data_root': '/a', 'val_dataloader.dataset.data_root': '/b'})
    assert cfg.val_dataloader.dataset.data_root == '/b'
    assert cfg.train_dataloader.dataset.data_root == cfg.model.text_encoder.vocab_dataset.data_root == '/a'
    with pytest.raises(ValueError, match='data_root must be a non-empty path'):
        merge_cfg_options(Config.fromfile(os.path.join(CONFIGS, 'tirg_shoes.py')), {'data_root': ''})

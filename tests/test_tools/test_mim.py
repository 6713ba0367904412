"""openmim integration: `mim train/test sdfn_plugin CONFIG` against the installed package.

Requires a regular (non-editable) install, as in the README; skipped otherwise.
"""
import json
import os.path as osp
import shutil

import pytest

from cir_testlib import REPO, TINY, installed_package_root, run_cli, write_tiny_config

_installed_pkg_root = installed_package_root


pytestmark = pytest.mark.skipif(shutil.which('mim') is None or _installed_pkg_root() is None,
                                reason='needs openmim and a regular install of sdfn_plugin (README install command)')


def test_installed_package_ships_configs_and_tools():
    root = _installed_pkg_root()
    for rel in ('configs/tirg_css.py', 'configs/_base_/default_runtime.py', 'tools/train.py', 'tools/test.py'):
        assert osp.isfile(osp.join(root, rel)), rel


def test_mim_train_from_repo_root_and_elsewhere_then_mim_test(tmp_path, css_root):
    # from the repo root with a repo-relative config path
    child = write_tiny_config(str(tmp_path / 'tiny_tirg.py'), 'tirg_css.py', css_root, max_epochs=1)
    work = str(tmp_path / 'w1')
    proc = run_cli(['mim', 'train', 'sdfn_plugin', child, '--work-dir', work], cwd=REPO, env={'PYTHONPATH': ''})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    log = proc.stdout + proc.stderr
    assert 'retrieval/R@1' in log
    # mim test reproduces the last validation of the run exactly
    out = str(tmp_path / 'metrics.json')
    proc = run_cli(['mim', 'test', 'sdfn_plugin', child, '--checkpoint', osp.join(work, 'epoch_1.pth'),
                    '--work-dir', str(tmp_path / 't'), '--metrics-out', out], cwd=str(tmp_path), env={'PYTHONPATH': ''})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    with open(out) as f:
        metrics = json.load(f)
    scalars = json.loads(open(osp.join(work, sorted(
        d for d in __import__('os').listdir(work) if d[:1].isdigit())[-1], 'vis_data', 'scalars.json')).read()
        .strip().splitlines()[-1])
    for key, value in metrics.items():
        assert value == pytest.approx(scalars[key], abs=1e-6), key


def test_mim_finds_config_by_basename_from_any_directory(tmp_path, css_root):
    """`mim train sdfn_plugin tirg_css.py` from an unrelated cwd uses the packaged config."""
    opts = ['train_cfg.max_epochs=1']
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{key}.num_workers=0', f'{key}.persistent_workers=False', f'{key}.batch_size=16']
    for key in ('train_dataloader.dataset', 'val_dataloader.dataset', 'test_dataloader.dataset',
                'model.text_encoder.vocab_dataset'):
        opts += [f'{key}.{k}={v}' for k, v in dict(data_root=css_root, **TINY).items()]
    proc = run_cli(['mim', 'train', 'sdfn_plugin', 'tirg_css.py', '--work-dir', str(tmp_path / 'w'), '--no-validate',
                    '--cfg-options', *opts], cwd=str(tmp_path), env={'PYTHONPATH': ''})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # mim echoes the command it runs: the config resolved inside the installed package
    assert 'Training command is' in log and osp.join('sdfn_plugin', 'configs', 'tirg_css.py') in log
    assert osp.isfile(str(tmp_path / 'w' / 'epoch_1.pth'))

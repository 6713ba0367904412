"""Shared fixtures: a tiny generated CSS benchmark for the whole session."""
import pytest

from cir_testlib import TINY


@pytest.fixture(scope='session')
def css_root(tmp_path_factory) -> str:
    """A generated tiny CSS benchmark shared by the whole session."""
    from sdfn_plugin.datasets.css import CSSGenerationConfig, ensure_css
    root = str(tmp_path_factory.mktemp('css'))
    ensure_css(root, CSSGenerationConfig(seed=0, **TINY), progress=False)
    return root


@pytest.fixture(scope='session')
def tiny_tirg(tmp_path_factory, css_root):
    """``(config, checkpoint)`` of TIRG trained one epoch on the tiny benchmark (tools/train.py, no validation)."""
    import os.path as osp

    from cir_testlib import python_cli, write_tiny_config
    root = tmp_path_factory.mktemp('tiny_tirg')
    cfg = write_tiny_config(str(root / 'tirg_tiny.py'), 'tirg_css.py', css_root, max_epochs=1,
                            extra='train_cfg = dict(max_epochs=1, val_interval=2)')
    proc = python_cli('train.py', cfg, '--work-dir', str(root / 'work'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cfg, osp.join(str(root / 'work'), 'epoch_1.pth')

"""A user's config in any directory inherits a shipped config with ``_base_ = ['sdfn_plugin::...']``."""
import os.path as osp
import shutil

import pytest
from mmengine.config import Config

from cir_testlib import REPO, TINY, installed_package_root, run_cli
from sdfn_plugin.cli.config_file import load_config_file, resolve_config_path, shipped_config_dir
from sdfn_plugin.tools.print_config import main as print_config
from sdfn_plugin.tools.train import main as train

WIDTH = 128  # sdfn_css.py works at 256; SDFN needs one width for both towers and the fusion


def _user_config(path, data_root=None, base="'sdfn_plugin::sdfn_css.py'"):
    text = f"""_base_ = [{base}]
width = {WIDTH}
model = dict(image_encoder=dict(out_dim=width), text_encoder=dict(embed_dim=width, hidden_dim=width),
             fusion=dict(image_dim=width, text_dim=width, embed_dim=width))
"""
    if data_root is not None:  # one training iteration on the tiny benchmark: the whole split in one batch
        data = dict(data_root=data_root, **TINY)
        text += f"""_data = {data!r}
train_dataloader = dict(batch_size={TINY['num_train']}, num_workers=0, persistent_workers=False, dataset=_data)
val_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False, dataset=_data)
test_dataloader = val_dataloader
model.update(text_encoder=dict(embed_dim=width, hidden_dim=width, vocab_dataset=_data))
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
"""
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def test_prefix_inherits_a_shipped_config_and_overrides_it(tmp_path):
    cfg = load_config_file(_user_config(tmp_path / 'mine.py'))
    assert cfg.model.fusion.embed_dim == cfg.model.image_encoder.out_dim == WIDTH
    assert cfg.model.text_encoder.hidden_dim == WIDTH
    # everything else comes from sdfn_css.py and its own relative bases
    assert cfg.model.fusion.type == 'SDFN' and cfg.model.image_encoder.type == 'SmallCNN'
    assert cfg.default_scope == 'sdfn_plugin' and cfg.train_cfg.max_epochs == 5
    # a second user file inheriting the first one by a plain relative path
    (tmp_path / 'sub').mkdir()
    child = tmp_path / 'sub' / 'child.py'
    child.write_text("_base_ = ['../mine.py']\ntrain_cfg = dict(max_epochs=2)\n")
    cfg = load_config_file(str(child))
    assert cfg.train_cfg.max_epochs == 2 and cfg.model.fusion.embed_dim == WIDTH
    # nothing global changed: plain mmengine still refuses the prefix after loading
    with pytest.raises(ValueError, match='used for get external package'):
        Config.fromfile(str(tmp_path / 'mine.py'))


def test_prefix_names_shipped_files_only(tmp_path):
    assert resolve_config_path('sdfn_plugin::_base_/default_runtime.py') == osp.join(
        shipped_config_dir(), '_base_', 'default_runtime.py')
    assert resolve_config_path(str(tmp_path / 'x.py')) == str(tmp_path / 'x.py')
    with pytest.raises(FileNotFoundError, match="no shipped config 'sdfn_cs.py'"):
        resolve_config_path('sdfn_plugin::sdfn_cs.py')
    with pytest.raises(ValueError, match='must be a path relative to'):
        resolve_config_path('sdfn_plugin::../setup.py')
    bad = tmp_path / 'bad.py'
    bad.write_text("_base_ = ['sdfn_plugin::tirg_cs.py']\n")
    with pytest.raises(FileNotFoundError, match="no shipped config 'tirg_cs.py'"):
        load_config_file(str(bad))


def test_print_config_merges_bases_and_options(tmp_path, capsys):
    out = tmp_path / 'merged.py'
    print_config([_user_config(tmp_path / 'mine.py'), '--cfg-options', 'train_cfg.max_epochs=3', '--out', str(out)])
    text = capsys.readouterr().out
    assert f'embed_dim={WIDTH}' in text and 'max_epochs=3' in text
    merged = Config.fromfile(str(out))  # self-contained: no _base_ left
    assert merged.model.fusion.embed_dim == WIDTH and merged.train_cfg.max_epochs == 3


def _check_one_iteration(log, work):
    assert 'Epoch(train) [1][1/1]' in log and osp.isfile(osp.join(work, 'epoch_1.pth'))
    # the Runner's copy of the merged config (SDFN refuses to build unless every width agrees)
    used = Config.fromfile(osp.join(work, 'mine.py'))
    assert used.model.fusion.embed_dim == used.model.image_encoder.out_dim == WIDTH


def test_tools_train_from_a_temporary_directory(tmp_path, css_root, monkeypatch, capsys):
    """``tools/train.py`` (the ``sdfn-train`` console script's ``main``), run in-process from the user's folder."""
    _user_config(tmp_path / 'mine.py', css_root)
    monkeypatch.chdir(tmp_path)
    train(['mine.py', '--work-dir', 'w', '--no-validate'])
    _check_one_iteration(open(_log_file(tmp_path / 'w')).read(), str(tmp_path / 'w'))


def _log_file(work):
    runs = sorted(p for p in work.iterdir() if p.is_dir() and p.name[:1].isdigit())
    return runs[-1] / f'{runs[-1].name}.log'


@pytest.mark.skipif(shutil.which('mim') is None or installed_package_root() is None,
                    reason='needs openmim and a regular install of sdfn_plugin (README install command)')
def test_mim_train_from_a_temporary_directory(tmp_path, css_root):
    """The installed package, as a user has it: no repository on the path."""
    _user_config(tmp_path / 'mine.py', css_root)
    work = str(tmp_path / 'w')
    proc = run_cli(['mim', 'train', 'sdfn_plugin', 'mine.py', '--work-dir', work, '--no-validate'],
                   cwd=str(tmp_path), env={'PYTHONPATH': ''})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    _check_one_iteration(log, work)
    assert REPO not in proc.stdout  # the installed tools ran

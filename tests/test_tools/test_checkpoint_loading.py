"""tools/train.py and tools/test.py load checkpoints safely and strictly, and refuse runs that would do nothing.

The tools run in-process (``main(argv)``; their errors end in ``sys.exit(1)`` with one ``error:`` line) on the
tiny TIRG config; the session's one-epoch TIRG run (``tiny_tirg``) gives the full checkpoint (message hub,
optimizer) the cases start from.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from sdfn_plugin.utils.checkpoint import load_checkpoint_file
from sdfn_plugin.registry import MODELS
from sdfn_plugin.tools import print_config
from sdfn_plugin.tools import test as test_tool
from sdfn_plugin.tools import train as train_tool

from cir_testlib import crafted_checkpoint, write_tiny_config

# 'default': the tools would otherwise change this pytest process's malloc policy
_EXTRA = "env_cfg = dict(cpu_malloc='default')"


def _run(capsys, tool, *argv):
    """``(exit code, stdout + stderr)`` of a tool's ``main``."""
    try:
        tool.main([str(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out + out.err


def _last_error(text: str) -> str:
    return [line for line in text.strip().splitlines() if line.startswith('error:')][-1]


@pytest.fixture(scope='module')
def trained(tmp_path_factory, css_root, tiny_tirg):
    """(config, full epoch-1 checkpoint): tiny_tirg's model config and checkpoint."""
    tmp = tmp_path_factory.mktemp('ckpt_tools')
    cfg = write_tiny_config(str(tmp / 'tirg.py'), 'tirg_css.py', css_root, max_epochs=1, extra=_EXTRA)
    return cfg, tiny_tirg[1]


def test_crafted_checkpoints_are_refused_by_test_resume_and_init_cfg(trained, capsys, tmp_path):
    cfg, _ = trained
    marker = tmp_path / 'marker'
    evil = crafted_checkpoint(str(tmp_path / 'evil.pth'), str(marker))
    refused = f'error: UnsafeCheckpointError: refused to load checkpoint {evil}: it contains objects'
    code, out = _run(capsys, test_tool, cfg, evil, '--work-dir', tmp_path / 't')
    assert code == 1 and _last_error(out).startswith(refused) and 'GLOBAL exec' in out
    code, out = _run(capsys, train_tool, cfg, '--resume', evil, '--work-dir', tmp_path / 'r', '--no-validate')
    assert code == 1 and _last_error(out).startswith(refused)
    code, out = _run(capsys, train_tool, cfg, '--work-dir', tmp_path / 'i', '--no-validate', '--cfg-options',
                     'model.init_cfg.type=Pretrained', f'model.init_cfg.checkpoint={evil}')
    assert code == 1 and 'error: UnsafeCheckpointError: refused to load checkpoint' in _last_error(out)
    assert not marker.exists()
    assert not osp.exists(tmp_path / 'i' / 'epoch_1.pth')


def test_mismatched_checkpoints_fail_strictly_and_load_with_allow_partial(trained, capsys, tmp_path, css_root):
    cfg, ckpt = trained
    full = load_checkpoint_file(ckpt)
    state = full['state_dict']
    fusion = sorted(k for k in state if k.startswith('fusion.'))
    # another method's checkpoint: Combiner weights on the TIRG config
    combiner_cfg = write_tiny_config(str(tmp_path / 'combiner.py'), 'combiner_css.py', css_root)
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        combiner = MODELS.build(Config.fromfile(combiner_cfg).model)
    torch.save({'state_dict': combiner.state_dict()}, str(tmp_path / 'combiner.pth'))
    # the fusion keys removed; one tensor of the wrong shape
    torch.save({'state_dict': {k: v for k, v in state.items() if k not in fusion}}, str(tmp_path / 'nofusion.pth'))
    shape_key = fusion[0]
    wrong = dict(state, **{shape_key: torch.zeros(*state[shape_key].shape[:-1], state[shape_key].shape[-1] + 1)})
    torch.save({'state_dict': wrong}, str(tmp_path / 'shape.pth'))

    code, out = _run(capsys, test_tool, cfg, tmp_path / 'combiner.pth', '--work-dir', tmp_path / 'a')
    err = _last_error(out)
    assert code == 1 and 'CheckpointMismatchError' in err and 'does not match the model ComposedRetriever' in err
    assert ' missing keys (fusion.' in err and ' unexpected keys (fusion.' in err and '--allow-partial' in err
    # BatchNorm fills in a missing num_batches_tracked itself (torch's state-dict versioning): not reported
    missing = [k for k in fusion if not k.endswith('num_batches_tracked')]
    code, out = _run(capsys, test_tool, cfg, tmp_path / 'nofusion.pth', '--work-dir', tmp_path / 'b')
    assert code == 1 and f'{len(missing)} missing keys ({missing[0]}, {missing[1]}, ' in _last_error(out)
    code, out = _run(capsys, test_tool, cfg, tmp_path / 'shape.pth', '--work-dir', tmp_path / 'c')
    assert code == 1 and f'1 shape mismatches ({shape_key})' in _last_error(out)

    metrics = tmp_path / 'partial.json'
    code, out = _run(capsys, test_tool, cfg, tmp_path / 'nofusion.pth', '--work-dir', tmp_path / 'd',
                     '--allow-partial', '--metrics-out', metrics)
    assert code == 0 and metrics.exists(), out[-2000:]
    assert f'partial load of checkpoint {tmp_path / "nofusion.pth"} into ComposedRetriever: skipped ' \
           f'{len(missing)} missing keys ({missing[0]}, ' in out


def test_resume_with_a_wrong_shape_fails_before_training(trained, capsys, tmp_path):
    cfg, ckpt = trained
    full = load_checkpoint_file(ckpt)  # message hub, optimizer, schedulers: a real resumable checkpoint
    key = sorted(k for k in full['state_dict'] if k.startswith('fusion.'))[0]
    full['state_dict'][key] = torch.zeros(3)
    torch.save(full, str(tmp_path / 'resume_shape.pth'))
    work = tmp_path / 'w'
    code, out = _run(capsys, train_tool, cfg, '--resume', tmp_path / 'resume_shape.pth', '--work-dir', work,
                     '--cfg-options', 'train_cfg.max_epochs=2')
    assert code == 1 and f'1 shape mismatches ({key})' in _last_error(out) and 'first shape mismatch' in out
    assert not osp.exists(work / 'epoch_2.pth')
    torch.save({'state_dict': load_checkpoint_file(ckpt)['state_dict']}, str(tmp_path / 'weights.pth'))
    code, out = _run(capsys, train_tool, cfg, '--resume', tmp_path / 'weights.pth', '--work-dir', work)
    assert code == 1 and _last_error(out).startswith(
        f'error: ValueError: cannot resume from {tmp_path / "weights.pth"}: it holds weights only')


def test_schedules_that_train_nothing_and_bad_arguments_fail_before_any_work(trained, capsys, tmp_path):
    cfg, ckpt = trained
    code, out = _run(capsys, train_tool, cfg, '--work-dir', tmp_path / 'a', '--cfg-options', 'train_cfg.max_epochs=0')
    assert code == 1 and _last_error(out) == (
        'error: ValueError: train_cfg.max_epochs=0: the run would train nothing; set max_epochs >= 1')
    code, out = _run(capsys, train_tool, cfg, '--work-dir', tmp_path / 'b', '--cfg-options',
                     'train_dataloader.batch_size=200')
    assert code == 1 and _last_error(out) == (
        'error: ValueError: train_dataloader: 0 iterations per epoch: 96 training samples (per process) with '
        'batch_size=200 and drop_last=True; lower batch_size to at most 96 or set drop_last=False')
    assert not osp.exists(tmp_path / 'a' / 'epoch_1.pth') and not osp.exists(tmp_path / 'b' / 'epoch_1.pth')

    code, out = _run(capsys, test_tool, cfg, ckpt, '--cfg-options', 'train_cfg.max_epochs')
    assert code == 2 and "argument --cfg-options: 'train_cfg.max_epochs' is not KEY=VALUE" in out
    missing = tmp_path / 'no' / 'such' / 'm.json'
    code, out = _run(capsys, test_tool, cfg, ckpt, '--metrics-out', missing)
    assert code == 1 and _last_error(out) == (
        f'error: FileNotFoundError: --metrics-out {missing}: the folder {missing.parent} does not exist')
    code, out = _run(capsys, print_config, cfg, '--out', missing)  # the other tools share both checks
    assert code == 1 and _last_error(out) == (
        f'error: FileNotFoundError: --out {missing}: the folder {missing.parent} does not exist')
    code, out = _run(capsys, print_config, cfg, '--cfg-options', 'data_root')
    assert code == 2 and "argument --cfg-options: 'data_root' is not KEY=VALUE" in out
    (tmp_path / 'empty.pth').write_bytes(b'')
    for tool, args in ((test_tool, [tmp_path / 'empty.pth']), (train_tool, ['--resume', tmp_path / 'empty.pth'])):
        code, out = _run(capsys, tool, cfg, *args)
        assert code == 1 and _last_error(out) == f'error: ValueError: checkpoint {tmp_path / "empty.pth"} is empty (0 bytes)'

"""sdfn_plugin.utils.checkpoint: safe (weights_only) and strict loading, in-process."""
import fractions
import os.path as osp
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import load_from_local
from torch import nn

from sdfn_plugin.utils.checkpoint import (CheckpointMismatchError, UnsafeCheckpointError, load_checkpoint_file,
                                           load_model_weights, load_policy)

from cir_testlib import crafted_checkpoint


class _GetattrEscape:
    """Asks the unpickler for ``getattr(HistoryBuffer, '__init__')`` (a general getattr would allow it)."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


class _BigBytes:
    """Asks the unpickler for ``bytes(10**12)`` (a terabyte allocation)."""

    def __reduce__(self):
        return bytes, (10**12, )


def _net():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_mmengine_training_state_loads_safely_and_nothing_global_changes(tmp_path):
    """A checkpoint holding what mmengine's Runner saves (HistoryBuffers with numpy arrays, a numpy scalar)
    loads under weights_only=True; torch's allowlist and mmengine's loader are unchanged afterwards."""
    hub = MessageHub('h15a_ckpt_test')
    for v in (0.5, 0.25):
        hub.update_scalar('train/loss', v)
    hub.update_info('eta', np.float64(1.5))
    hub.update_info('ids', np.arange(3, dtype=np.int32))
    hub.update_info('fresh', HistoryBuffer())  # empty arrays: pickled as bytes()
    path = str(tmp_path / 'full.pth')
    torch.save({'meta': {'epoch': 1}, 'state_dict': _net().state_dict(), 'message_hub': hub.state_dict()}, path)
    before = set(map(str, torch.serialization.get_safe_globals()))

    ckpt = load_checkpoint_file(path)

    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.mean() == 0.375 and buf.current() == 0.25
    assert ckpt['message_hub']['runtime_info']['eta'] == np.float64(1.5)
    assert ckpt['message_hub']['runtime_info']['ids'].tolist() == [0, 1, 2]
    assert ckpt['message_hub']['runtime_info']['fresh'].data[0].shape == (0, )
    assert set(map(str, torch.serialization.get_safe_globals())) == before
    with pytest.raises(Exception, match='HistoryBuffer'):  # torch's own default loader is still strict
        torch.load(path, weights_only=True)
    import sdfn_plugin  # noqa: F401  importing the package registers no process-wide checkpoint loader
    assert CheckpointLoader._schemes[''] is load_from_local


def test_crafted_pickles_are_refused_and_never_run(tmp_path):
    marker = str(tmp_path / 'marker')
    path = crafted_checkpoint(str(tmp_path / 'evil.pth'), marker, _net().state_dict())
    with pytest.raises(UnsafeCheckpointError, match=r'refused to load checkpoint .*evil\.pth.*GLOBAL exec'):
        load_checkpoint_file(path)
    with pytest.raises(UnsafeCheckpointError, match='GLOBAL exec'):
        load_model_weights(_net(), path)
    torch.save({'x': _BigBytes()}, str(tmp_path / 'bytes.pth'))
    with pytest.raises(UnsafeCheckpointError, match=r'bytes\(1000000000000,\) is not allowed'):
        load_checkpoint_file(str(tmp_path / 'bytes.pth'))
    torch.save({'x': _GetattrEscape()}, str(tmp_path / 'getattr.pth'))
    with pytest.raises(UnsafeCheckpointError, match=r"getattr\(.*HistoryBuffer.*'__init__'\) is not allowed"):
        load_checkpoint_file(str(tmp_path / 'getattr.pth'))
    assert not osp.exists(marker)


def test_unsafe_load_is_an_explicit_policy(tmp_path):
    path = str(tmp_path / 'frac.pth')
    torch.save({'state_dict': {}, 'ratio': fractions.Fraction(1, 3)}, path)
    with pytest.raises(UnsafeCheckpointError, match='fractions.Fraction'):
        load_checkpoint_file(path)
    with load_policy(unsafe=True):
        assert load_checkpoint_file(path)['ratio'] == fractions.Fraction(1, 3)
    with pytest.raises(UnsafeCheckpointError):  # the policy ends with its block
        load_checkpoint_file(path)


def test_empty_missing_and_foreign_files_are_named(tmp_path):
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match=rf'^checkpoint {empty} is empty \(0 bytes\)$'):
        load_checkpoint_file(str(empty))
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    with pytest.raises(ValueError, match='is not a readable torch checkpoint'):
        load_checkpoint_file(str(tmp_path / 'text.pth'))
    torch.save([torch.zeros(1)], str(tmp_path / 'list.pth'))
    with pytest.raises(ValueError, match='holds a list, expected a dict'):
        load_checkpoint_file(str(tmp_path / 'list.pth'))


def test_strict_load_names_missing_unexpected_and_misshaped_keys(tmp_path):
    src = _net()
    state = OrderedDict(src.state_dict())
    del state['0.bias']                      # missing
    state['3.weight'] = torch.zeros(1)       # unexpected
    state['2.weight'] = torch.zeros(2, 5)    # wrong shape (model: 2 x 4)
    path = str(tmp_path / 'bad.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_model_weights(_net(), path)
    msg = str(err.value)
    assert f'checkpoint {path} does not match the model Sequential' in msg
    assert '1 missing keys (0.bias)' in msg and '1 unexpected keys (3.weight)' in msg
    assert '1 shape mismatches (2.weight)' in msg and 'torch.Size([2, 5])' in msg and '--allow-partial' in msg

    dst = _net()
    keep = dst.state_dict()['2.weight'].clone()
    with load_policy(allow_partial=True):
        ckpt = load_model_weights(dst, path)
    assert set(ckpt) == {'state_dict'}
    assert torch.equal(dst[0].weight, src[0].weight) and torch.equal(dst[2].bias, src[2].bias)
    assert torch.equal(dst[2].weight, keep)  # the mis-shaped tensor was skipped, not half-copied


def test_many_mismatches_are_counted_and_ddp_prefix_is_stripped(tmp_path):
    wide = nn.Sequential(*[nn.Linear(2, 2) for _ in range(7)])
    path = str(tmp_path / 'wide.pth')
    torch.save({'state_dict': {f'module.{k}': v for k, v in wide.state_dict().items()}}, path)
    load_model_weights(nn.Sequential(*[nn.Linear(2, 2) for _ in range(7)]), path)  # 'module.' removed
    with pytest.raises(CheckpointMismatchError, match=r'14 unexpected keys \(0\.bias, 0\.weight, 1\.bias, '
                                                      r'1\.weight, 2\.bias, \.\.\. \(9 more\)\)'):
        load_model_weights(nn.Sequential(nn.Identity()), path)


class _WithInit(BaseModule):
    def __init__(self, init_cfg):
        super().__init__(init_cfg=init_cfg)
        self.head = nn.Linear(3, 4)


def test_pretrained_init_cfg_goes_through_the_safe_loader(tmp_path):
    marker = str(tmp_path / 'marker')
    src = nn.Module()
    src.head = nn.Linear(3, 4)
    good = str(tmp_path / 'good.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()}}, good)
    evil = crafted_checkpoint(str(tmp_path / 'evil.pth'), marker)
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        module = _WithInit(dict(type='Pretrained', checkpoint=good, prefix='backbone.'))
        module.init_weights()
        assert torch.equal(module.head.weight, src.head.weight)
        with pytest.raises(UnsafeCheckpointError, match='GLOBAL exec'):
            _WithInit(dict(type='Pretrained', checkpoint=evil)).init_weights()
        with pytest.raises(CheckpointMismatchError, match='none of its keys belongs to _WithInit'):
            _WithInit(dict(type='Pretrained', checkpoint=good)).init_weights()  # prefix forgotten
    assert not osp.exists(marker)


def test_load_state_dict_post_hooks_run_as_in_torch():
    """A module's post hook may accept a missing key (as with nn.Module.load_state_dict)."""
    from sdfn_plugin.utils.checkpoint import load_state_dict_strict
    net, src = _net(), _net()

    def optional_bias(module, keys):
        keys.missing_keys[:] = [k for k in keys.missing_keys if k != '0.bias']

    net.register_load_state_dict_post_hook(optional_bias)
    state = {k: v for k, v in src.state_dict().items() if k != '0.bias'}
    report = load_state_dict_strict(net, state)
    assert report.missing == [] and torch.equal(net[2].weight, src[2].weight)
    with pytest.raises(CheckpointMismatchError, match=r'1 missing keys \(0\.bias\)'):
        load_state_dict_strict(_net(), state)

"""Test helpers: paths, the tiny benchmark size, tiny configs and CLI runners.

A module with a unique name (not conftest) so test files can import it unambiguously."""
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(REPO, 'sdfn_plugin', 'configs')
#: the official annotation files, next to the checkout (not part of the repository)
SHARED_DATA = osp.normpath(osp.join(REPO, '..', 'shared', 'data'))
#: small real-format excerpts of them, shipped with the tests (tests/data/README.md)
FIXTURE_DATA = osp.join(REPO, 'tests', 'data')
TINY = dict(num_train=96, num_test=32, image_size=64)  # 64 px: the CSS configs' flatten head expects it


def write_tiny_config(path: str, base: str, data_root: str, max_epochs: int = 2,
                      extra: str = '') -> str:
    """A child config of ``configs/<base>`` that trains on the tiny benchmark on CPU."""
    data = dict(data_root=data_root, **TINY)
    text = f"""
_base_ = [{osp.join(CONFIGS, base)!r}]
_data = {data!r}
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False, dataset=_data)
val_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False, dataset=_data)
test_dataloader = val_dataloader
model = dict(text_encoder=dict(vocab_dataset=_data))
train_cfg = dict(max_epochs={max_epochs})
default_hooks = dict(logger=dict(interval=1))
{extra}
"""
    with open(path, 'w') as f:
        f.write(text)
    return path


def official_data(name: str, probe: str) -> str:
    """``../shared/data/<name>`` when ``<probe>`` exists in it; otherwise skip the test, or fail it under ``CI=true``
    (CI must run the count tests against the official files, never skip them silently)."""
    import pytest
    root = osp.join(SHARED_DATA, name)
    if osp.exists(osp.join(root, probe)):
        return root
    msg = f'official {name} annotations not found at {root} (expected {probe})'
    if os.environ.get('CI', '').strip().lower() in ('true', '1'):
        pytest.fail(msg + '; CI=true requires them', pytrace=False)
    pytest.skip(msg)


def installed_package_root() -> Optional[str]:
    """The ``sdfn_plugin`` folder of a regular (non-editable) install, or None (no install, or editable)."""
    import importlib.metadata as md
    try:
        dist = md.distribution('sdfn_plugin')
    except md.PackageNotFoundError:
        return None
    root = osp.join(str(dist.locate_file('')), 'sdfn_plugin')
    return root if osp.isfile(osp.join(root, 'tools', 'train.py')) else None


def run_cli(args: List[str], cwd: Optional[str] = None, env: Optional[Dict[str, str]] = None,
            timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd or REPO, env=cli_env(env), capture_output=True, text=True, timeout=timeout)


def cli_env(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment :func:`run_cli` gives a command: this process's, ``PYTHONPATH`` = the checkout, ``env``."""
    full_env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    full_env.update(env or {})
    return full_env


def python_cli(script: str, *args: str, cwd: Optional[str] = None, env: Optional[Dict[str, str]] = None,
               timeout: int = 300) -> subprocess.CompletedProcess:
    """``python tools/<script> args...`` in a warm child (``sdfn_plugin.testing.forkserver``: the stack is
    imported once per test process, not once per run); a real interpreter: :func:`run_cli`."""
    from sdfn_plugin.testing.forkserver import run_script
    return run_script(osp.join(REPO, 'tools', script), *args, cwd=cwd or REPO, env=cli_env(env), timeout=timeout)


class _WritesMarker:
    """Unpickling this runs ``exec``, which writes a marker file (what a malicious checkpoint would do)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import builtins
        return builtins.exec, (f'open({self.marker!r}, "w").write("pwned")', )


def crafted_checkpoint(path: str, marker: str, state_dict=None) -> str:
    """A checkpoint (optionally with real weights) whose unpickling would write the file ``marker``."""
    import torch
    torch.save({'state_dict': state_dict or {}, 'meta': {}, 'payload': _WritesMarker(marker)}, path)
    return path

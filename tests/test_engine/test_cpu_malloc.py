"""env_cfg.cpu_malloc: the CPU allocator policy of tools/train.py and tools/test.py."""
import os.path as osp
import textwrap

import pytest

from sdfn_plugin.engine.cpu_malloc import _glibc, configure_cpu_malloc, configure_from_env_cfg
from sdfn_plugin.testing.forkserver import run_script
from sdfn_plugin.tools.train import build_cfg, parse_args

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
needs_glibc = pytest.mark.skipif(_glibc() is None, reason='the retain policy needs glibc')

# Allocates, touches and frees a 64 MiB tensor 5 times, then counts the minor page faults of 10 more rounds.
_FAULTS = textwrap.dedent('''
    import resource, sys, torch
    from sdfn_plugin.engine.cpu_malloc import configure_cpu_malloc
    print(configure_cpu_malloc(sys.argv[1]))
    def touch():
        t = torch.empty(16 * 2**20, dtype=torch.float32)
        t.fill_(1.0)
        del t
    for _ in range(5):  # the block may alternate between two heap places before it settles
        touch()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        touch()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
''')


def _refault_count(mode: str, tmp_path) -> int:
    # a new process (the policy is per process), forked warm: torch is not imported again for each mode
    script = tmp_path / 'faults.py'
    script.write_text(_FAULTS)
    proc = run_script(str(script), mode, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout.split()
    assert out[0] == str(mode == 'retain')
    return int(out[1])


@needs_glibc
def test_retain_stops_refaulting_freed_memory(tmp_path):
    """With glibc's defaults a freed 64 MiB block is unmapped and faulted in again every round (16k pages, or
    32 with transparent huge pages); with 'retain' it stays in the process (measured: 0 faults in most
    rounds, 16k when the block first lands on a second heap place)."""
    default, retain = _refault_count('default', tmp_path), _refault_count('retain', tmp_path)
    assert default >= 10 * 32
    assert retain * 4 < default


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match=r"env_cfg.cpu_malloc must be one of \['retain', 'default'\], got 'fast'"):
        configure_cpu_malloc('fast')


def test_default_mode_changes_nothing():
    assert configure_cpu_malloc('default') is False
    assert configure_from_env_cfg({'cpu_malloc': 'default'}) is False


@needs_glibc
def test_env_cfg_defaults_to_retain():
    assert configure_from_env_cfg({}) is True
    assert configure_from_env_cfg(None) is True


def test_tools_validate_the_setting(tmp_path):
    """tools/train.py (and mim train) applies the policy while loading the config; a bad value stops it there."""
    cfg_file = tmp_path / 'bad_malloc.py'
    cfg_file.write_text(f"_base_ = ['{ROOT}/configs/tirg_css.py']\nenv_cfg = dict(cpu_malloc='jemalloc')\n")
    with pytest.raises(ValueError, match="env_cfg.cpu_malloc must be one of .* got 'jemalloc'"):
        build_cfg(parse_args([str(cfg_file), '--work-dir', str(tmp_path)]))
    cfg = build_cfg(parse_args([f'{ROOT}/configs/tirg_css.py', '--work-dir', str(tmp_path)]))
    assert cfg.env_cfg.cpu_malloc == 'retain'

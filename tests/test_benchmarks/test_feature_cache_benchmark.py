"""benchmarks/feature_cache.py: the two runs differ only by the cache, and the CLI reports consistent numbers."""
import argparse
import os.path as osp
import re
import sys

from sdfn_plugin.testing.forkserver import run_script

from cir_testlib import REPO, cli_env

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import feature_cache as bench  # noqa: E402


def _args(tmp_path, **kw):
    base = dict(num_samples=16, batch_size=8, image_size=64, depth=18, dtype='float16', threads=1, num_workers=0,
                fused_adam=False, work_dir=str(tmp_path))
    return argparse.Namespace(**dict(base, **kw))


def test_live_and_cached_configs_differ_only_by_the_cache(tmp_path):
    live, cached = bench.build_config(_args(tmp_path), False), bench.build_config(_args(tmp_path), True)
    assert cached.model.pop('feature_cache') == dict(dir=osp.join(str(tmp_path), 'feature_cache'), dtype='float16')
    assert [h['type'] for h in cached.custom_hooks] == ['FeatureCacheHook', 'EpochReseedHook']
    assert [h['type'] for h in live.custom_hooks] == ['EpochReseedHook']
    assert live.model == cached.model and live.train_dataloader == cached.train_dataloader
    assert live.model.image_encoder == dict(type='TorchvisionResNet', depth=18, out_dim=None, frozen=True)
    assert live.val_dataloader is None and live.default_hooks.checkpoint is None
    assert bench.build_config(_args(tmp_path, fused_adam=True), False).optim_wrapper.optimizer.fused is True


def test_cli_reports_both_epochs_their_ratio_and_the_build(tmp_path):
    # a warm child (sdfn_plugin.testing.forkserver): the script's own process without re-importing torch
    proc = run_script(osp.join(REPO, 'benchmarks', 'feature_cache.py'), '--num-samples', '16', '--batch-size', '8',
                      '--image-size', '64', '--depth', '18', '--threads', '1', '--work-dir', str(tmp_path),
                      cwd=REPO, env=cli_env({'OMP_NUM_THREADS': '1'}))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    live = float(re.search(r'epoch through the frozen tower :\s+([\d.]+) s', out).group(1))
    cached = float(re.search(r'epoch on cached features       :\s+([\d.]+) s', out).group(1))
    ratio = float(re.search(r'speed-up                       :\s+([\d.]+)x', out).group(1))
    assert abs(ratio - live / cached) <= 0.05 * ratio + 0.1  # printed values are rounded
    assert '(32 images; built 1, reused 0)' in out

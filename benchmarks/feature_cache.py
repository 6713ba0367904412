"""One epoch of fusion training on cached features vs. through the frozen image tower, in one run.

    OMP_NUM_THREADS=2 python benchmarks/feature_cache.py --num-samples 256 --threads 2

Both runs train TIRG on the same generated triplets (the synthetic CSS benchmark rendered at
``--image-size`` px), same batch, seed and data order, with a torchvision ResNet frozen as a whole
(stem, four stages and BatchNorm; random init: weights do not change the speed) through the real
mmengine Runner and data pipeline:

* **live**: every step decodes the reference and target images and runs them through the tower;
* **cached**: ``model.feature_cache`` + ``FeatureCacheHook``; the cache is built once before the epoch
  (timed separately, from an empty cache folder), then every step reads features from the cache.

What a cached step still costs is the fusion's forward/backward and the optimiser update; for TIRG at
2048 dimensions (~34M parameters) plain Adam dominates it, ``--fused-adam`` makes it ~4x cheaper on CPU.

Prints the two epoch times (``before_train_epoch`` to ``after_train_epoch``), their ratio and the one-off
cache build time. Validation and checkpoints are off. Smoke test::

    OMP_NUM_THREADS=1 python benchmarks/feature_cache.py --num-samples 16 --batch-size 8 --image-size 64 \\
        --depth 18 --threads 1
"""
import argparse
import inspect
import os.path as osp
import shutil
import sys
import time
from typing import Dict, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

_WIDTH = {18: 512, 34: 512, 50: 2048, 101: 2048}


class EpochTimer(Hook):
    """Wall time of each training epoch (runs before the other hooks' after_train_epoch)."""

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self.seconds = []

    def before_train_epoch(self, runner) -> None:
        self._start = time.perf_counter()

    def after_train_epoch(self, runner) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def build_config(args: argparse.Namespace, cached: bool) -> Config:
    cfg = Config.fromfile(osp.join(REPO, 'sdfn_plugin', 'configs', 'tirg_css.py'))
    data = dict(type='CSSDataset', data_root=osp.join(args.work_dir, 'data'), split='train', seed=0,
                num_train=args.num_samples, num_test=3, image_size=args.image_size,
                pipeline=[dict(type='LoadCIRImages', keys=('ref', 'tgt')), dict(type='PackCIRInputs')])
    dim = _WIDTH[args.depth]
    cfg.model.image_encoder = dict(type='TorchvisionResNet', depth=args.depth, out_dim=None, frozen=True)
    cfg.model.text_encoder.update(out_dim=dim, vocab_dataset=data)
    cfg.model.fusion.update(image_dim=dim, text_dim=dim, embed_dim=dim)
    hooks = [dict(type='EpochReseedHook')]
    if cached:
        cfg.model.feature_cache = dict(dir=osp.join(args.work_dir, 'feature_cache'), dtype=args.dtype)
        hooks.insert(0, dict(type='FeatureCacheHook', batch_size=args.batch_size))
    cfg.custom_hooks = hooks
    cfg.train_dataloader = dict(batch_size=args.batch_size, num_workers=args.num_workers, drop_last=True,
                                persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=True),
                                dataset=data)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    if args.fused_adam:  # one fused kernel per update (docs/performance.md); both runs alike
        cfg.optim_wrapper.optimizer.fused = True
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 10 ** 6  # no per-step logging inside the timed epoch
    cfg.work_dir = osp.join(args.work_dir, 'cached' if cached else 'live')
    return cfg


def train_one_epoch(cfg: Config) -> Tuple[float, Dict[str, float]]:
    """Epoch seconds and the feature-cache hook's stats (empty for the live run)."""
    names = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
    runner = Runner(**{k: cfg[k] for k in names if k in cfg})
    timer = EpochTimer()
    runner.register_hook(timer)
    runner.train()
    cache_hooks = [h for h in runner.hooks if type(h).__name__ == 'FeatureCacheHook']
    return timer.seconds[0], (dict(cache_hooks[0].stats) if cache_hooks else {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--num-samples', type=int, default=256, help='training triplets (2 images each)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--image-size', type=int, default=224)
    parser.add_argument('--depth', type=int, default=50, choices=sorted(_WIDTH), help='torchvision ResNet depth')
    parser.add_argument('--dtype', default='float16', choices=('float16', 'float32'), help='cache storage dtype')
    parser.add_argument('--threads', type=int, default=2, help='torch intra-op threads (the CPU cores to use)')
    parser.add_argument('--num-workers', type=int, default=0, help='dataloader workers of both runs')
    parser.add_argument('--fused-adam', action='store_true',
                        help="Adam(fused=True) in both runs; the configs' plain Adam is the default")
    parser.add_argument('--work-dir', default='work_dirs/benchmark_feature_cache')
    args = parser.parse_args()
    if args.num_samples < args.batch_size:
        parser.error(f'--num-samples ({args.num_samples}) must be >= --batch-size ({args.batch_size})')
    torch.set_num_threads(args.threads)
    from sdfn_plugin.utils import register_all_modules
    register_all_modules()
    shutil.rmtree(osp.join(args.work_dir, 'feature_cache'), ignore_errors=True)  # time a fresh build

    live, _ = train_one_epoch(build_config(args, cached=False))
    cached, stats = train_one_epoch(build_config(args, cached=True))
    steps = args.num_samples // args.batch_size
    print(f'\nfeature cache benchmark: TIRG on a frozen ResNet-{args.depth} at {args.image_size} px, '
          f'{args.num_samples} triplets, batch {args.batch_size} ({steps} steps), {torch.get_num_threads()} '
          f'threads, cache dtype {args.dtype}, {"fused" if args.fused_adam else "plain"} Adam')
    print(f'epoch through the frozen tower : {live:8.2f} s')
    print(f'epoch on cached features       : {cached:8.2f} s')
    print(f'speed-up                       : {live / cached:8.1f}x')
    print(f'one-off cache build            : {stats["build_seconds"]:8.2f} s '
          f'({2 * args.num_samples} images; built {stats["built"]}, reused {stats["reused"]})')


if __name__ == '__main__':
    main()

"""Speed benchmark: retrieval at Fashion200K size, training-step breakdown, throughput and peak memory.

    python benchmarks/speed.py                         # both ratios at full size (CPU)
    python benchmarks/speed.py --only retrieval --repeats 5
    python benchmarks/speed.py --only step --batch 32 --image-size 224 --repeats 5
    python benchmarks/speed.py --only throughput --configs tirg_css sdfn_css imageonly_css --image-size 64
    python benchmarks/speed.py --scale 0.1 --batch 2 --image-size 64 --repeats 2   # smoke test (seconds)

Prints two ratios, each side measured in the same run, alternating, ``--repeats`` times, median:

(a) retrieval: exact top-50 of 33,480 x 29,789 (1024-d float32) with ``chunked_topk`` over the bare
    ``Q @ G.T`` of the same size (target <= 1.05), its peak extra memory (target <= 1 GiB) and the check
    against a full sort of every row;
(b) step: SDFN's training step (``_base_/models/sdfn_r50_lstm.py``, ResNet-50, random init) over the
    image-only baseline's step with the same towers and batch (target <= 1.25), with the optimizer of
    SDFN's schedule config; data / forward / backward parts, samples/s, minor page faults, evaluation
    throughput and peak memory of each. The default batch, 16, is the smallest of the paper's training
    batches (Shoes; FashionIQ 32, Fashion200K 64): per-step costs such as the Adam update of the 66M
    fusion parameters weigh more at smaller batches.

Run it on a quiet machine: other jobs on the same cores change both sides of a ratio unevenly.
``--scale`` shrinks the retrieval sizes; ``--batch`` / ``--image-size`` the step (smoke tests only).
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(1, osp.dirname(osp.dirname(osp.abspath(__file__))))  # the repository's sdfn_plugin

import torch  # noqa: E402

from sdfn_plugin.engine.cpu_malloc import CPU_MALLOC_MODES, configure_cpu_malloc  # noqa: E402

from speed_retrieval import RETRIEVAL_TARGET, bench_retrieval  # noqa: E402
from speed_step import (StepStats, bench_eval, bench_steps, config_model, schedule_optim_wrapper,  # noqa: E402
                        sdfn_pair_configs, temp_vocab_dir)

STEP_TARGET = 1.25
AMP_DTYPES = {'none': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--only', choices=['retrieval', 'step', 'throughput'],
                        help='run one part (default: retrieval and step, plus throughput when --configs is given)')
    parser.add_argument('--repeats', type=int, default=5, help='timed repetitions of each side (median)')
    parser.add_argument('--scale', type=float, default=1.0, help='retrieval sizes x scale (1.0 = Fashion200K)')
    parser.add_argument('--batch', type=int, default=16,
                        help="training batch (pairs) of the step benchmark (default 16, SDFN's Shoes batch)")
    parser.add_argument('--image-size', type=int, default=224, help='image side in pixels')
    parser.add_argument('--configs', nargs='+', default=[],
                        help='throughput rows for these configs (names or paths; random init, offline vocabulary)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--amp', choices=sorted(AMP_DTYPES), default='none', help='autocast dtype of the steps')
    parser.add_argument('--channels-last', action='store_true', help='channels_last images and weights')
    parser.add_argument('--fused-adam', action='store_true', help="Adam(fused=True) instead of the schedule's Adam")
    parser.add_argument('--cpu-malloc', choices=list(CPU_MALLOC_MODES), default='retain',
                        help="allocator policy, as env_cfg.cpu_malloc of the configs (default 'retain', what "
                             'tools/train.py applies)')
    parser.add_argument('--json-out', help='also write every measurement to this JSON file')
    args = parser.parse_args(argv)
    for name in ('repeats', 'batch', 'image_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    if not 0 < args.scale <= 1:
        parser.error(f'--scale must be in (0, 1], got {args.scale}')
    if args.only == 'throughput' and not args.configs:
        parser.error('--only throughput needs --configs')
    return args


def _verdict(value: float, target: float) -> str:
    return 'OK' if value <= target else 'ABOVE TARGET'


def run_retrieval(args: argparse.Namespace, out: Dict) -> str:
    result = bench_retrieval(scale=args.scale, repeats=args.repeats, device=args.device)
    print('\n'.join(result.report()), flush=True)
    out['retrieval'] = dict(vars(result), ratio=result.ratio)
    return (f'RATIO (a) retrieval / bare matmul = {result.ratio:.3f} (target <= {RETRIEVAL_TARGET}: '
            f'{_verdict(result.ratio, RETRIEVAL_TARGET)}); peak extra memory {result.peak_extra_bytes / 2**20:.0f} MiB '
            f'(<= 1024: {_verdict(result.peak_extra_bytes / 2**20, 1024)})')


def _measure(cfgs: Dict[str, dict], args: argparse.Namespace, out: Dict, key: str) -> List[StepStats]:
    """Step breakdown and evaluation throughput of every model; printed and stored under ``out[key]``."""
    stats = bench_steps(cfgs, **_step_kwargs(args))
    evals = {name: bench_eval(cfg, args.batch, args.image_size, args.repeats, args.device)
             for name, cfg in cfgs.items()}
    print(StepStats.header())
    for s in stats:
        print(s.row())
    for name, values in evals.items():
        print(f'  eval {name}: ' + ', '.join(f'{v:.2f} {k}' for k, v in values.items()))
    out[key] = [dict(vars(s), step_s=s.step_s, samples_per_s=s.batch / s.step_s, eval=evals.get(s.name))
                for s in stats]
    return stats


def _step_kwargs(args: argparse.Namespace) -> dict:
    return dict(batch=args.batch, image_size=args.image_size, repeats=args.repeats, device=args.device,
                amp=AMP_DTYPES[args.amp], channels_last=args.channels_last,
                optim_cfg=schedule_optim_wrapper(fused=args.fused_adam))


def run_step(args: argparse.Namespace, vocab_dir: str, out: Dict) -> str:
    cfgs = sdfn_pair_configs(vocab_dir)
    print(f'training step, {args.device}, batch {args.batch}, {args.image_size} px, amp {args.amp}, '
          f'{"fused " if args.fused_adam else ""}Adam of the SDFN schedule:', flush=True)
    stats = _measure(cfgs, args, out, 'step')
    ratio = stats[0].step_s / stats[1].step_s
    out['step_ratio'] = ratio
    return (f'RATIO (b) SDFN step / image-only step = {ratio:.3f} '
            f'(target <= {STEP_TARGET}: {_verdict(ratio, STEP_TARGET)})')


def run_throughput(args: argparse.Namespace, vocab_dir: str, out: Dict) -> None:
    cfgs = {name: config_model(name, vocab_dir) for name in args.configs}
    print(f'throughput of configs, {args.device}, batch {args.batch}, {args.image_size} px:', flush=True)
    _measure(cfgs, args, out, 'throughput')


def main(argv=None) -> Optional[Dict]:
    args = parse_args(argv)
    malloc = 'applied' if configure_cpu_malloc(args.cpu_malloc) else 'malloc defaults'
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, '
          f'cpu_malloc {args.cpu_malloc!r} ({malloc})', flush=True)
    out: Dict = {'args': vars(args)}
    ratios = []
    with temp_vocab_dir() as vocab_dir:
        if args.only in (None, 'retrieval'):
            ratios.append(run_retrieval(args, out))
        if args.only in (None, 'step'):
            ratios.append(run_step(args, vocab_dir, out))
        if args.only == 'throughput' or (args.only is None and args.configs):
            run_throughput(args, vocab_dir, out)
    print('\n'.join(ratios))
    if args.json_out:
        with open(args.json_out, 'w') as f:
            json.dump(out, f, indent=2, default=str)
    return out


if __name__ == '__main__':
    main()

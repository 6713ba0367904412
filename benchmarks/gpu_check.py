"""One-command GPU check: training steps, evaluation throughput, retrieval and a DDP smoke run.

    python benchmarks/gpu_check.py                                   # one GPU, < 8 minutes, no downloads
    python benchmarks/gpu_check.py --device cpu --tiny --json-out x.json   # smoke test (the test suite runs it)

Everything is random-init and offline (the towers of :mod:`speed_step`). It prints one line per
measurement and writes them all to ``--json-out`` (default ``gpu_check.json``):

* ``steps``: one training step (data preprocessor, ``mode='loss'`` forward, backward, the config's optimizer)
  of SDFN, TIRG, AMC and the image-only baseline, every one with a ResNet-50 at 224 px and the paper's batch
  (the Fashion200K config's ``train_dataloader.batch_size``: SDFN 64, TIRG 32, AMC 32; image-only shares
  SDFN's towers and batch; TIRG's ResNet-18 is swapped for a ResNet-50 so all rows share the backbone), in
  ``fp32``, ``bf16-cl`` and ``fp16-cl`` (autocast, channels_last images and weights; fp16 without a grad
  scaler: only speed is measured), eager and under ``torch.compile``. Each row gives samples/s and
  ``ratio_to_backbone``: the step without its data part over a bare torchvision ResNet-50 forward+backward
  of the same images (``2 x batch``: reference and target) in the same precision and compile mode, and the
  peak device memory.
* ``eval``: queries/s and gallery images/s of each model (fp32, eager).
* ``retrieval``: exact top-50 (``chunked_topk``) at Fashion200K size (33,480 x 29,789, 1024-d) against the
  bare ``Q @ G.T``, rows identical to a full sort, peak memory of both, and faiss (GPU when its build has
  one) when installed.
* ``ddp``: ``tools/train.py --launcher pytorch`` through ``torchrun --nproc_per_node 1`` for a few iterations
  on a generated tiny CSS benchmark (gloo on CPU, nccl on GPU).

A failing measurement is recorded with its error and the rest continues; the exit status is 1 when any
failed. Cells past ``--budget-s`` are recorded as skipped (compiled cells come last).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(1, REPO)  # the repository's sdfn_plugin

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402

from speed_retrieval import bench_retrieval  # noqa: E402
from speed_step import (CONFIGS, StepTrainer, bench_eval, config_model, sdfn_pair_configs,  # noqa: E402
                        synthetic_batch, temp_vocab_dir)
from speed_utils import PeakMemory, median, synchronize, timed  # noqa: E402

PRECISIONS = {'fp32': (None, False), 'bf16-cl': (torch.bfloat16, True), 'fp16-cl': (torch.float16, True)}
#: method -> Fashion200K config whose optimizer and batch it uses
METHOD_CONFIGS = {'sdfn': 'sdfn_fashion200k', 'tirg': 'tirg_fashion200k', 'amc': 'amc_fashion200k',
                  'image-only': 'sdfn_fashion200k'}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda', help="'cuda' (default) or 'cpu'")
    parser.add_argument('--tiny', action='store_true',
                        help='smoke sizes: ResNet-18, 64-d towers and fusions, batch 2, 32 px, retrieval at 0.3%% of '
                        'Fashion200K, 1 repeat, fewer step cells (see step_cells)')
    parser.add_argument('--repeats', type=int, help='timed steps per cell (median; default 10, tiny 1)')
    parser.add_argument('--budget-s', type=float, default=420.0,
                        help='skip the cells that would start after this many seconds (default 420)')
    parser.add_argument('--no-compile', action='store_true', help='eager cells only')
    parser.add_argument('--no-ddp', action='store_true', help='skip the torchrun smoke run')
    parser.add_argument('--json-out', default='gpu_check.json', help='where to write the results')
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.tiny else 10)
    if args.repeats < 1:
        parser.error(f'--repeats must be >= 1, got {args.repeats}')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error('--device cuda: torch sees no GPU (use --device cpu --tiny for the smoke test)')
    return args


class Clock:
    """Seconds since the start; ``over()`` once the budget is spent."""

    def __init__(self, budget_s: float) -> None:
        self.start, self.budget_s = time.perf_counter(), budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over(self) -> bool:
        return self.elapsed() > self.budget_s


def _guard(fn: Callable[[], Dict], clock: Clock) -> Dict:
    """Run one measurement: its dict, ``{'skipped': ...}`` past the budget or ``{'error': ...}``."""
    if clock.over():
        return {'skipped': f'time budget ({clock.budget_s:.0f} s) spent'}
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 (a check table: record the failure, measure the rest)
        traceback.print_exc()
        return {'error': f'{type(exc).__name__}: {exc}'}


#: the width keys of the towers and fusions (image/text encoders, SDFN, TIRG, AMC, ImageOnly); --tiny sets them all
_WIDTH_KEYS = ('out_dim', 'hidden_dim', 'embed_dim', 'image_dim', 'text_dim', 'router_hidden')


def method_models(vocab_dir: str, depth: int = 50, width: Optional[int] = None) -> Dict[str, Tuple[dict, int, dict]]:
    """``name -> (model config, paper batch, optim_wrapper)``, every image tower a random-init torchvision
    ResNet of ``depth`` (50; the smoke test's 18 keeps the same code paths). ``width`` (the smoke test's 64):
    every width of the towers and the fusion set to it (the text word embedding to half of it), which keeps
    them consistent and the code paths the same at a fraction of the parameters (the paper's 1024-d layers
    and their Adam state dominate a batch-2 step on a CPU)."""
    pair = sdfn_pair_configs(vocab_dir)
    models = {'sdfn': pair['sdfn'], 'tirg': config_model('tirg_fashion200k', vocab_dir),
              'amc': config_model('amc_fashion200k', vocab_dir), 'image-only': pair['image-only']}
    out = {}
    for name, model in models.items():
        cfg = Config.fromfile(osp.join(CONFIGS, METHOD_CONFIGS[name] + '.py'))
        assert model['image_encoder']['type'] == 'TorchvisionResNet', name
        model['image_encoder']['depth'] = depth  # TIRG's ResNet-18 -> the shared backbone
        if width is not None:
            for part in ('image_encoder', 'text_encoder', 'fusion'):
                for key in _WIDTH_KEYS:
                    if key in model[part]:
                        model[part][key] = width // 2 if (part, key) == ('text_encoder', 'embed_dim') else width
        out[name] = (model, cfg.train_dataloader.batch_size, cfg.optim_wrapper.to_dict())
    return out


def _backbone_step(depth: int, images: int, size: int, device: torch.device, precision: str,
                   compile_backend: Optional[str], repeats: int, warmup: int) -> Dict:
    """Bare torchvision ResNet forward + backward of ``images`` random images (no optimizer)."""
    import torchvision
    amp, channels_last = PRECISIONS[precision]
    model = getattr(torchvision.models, f'resnet{depth}')(weights=None).to(device).train()
    x = torch.randn(images, 3, size, size, device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(model, backend=compile_backend) if compile_backend else model

    def step():
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = forward(x).float().mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    with PeakMemory(device) as memory:
        for _ in range(warmup):
            step()
        times = [timed(step, device) for _ in range(repeats)]
    return {'step_s': median(times), 'images': images, 'peak_bytes': memory.peak_extra}


def _method_step(model_cfg: dict, batch: int, size: int, optim_cfg: dict, device: torch.device, precision: str,
                 compile_backend: Optional[str], repeats: int, warmup: int) -> Dict:
    amp, channels_last = PRECISIONS[precision]
    trainer = StepTrainer('m', model_cfg, synthetic_batch(batch, size), device, amp, channels_last, optim_cfg,
                          compile_backend=compile_backend)
    with PeakMemory(device) as memory:
        trainer.first_step()
        for _ in range(warmup - 1):
            trainer.step(record=False)
        for _ in range(repeats):
            trainer.step()
    s = trainer.stats
    model_s = median([f + b for f, b in zip(s.forward_s, s.backward_s)])
    return {'step_s': s.step_s, 'model_s': model_s, 'data_s': median(s.data_s), 'samples_per_s': batch / s.step_s,
            'peak_bytes': memory.peak_extra}


def step_cells(args: argparse.Namespace, methods: List[str]) -> List[Tuple[Optional[str], str, List[str]]]:
    """``(compile backend or None, precision, methods)`` in run order: eager cells first, compiled ones (the
    slow-to-start part of the budget) last. Full: every method in every cell. Tiny: every method in eager
    fp32, the image-only baseline alone in the other cells (bf16-cl; compile with the tracing-only 'eager'
    backend), which exercises each code path once."""
    backend = 'eager' if args.tiny else 'inductor'
    if args.tiny:
        cells = [(None, 'fp32', methods), (None, 'bf16-cl', ['image-only'])]
        compiled = [(backend, 'fp32', ['image-only'])]
    else:
        cells = [(None, precision, methods) for precision in PRECISIONS]
        compiled = [(backend, precision, methods) for precision in ('bf16-cl', 'fp32', 'fp16-cl')]
    return cells + ([] if args.no_compile else compiled)


def run_steps(args: argparse.Namespace, models: Dict, clock: Clock, size: int, depth: int) -> List[Dict]:
    device = torch.device(args.device)
    warmup = 1 if args.tiny else 3
    rows = []
    for mode, precision, methods in step_cells(args, list(models)):
        baselines = {}
        for name in methods:
            model_cfg, paper_batch, optim_cfg = models[name]
            batch = 2 if args.tiny else paper_batch
            if batch not in baselines:
                baselines[batch] = _guard(lambda: _backbone_step(depth, 2 * batch, size, device, precision, mode,
                                                                 args.repeats, warmup), clock)
                rows.append(dict(method=f'resnet{depth}-backbone', precision=precision, compile=mode, batch=batch,
                                 **baselines[batch]))
                _print_row(rows[-1])
            row = _guard(lambda: _method_step(model_cfg, batch, size, optim_cfg, device, precision, mode,
                                              args.repeats, warmup), clock)
            base = baselines[batch]
            if 'model_s' in row and 'step_s' in base:
                row['ratio_to_backbone'] = row['model_s'] / base['step_s']
            rows.append(dict(method=name, precision=precision, compile=mode, batch=batch, **row))
            _print_row(rows[-1])
    return rows


def _print_row(row: Dict) -> None:
    head = f"step {row['method']:<18} {row['precision']:<8} compile={str(row['compile']):<9} batch {row['batch']:>3}"
    if 'error' in row or 'skipped' in row:
        print(f"{head}  {row.get('error') or row.get('skipped')}", flush=True)
        return
    images = row.get('images', row['batch'])
    ratio = f"  x{row['ratio_to_backbone']:.3f} of the backbone" if 'ratio_to_backbone' in row else ''
    print(f"{head}  {1000 * row['step_s']:8.1f} ms  {images / row['step_s']:9.1f} "
          f"{'images' if 'images' in row else 'samples'}/s  peak {row['peak_bytes'] / 2**20:8.1f} MiB{ratio}",
          flush=True)


def run_eval(args: argparse.Namespace, models: Dict, clock: Clock, size: int) -> Dict:
    """Evaluation throughput of every model (tiny: SDFN and image-only, the same code path)."""
    out = {}
    for name, (model_cfg, paper_batch, _) in models.items():
        if args.tiny and name not in ('sdfn', 'image-only'):
            continue
        batch = 2 if args.tiny else paper_batch

        def measure():
            with PeakMemory(torch.device(args.device)) as memory:
                result = bench_eval(model_cfg, batch, size, args.repeats, args.device)
            return dict(result, batch=batch, peak_bytes=memory.peak_extra)

        out[name] = _guard(measure, clock)
        print(f'eval {name:<12} {out[name]}', flush=True)
    return out


def run_retrieval(args: argparse.Namespace, clock: Clock) -> Dict:
    scale = 0.003 if args.tiny else 1.0
    device = torch.device(args.device)

    def measure():
        result = bench_retrieval(scale=scale, repeats=min(args.repeats, 3), device=args.device)
        out = dict(num_queries=result.num_queries, num_gallery=result.num_gallery, dim=result.dim, k=result.k,
                   matmul_s=median(result.matmul_s), topk_s=median(result.retrieval_s), ratio=result.ratio,
                   topk_peak_bytes=result.peak_extra_bytes, exact_rows=result.exact_rows)
        gen = torch.Generator().manual_seed(1)
        query = torch.randn(result.num_queries, result.dim, generator=gen).to(device)
        gallery = torch.randn(result.num_gallery, result.dim, generator=gen).to(device)
        with PeakMemory(device) as memory:
            scores = query @ gallery.t()
            synchronize(device)
        del scores
        out['matmul_peak_bytes'] = memory.peak_extra
        out['faiss'] = _faiss(query, gallery, result.k, device)
        return out

    result = _guard(measure, clock)
    print(f'retrieval {result}', flush=True)
    return result


def _faiss(query: torch.Tensor, gallery: torch.Tensor, k: int, device: torch.device) -> Dict:
    try:
        import faiss
    except ImportError:
        return {'skipped': 'faiss is not installed'}
    from sdfn_plugin.evaluation.faiss_backend import FaissGallery
    gpus = faiss.get_num_gpus() if hasattr(faiss, 'StandardGpuResources') else 0
    if device.type == 'cuda' and gpus == 0:
        return {'skipped': 'this faiss build has no GPU'}
    index = FaissGallery(gallery, use_gpu=device.type == 'cuda')
    index.search(query, k)  # warm-up (GPU: resources and copies)
    times = [timed(lambda: index.search(query, k), device) for _ in range(2)]
    return {'search_s': median(times), 'gpu': device.type == 'cuda'}


def run_ddp(args: argparse.Namespace, clock: Clock) -> Dict:
    def smoke():
        from sdfn_plugin.datasets.css import CSSGenerationConfig, ensure_css
        with tempfile.TemporaryDirectory(prefix='sdfn_gpu_check_') as tmp:
            data = dict(data_root=tmp, num_train=32, num_test=16, image_size=64)
            ensure_css(tmp, CSSGenerationConfig(seed=0, **{k: v for k, v in data.items() if k != 'data_root'}),
                       progress=False)
            cfg = osp.join(tmp, 'ddp_smoke.py')
            with open(cfg, 'w') as f:
                f.write(_ddp_config(data, 'gloo' if args.device == 'cpu' else 'nccl'))
            work = osp.join(tmp, 'work')
            cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nnodes', '1',
                   '--nproc_per_node', '1', osp.join(REPO, 'tools', 'train.py'), cfg, '--launcher', 'pytorch',
                   '--work-dir', work]
            env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
            if args.device == 'cpu':
                env['CUDA_VISIBLE_DEVICES'] = ''
            start = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
            seconds = time.perf_counter() - start
            log = proc.stdout + proc.stderr
            out = {'returncode': proc.returncode, 'seconds': seconds, 'iterations': log.count('Epoch(train)'),
                   'checkpoint': osp.isfile(osp.join(work, 'epoch_1.pth')),
                   'distributed': 'Distributed training: True' in log}
            if proc.returncode != 0:
                out['error'] = f'torchrun exited {proc.returncode}: ' + log[-2000:]
            return out

    result = _guard(smoke, clock)
    print(f"ddp {({k: v for k, v in result.items() if k != 'error'})}", flush=True)
    return result


def _ddp_config(data: dict, backend: str) -> str:
    """Tiny SDFN-on-CSS child config: 4 iterations of batch 8, no validation."""
    return f"""
_base_ = [{osp.join(CONFIGS, 'sdfn_css.py')!r}]
_data = {data!r}
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False, dataset=_data)
val_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False, dataset=_data)
test_dataloader = val_dataloader
model = dict(text_encoder=dict(vocab_dataset=_data))
train_cfg = dict(max_epochs=1, val_interval=2)
env_cfg = dict(dist_cfg=dict(backend={backend!r}))
default_hooks = dict(logger=dict(interval=1))
"""


def _failures(out: Dict) -> List[str]:
    failed = [f"step {r['method']} {r['precision']} compile={r['compile']}" for r in out['steps'] if 'error' in r]
    failed += [f'eval {name}' for name, r in out['eval'].items() if 'error' in r]
    failed += [part for part in ('retrieval', 'ddp') if 'error' in out.get(part, {})]
    return failed


def main(argv=None) -> Dict:
    args = parse_args(argv)
    clock = Clock(args.budget_s)
    size, depth = (32, 18) if args.tiny else (224, 50)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'
    print(f'gpu_check: torch {torch.__version__}, {name}, {torch.get_num_threads()} CPU threads, '
          f'{"tiny" if args.tiny else "full"} sizes, budget {args.budget_s:.0f} s', flush=True)
    out: Dict = {'args': vars(args), 'device_name': name, 'torch': torch.__version__}
    sections = out['section_seconds'] = {}

    def section(name, fn):
        start = clock.elapsed()
        out[name] = fn()
        sections[name] = clock.elapsed() - start

    section('retrieval', lambda: run_retrieval(args, clock))
    with temp_vocab_dir() as vocab_dir:
        models = method_models(vocab_dir, depth, width=64 if args.tiny else None)
        section('eval', lambda: run_eval(args, models, clock, size))
        section('ddp', lambda: {'skipped': '--no-ddp'} if args.no_ddp else run_ddp(args, clock))
        section('steps', lambda: run_steps(args, models, clock, size, depth))
    out['seconds'] = clock.elapsed()
    out['failed'] = _failures(out)
    with open(args.json_out, 'w') as f:
        json.dump(out, f, indent=2, default=str)
    print(f"gpu_check: {out['seconds']:.0f} s, {len(out['failed'])} failed {out['failed']}; wrote {args.json_out}")
    return out


if __name__ == '__main__':
    sys.exit(1 if main()['failed'] else 0)

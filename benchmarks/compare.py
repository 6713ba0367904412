"""Run a grid of configs (x seeds) through the same Runner and print a paper-style table.

    python benchmarks/compare.py --configs tirg_css sdfn_css imageonly_css --seeds 1 --work-dir work_dirs/compare

Each run is ``tools/train.py`` followed by ``tools/test.py --metrics-out`` on the last checkpoint, in a
subprocess, so a crash or an interruption costs one run: re-running the same command skips runs whose
metrics file exists and resumes a run that has checkpoints. Results: ``<work-dir>/results.{md,csv,json}``.
"""
import argparse
import csv
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
from typing import Dict, List

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def find_config(name: str) -> str:
    if osp.isfile(name):
        return name
    base = name if name.endswith('.py') else name + '.py'
    hits = [osp.join(d, base) for d, _, files in os.walk(osp.join(REPO, 'sdfn_plugin', 'configs')) if base in files]
    if len(hits) != 1:
        raise FileNotFoundError(f'config {name!r}: {len(hits)} matches under sdfn_plugin/configs')
    return hits[0]


def run_one(cfg: str, seed: int, work: str, extra: List[str]) -> Dict[str, float]:
    out = osp.join(work, 'metrics.json')
    if osp.isfile(out):
        with open(out) as f:
            return json.load(f)
    os.makedirs(work, exist_ok=True)
    opts = ['--cfg-options', f'randomness.seed={seed}', *extra]
    train = [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg, '--work-dir', work, *opts]
    if osp.isfile(osp.join(work, 'last_checkpoint')):
        train.append('--resume')
    with open(osp.join(work, 'train.log'), 'a') as log:
        subprocess.run(train, check=True, stdout=log, stderr=subprocess.STDOUT)
    with open(osp.join(work, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    test = [sys.executable, osp.join(REPO, 'tools', 'test.py'), cfg, ckpt, '--work-dir', osp.join(work, 'test'),
            '--metrics-out', out, *opts]
    with open(osp.join(work, 'test.log'), 'w') as log:
        subprocess.run(test, check=True, stdout=log, stderr=subprocess.STDOUT)
    with open(out) as f:
        return json.load(f)


def fmt(values: List[float]) -> str:
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--configs', nargs='+', required=True, help='config names or paths')
    parser.add_argument('--seeds', type=int, default=1, help='seeds 0..N-1 per config')
    parser.add_argument('--work-dir', default='work_dirs/compare')
    parser.add_argument('--cfg-options', nargs='*', default=[], help='extra key=value overrides for every run')
    args = parser.parse_args(argv)
    rows: Dict[str, Dict[str, List[float]]] = {}
    total = len(args.configs) * args.seeds
    done = 0
    for name in args.configs:
        cfg = find_config(name)
        key = osp.splitext(osp.basename(cfg))[0]
        for seed in range(args.seeds):
            done += 1
            print(f'[{done}/{total}] {key} seed {seed}', flush=True)
            metrics = run_one(cfg, seed, osp.join(args.work_dir, key, f'seed{seed}'), args.cfg_options)
            for metric, value in metrics.items():
                rows.setdefault(key, {}).setdefault(metric, []).append(value)
    metrics = sorted({m for r in rows.values() for m in r})
    short = [m.split('/', 1)[-1] for m in metrics]
    lines = ['| config | ' + ' | '.join(short) + ' |', '|---' * (len(metrics) + 1) + '|']
    lines += [f'| {k} | ' + ' | '.join(fmt(r.get(m, [float('nan')])) for m in metrics) + ' |' for k, r in rows.items()]
    table = '\n'.join(lines)
    print(table)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(rows, f, indent=2)
    with open(osp.join(args.work_dir, 'results.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['config', 'metric', 'seed', 'value'])
        for k, r in rows.items():
            for m, values in r.items():
                for seed, v in enumerate(values):
                    writer.writerow([k, m, seed, v])


if __name__ == '__main__':
    main()

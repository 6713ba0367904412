"""Run a grid of configs x seeds through the same Runner and write paper-style tables and plots.

    python benchmarks/compare.py --configs tirg_css sdfn_css --seeds 2 [--jobs 2] [--work-dir work_dirs/compare]

``--configs`` takes config names (searched under ``sdfn_plugin/configs``, e.g. ``tirg_css``,
``sdfn-w-msr_shoes``) or paths; ``--seeds N`` runs seeds ``0..N-1`` of each. Each entry is
``tools/train.py`` then ``tools/test.py --metrics-out`` on the last checkpoint, in subprocesses, so an
interruption costs at most the work since the last checkpoint: re-run the same command to resume (finished
entries are reused, interrupted trainings resume from their checkpoint). ``--jobs N`` runs N entries side
by side, each with ``OMP_NUM_THREADS = cores // N`` (or ``--threads``).

Outputs in ``--work-dir``: ``results.md`` (one table per dataset, SDFN's layout: R@1/R@10/R@50/Avg; FashionIQ
per category R@10/R@50 plus averages; mean ± std over seeds), ``results.csv``, ``results.json``, and under
``plots/``: ``recall_<dataset>.png`` and, for SDFN configs, ``routing_<config>.png`` (the routing heatmap of
seed 0 on the test split, via ``tools/analysis/routing_heatmap.py``).
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from compare_grid import REPO, GridEntry, GridFailed, child_env, run_grid, threads_per_job  # noqa: E402
from compare_plots import plot_recall  # noqa: E402
from compare_tables import build_tables, write_csv, write_json, write_markdown  # noqa: E402


def find_config(name: str) -> str:
    if osp.isfile(name):
        return osp.abspath(name)
    base = name if name.endswith('.py') else name + '.py'
    hits = [osp.join(d, base) for d, _, files in os.walk(osp.join(REPO, 'sdfn_plugin', 'configs')) if base in files]
    if len(hits) != 1:
        raise FileNotFoundError(f'--configs {name!r}: {len(hits)} matches under sdfn_plugin/configs '
                                '(give a config name such as tirg_css or a path)')
    return hits[0]


def has_routing(config: str) -> bool:
    """True for SDFN-family fusions, whose per-query routing distributions the heatmap tool plots (AMC also
    returns ``paths``, but as independent sigmoid gates in another layout)."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    from mmengine.config import Config

    from sdfn_plugin.models.fusions.sdfn import SDFN
    from sdfn_plugin.registry import MODELS
    from sdfn_plugin.utils import register_all_modules
    register_all_modules()
    fusion = Config.fromfile(config).model.get('fusion', {})
    cls = MODELS.get(fusion.get('type', '')) if fusion.get('type') else None
    return isinstance(cls, type) and issubclass(cls, SDFN)


def routing_heatmaps(entries: List[GridEntry], plot_dir: str, threads: int, log=print) -> List[str]:
    """Routing heatmap of the first finished seed of every SDFN config (skipped when already drawn)."""
    written, seen = [], set()
    for entry in entries:
        if entry.key in seen or not osp.isfile(entry.metrics_file) or not has_routing(entry.config):
            continue
        seen.add(entry.key)
        out = osp.join(plot_dir, f'routing_{entry.key}.png')
        if not osp.isfile(out):
            with open(osp.join(entry.work_dir, 'last_checkpoint')) as f:
                ckpt = f.read().strip()
            cmd = [sys.executable, osp.join(REPO, 'tools', 'analysis', 'routing_heatmap.py'), entry.config, ckpt,
                   '--out', out, '--work-dir', osp.join(entry.work_dir, 'routing')]
            with open(osp.join(entry.work_dir, 'routing.log'), 'w') as log_file:
                proc = subprocess.run(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=child_env(threads))
            if proc.returncode != 0:
                log(f'routing heatmap of {entry.key} failed; see {osp.join(entry.work_dir, "routing.log")}')
                continue
        written.append(out)
    return written


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--configs', nargs='+', required=True, help='config names (e.g. tirg_css) or paths')
    parser.add_argument('--seeds', type=int, default=1, help='run seeds 0..N-1 of every config (default 1)')
    parser.add_argument('--jobs', type=int, default=1, help='entries run side by side (default 1)')
    parser.add_argument('--threads', type=int, help='OMP_NUM_THREADS of each run (default: cores // jobs)')
    parser.add_argument('--work-dir', default='work_dirs/compare', help='grid folder (default work_dirs/compare)')
    parser.add_argument('--cfg-options', nargs='+', default=[], help='key=value overrides passed to every run')
    parser.add_argument('--no-routing', action='store_true', help='skip the SDFN routing heatmaps')
    parser.add_argument('--via', choices=('python', 'mim'), default='python',
                        help="run entries with this repository's tools/*.py (default) or with `mim train/test "
                             "sdfn_plugin` (the installed package's scripts, this repository's code)")
    parser.add_argument('--heartbeat', type=float, default=60.0, help='seconds between progress lines')
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f'--seeds must be >= 1, got {args.seeds}')
    if args.jobs < 1:
        parser.error(f'--jobs must be >= 1, got {args.jobs}')
    if args.threads is not None and args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}')
    return args


def write_outputs(results: Dict[str, List[Dict[str, float]]], work_dir: str) -> str:
    """Tables (md/csv/json) and Recall@K plots of finished runs; returns the Markdown text."""
    tables = build_tables(results)
    text = write_markdown(tables, osp.join(work_dir, 'results.md'))
    write_csv(tables, osp.join(work_dir, 'results.csv'))
    write_json(tables, osp.join(work_dir, 'results.json'))
    os.makedirs(osp.join(work_dir, 'plots'), exist_ok=True)
    plot_recall(tables, osp.join(work_dir, 'plots'))
    return text


def grid_entries(configs: List[str], seeds: int, work_dir: str, via: str = 'python') -> List[GridEntry]:
    """One entry per (config, seed); the config name is the table row and the work-dir folder."""
    entries: List[GridEntry] = []
    keys = set()
    for name in configs:
        config = find_config(name)
        key = osp.splitext(osp.basename(config))[0]
        if key in keys:
            raise ValueError(f'--configs: two configs named {key!r}; their results would share one folder')
        keys.add(key)
        entries += [GridEntry(config, key, seed, osp.join(work_dir, key, f'seed{seed}'), via=via)
                    for seed in range(seeds)]
    return entries


def main(argv=None) -> int:
    args = parse_args(argv)
    work_dir = osp.abspath(args.work_dir)
    entries = grid_entries(args.configs, args.seeds, work_dir, args.via)
    os.makedirs(work_dir, exist_ok=True)
    failed = None
    try:
        results = run_grid(entries, args.cfg_options, jobs=args.jobs, heartbeat=args.heartbeat, threads=args.threads)
    except GridFailed as err:
        results, failed = err.results, err
    print(write_outputs(results, work_dir))
    if not args.no_routing:
        routing_heatmaps(entries, osp.join(work_dir, 'plots'), args.threads or threads_per_job(1))
    print(f'tables: {work_dir}/results.{{md,csv,json}}; plots: {work_dir}/plots/')
    if failed is not None:
        print(f'error: {failed}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

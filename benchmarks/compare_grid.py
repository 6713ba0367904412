"""Run a grid of (config, seed) entries through tools/train.py + tools/test.py, resumable and in parallel.

Every entry is two subprocesses in ``<work-dir>/<config>/seed<k>/``: training (``train.log``; a
``train.done`` marker once it finished) and ``tools/test.py --metrics-out`` on the last checkpoint
(``metrics.json``, written atomically). Re-running the same grid skips entries with ``metrics.json``,
resumes training from ``last_checkpoint`` (mmengine ``--resume``) and only evaluates entries whose
training finished. With ``jobs > 1``, entries run side by side with ``OMP_NUM_THREADS = cores // jobs``
each (on 2 cores two single-threaded runs train more samples per second than one 2-thread run).
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
_PROGRESS = re.compile(r'Epoch\((train|val|test)\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]')

__all__ = ['GridEntry', 'run_entry', 'run_grid', 'threads_per_job', 'format_duration', 'child_env', 'GridFailed']


@dataclass
class GridEntry:
    config: str  # config file path
    key: str  # config name (table row / work-dir folder)
    seed: int
    work_dir: str
    started: float = field(default=0.0, compare=False)
    via: str = 'python'  # 'python': tools/{train,test}.py of this repository; 'mim': mim train/test sdfn_plugin

    @property
    def metrics_file(self) -> str:
        return osp.join(self.work_dir, 'metrics.json')


def threads_per_job(jobs: int, cores: Optional[int] = None) -> int:
    """Intra-op threads of each run when ``jobs`` runs share ``cores`` (at least one)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f'--jobs must be a positive int, got {jobs!r}')
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    return max(1, cores // jobs)


def format_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return '?'
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def child_env(threads: int) -> Dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    # the repository copy of sdfn_plugin, not an older installed one
    env['PYTHONPATH'] = REPO + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    return env


def _run(cmd: List[str], log_path: str, env: Dict[str, str], mode: str) -> None:
    with open(log_path, mode) as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        name = ' '.join(cmd[:2]) if cmd[0] == 'mim' else osp.basename(cmd[1])
        raise RuntimeError(f'{name} exited with {proc.returncode}; see {log_path}')


def _launcher(via: str, script: str) -> List[str]:
    """Command prefix of ``train``/``test``: the repository's tools/ scripts, or openmim's ``mim``, which runs
    the same scripts from the installed package (with PYTHONPATH pointing at this repository's code)."""
    if via == 'mim':
        return ['mim', script, 'sdfn_plugin']
    if via != 'python':
        raise ValueError(f"--via must be 'python' or 'mim', got {via!r}")
    return [sys.executable, osp.join(REPO, 'tools', f'{script}.py')]


def run_entry(entry: GridEntry, cfg_options: List[str], threads: int) -> Dict[str, float]:
    """Train (or resume) and test one entry; returns its metrics (cached when already done)."""
    if osp.isfile(entry.metrics_file):
        with open(entry.metrics_file) as f:
            return json.load(f)
    os.makedirs(entry.work_dir, exist_ok=True)
    env = child_env(threads)
    opts = ['--cfg-options', f'randomness.seed={entry.seed}', *cfg_options]
    done_marker = osp.join(entry.work_dir, 'train.done')
    if not osp.isfile(done_marker):
        train = [*_launcher(entry.via, 'train'), entry.config, '--work-dir', entry.work_dir, *opts]
        if osp.isfile(osp.join(entry.work_dir, 'last_checkpoint')):
            train.append('--resume')
        _run(train, osp.join(entry.work_dir, 'train.log'), env, 'a')
        open(done_marker, 'w').close()
    with open(osp.join(entry.work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    tmp = entry.metrics_file + '.tmp'
    ckpt_args = ['--checkpoint', ckpt] if entry.via == 'mim' else [ckpt]
    test = [*_launcher(entry.via, 'test'), entry.config, *ckpt_args,
            '--work-dir', osp.join(entry.work_dir, 'test'), '--metrics-out', tmp, *opts]
    _run(test, osp.join(entry.work_dir, 'test.log'), env, 'w')
    os.replace(tmp, entry.metrics_file)  # a metrics file exists only for a finished entry
    with open(entry.metrics_file) as f:
        return json.load(f)


def _last_progress(entry: GridEntry) -> str:
    """``'train epoch 2 iter 50/312'`` from the tail of the entry's training log, or ``''``."""
    path = osp.join(entry.work_dir, 'train.log')
    try:
        with open(path, 'rb') as f:
            f.seek(max(0, os.path.getsize(path) - 8192))
            tail = f.read().decode('utf-8', 'replace')
    except OSError:
        return ''
    hits = _PROGRESS.findall(tail)
    if not hits:
        return ''
    phase, epoch, it, total = hits[-1]
    return f'{phase} epoch {epoch} iter {it}/{total}'


class _Progress:
    """Prints where the grid is: done/total, running entries, elapsed time and an ETA."""

    def __init__(self, total: int, jobs: int, log: Callable[[str], None]) -> None:
        self.total, self.jobs, self.log = total, jobs, log
        self.start = time.time()
        self.done = 0
        self.durations: List[float] = []

    def eta(self, remaining: int) -> Optional[float]:
        if remaining == 0:
            return 0.0
        if not self.durations:
            return None
        mean = sum(self.durations) / len(self.durations)
        return mean * remaining / self.jobs

    def line(self, message: str, remaining: int) -> None:
        elapsed = format_duration(time.time() - self.start)
        self.log(f'[{self.done}/{self.total} done | elapsed {elapsed} | ETA {format_duration(self.eta(remaining))}] '
                 f'{message}')


def run_grid(entries: List[GridEntry], cfg_options: List[str], jobs: int = 1, heartbeat: float = 60.0,
             log: Callable[[str], None] = print, threads: Optional[int] = None) -> Dict[str, List[Dict[str, float]]]:
    """Run every entry (``jobs`` at a time, ``threads`` intra-op threads each, default cores // jobs);
    returns ``{config key: [metrics per finished seed]}`` in grid order. Failed entries are reported and
    left out; the grid raises :class:`GridFailed` at the end if any failed."""
    threads = threads or threads_per_job(jobs)
    progress = _Progress(len(entries), jobs, log)
    results: Dict[int, Dict[str, float]] = {}
    failures: List[str] = []
    pending = list(enumerate(entries))
    for i, entry in list(pending):  # finished entries first, so the ETA counts only real work
        if osp.isfile(entry.metrics_file):
            results[i] = run_entry(entry, cfg_options, threads)
            progress.done += 1
            pending.remove((i, entry))
    if progress.done:
        progress.line(f'{progress.done} finished entries reused from {osp.dirname(osp.dirname(entries[0].work_dir))}',
                      len(pending))
    running: Dict[Future, tuple] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            while pending and len(running) < jobs:
                i, entry = pending.pop(0)
                entry.started = time.time()
                running[pool.submit(run_entry, entry, cfg_options, threads)] = (i, entry)
                progress.line(f'start {entry.key} seed {entry.seed} ({threads} thread{"s" * (threads > 1)}, '
                              f'run {i + 1}/{len(entries)})', len(pending) + len(running))
            finished, _ = wait(list(running), timeout=heartbeat, return_when=FIRST_COMPLETED)
            if not finished:
                status = '; '.join(f'{e.key} seed {e.seed} {format_duration(time.time() - e.started)} '
                                   f'{_last_progress(e)}'.strip() for _, e in running.values())
                progress.line(f'running: {status}', len(pending) + len(running))
            for future in finished:
                i, entry = running.pop(future)
                progress.done += 1
                try:
                    results[i] = future.result()
                    progress.durations.append(time.time() - entry.started)
                    progress.line(f'done {entry.key} seed {entry.seed} in '
                                  f'{format_duration(time.time() - entry.started)}', len(pending) + len(running))
                except Exception as err:  # noqa: BLE001 - one failed run must not stop the grid
                    failures.append(f'{entry.key} seed {entry.seed}: {err}')
                    progress.line(f'FAILED {entry.key} seed {entry.seed}: {err}', len(pending) + len(running))
    grouped: Dict[str, List[Dict[str, float]]] = {}
    for i, entry in enumerate(entries):
        grouped.setdefault(entry.key, [])
        if i in results:
            grouped[entry.key].append(results[i])
    if failures:
        raise GridFailed(grouped, failures)
    return grouped


class GridFailed(RuntimeError):
    """Some entries failed; ``results`` holds the finished ones (tables can still be written)."""

    def __init__(self, results: Dict[str, List[Dict[str, float]]], failures: List[str]) -> None:
        super().__init__(f'{len(failures)} grid entries failed:\n  ' + '\n  '.join(failures))
        self.results = results
        self.failures = failures

"""Run a function in several CPU processes joined by a ``gloo`` process group.

Used by the tests of anything that behaves differently under
``torch.distributed`` (metric collection, cross-rank losses)::

    def _check(rank, world_size, x):      # module level, so it pickles
        ...
        return something_picklable

    results = run_distributed(_check, 2, x)   # [rank0_result, rank1_result]
"""
import os
import pickle
import socket
import time
import traceback
from datetime import timedelta
from typing import Any, Callable, Dict, List

import torch.distributed as dist

from .forkserver import preloaded_context

__all__ = ['run_distributed', 'DistributedRunError', 'find_free_port']


class DistributedRunError(RuntimeError):
    """One or more ranks failed; ``tracebacks`` maps rank to traceback text."""

    def __init__(self, tracebacks: Dict[int, str]):
        self.tracebacks = dict(sorted(tracebacks.items()))
        parts = [f'--- rank {rank} ---\n{text}' for rank, text in self.tracebacks.items()]
        super().__init__(f'rank(s) {list(self.tracebacks)} failed:\n' + '\n'.join(parts))


def find_free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, fn: Callable, args: tuple, queue, pg_timeout: float) -> None:
    os.environ.update(
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size))
    try:
        dist.init_process_group(
            backend='gloo', rank=rank, world_size=world_size, timeout=timedelta(seconds=pg_timeout))
        result = fn(rank, world_size, *args)
        message = (rank, True, pickle.dumps(result))  # fails here, reported, if not picklable
    except BaseException:  # noqa: B902 - report everything, including SystemExit
        message = (rank, False, traceback.format_exc())
    finally:
        if dist.is_available() and dist.is_initialized():
            try:
                dist.destroy_process_group()
            except Exception:  # pragma: no cover - best effort
                pass
    queue.put(message)


def run_distributed(fn: Callable, world_size: int = 2, *args, timeout: float = 300.0) -> List[Any]:
    """Call ``fn(rank, world_size, *args)`` in ``world_size`` new CPU processes (``forkserver``: see
    :func:`~.forkserver.preloaded_context`).

    Each process sets ``MASTER_ADDR=127.0.0.1``, ``MASTER_PORT`` (a free port),
    ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``, initialises a ``gloo`` process
    group, runs ``fn`` and always destroys the group afterwards.

    Args:
        fn: a module-level (picklable) function ``fn(rank, world_size, *args)``.
        world_size: number of processes (``>= 1``).
        *args: extra picklable arguments passed to every rank.
        timeout: seconds to wait for all ranks (keyword only); also used as
            the process group's collective timeout.

    Returns:
        The ranks' (picklable) return values, ordered by rank.

    Raises:
        DistributedRunError: a rank raised (message holds each failed rank's
            traceback) or died without reporting; the other ranks are
            terminated after a short grace period.
        TimeoutError: not all ranks finished within ``timeout``.
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f'world_size must be a positive int, got {world_size!r}')
    if not callable(fn):
        raise TypeError(f'fn must be callable, got {type(fn).__name__}')

    # forked from a server that imported torch and this package once (forkserver.py): a rank starts in
    # milliseconds instead of re-importing the stack (about 8 s of CPU each)
    ctx = preloaded_context()
    queue = ctx.SimpleQueue()
    port = find_free_port()
    procs = [
        ctx.Process(target=_worker, args=(rank, world_size, port, fn, args, queue, timeout), daemon=False)
        for rank in range(world_size)
    ]
    results: Dict[int, Any] = {}
    errors: Dict[int, str] = {}
    error_deadline = None
    try:
        for proc in procs:
            proc.start()
        # from the start of the ranks: the first start also waits for the forkserver's imports, which on a
        # loaded machine can take a large part of a minute
        deadline = time.monotonic() + timeout
        while len(results) + len(errors) < world_size:
            exited = [rank for rank, proc in enumerate(procs) if proc.exitcode is not None]
            while not queue.empty():  # drain after noting exits: an exited rank's message is already queued
                rank, ok, payload = queue.get()
                if ok:
                    results[rank] = pickle.loads(payload)
                else:
                    errors[rank] = payload
            for rank in exited:
                if rank not in results and rank not in errors:
                    errors[rank] = f'process exited with code {procs[rank].exitcode} without reporting a result'
            if errors:
                # Peers are probably blocked in a collective: give them a moment, then stop.
                if error_deadline is None:
                    error_deadline = time.monotonic() + 2.0
                elif time.monotonic() > error_deadline:
                    break
            if time.monotonic() > deadline:
                missing = [r for r in range(world_size) if r not in results and r not in errors]
                if errors:
                    break
                raise TimeoutError(f'run_distributed: rank(s) {missing} did not finish within {timeout} s')
            time.sleep(0.02)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.join(timeout=0.5 if errors else 5.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5.0)
        queue.close()
    if errors:
        raise DistributedRunError(errors)
    return [results[rank] for rank in range(world_size)]

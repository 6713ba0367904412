"""Timing and peak-memory helpers of benchmarks/speed.py."""
import ctypes
import ctypes.util
import os
import statistics
import threading
import time
from typing import Callable, List, Optional

import torch

__all__ = ['PeakMemory', 'timed', 'median', 'synchronize', 'current_rss', 'heap_in_use', 'minor_faults']

_PAGE = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
                                                     'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


def _load_mallinfo2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c'))
        libc.mallinfo2.restype = _MallInfo2
        libc.mallinfo2()
        return libc.mallinfo2
    except (OSError, AttributeError, TypeError):
        return None


_mallinfo2 = _load_mallinfo2()


def minor_faults() -> int:
    """Minor page faults of this process so far (``getrusage``; 0 where the ``resource`` module is missing).
    Each is a page the kernel had to map (and zero) again, e.g. memory malloc gave back and took again."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def heap_in_use() -> int:
    """Bytes currently allocated through malloc (glibc >= 2.33 ``mallinfo2``: arena + mmapped blocks), which
    is where torch's CPU tensors live; falls back to the RSS. Unlike the RSS it drops when memory is freed,
    so a second measurement in the same process is not hidden by memory glibc kept from the first."""
    if _mallinfo2 is None:
        return current_rss()
    info = _mallinfo2()
    return info.uordblks + info.hblkhd


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux /proc; 0 where unavailable)."""
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of one call (device work included)."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def median(values: List[float]) -> float:
    return statistics.median(values)


class PeakMemory:
    """Peak extra memory of a block, in bytes, over what was in use when it started.

    CPU: :func:`heap_in_use` sampled every ``interval`` seconds by a background thread (torch kernels
    release the GIL, so the sampler runs during them; allocations live for whole kernels, far longer than
    the interval). CUDA: ``torch.cuda.max_memory_allocated`` (exact, allocator-level).
    """

    def __init__(self, device: torch.device, interval: float = 0.002) -> None:
        self.device = device
        self.interval = interval
        self.peak_extra = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._base = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_extra = max(self.peak_extra, heap_in_use() - self._base)
            time.sleep(self.interval)

    def __enter__(self) -> 'PeakMemory':
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            self._base = heap_in_use()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            self.peak_extra = torch.cuda.max_memory_allocated(self.device) - self._base
        else:
            self._stop.set()
            self._thread.join()
            self.peak_extra = max(self.peak_extra, heap_in_use() - self._base)

    @property
    def mib(self) -> float:
        return self.peak_extra / 2**20

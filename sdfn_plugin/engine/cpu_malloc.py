"""CPU allocator policy of the training and test entry points (``env_cfg.cpu_malloc``).

PyTorch's CPU allocator is the C library's ``malloc``. With glibc's defaults, a
training loop gives memory back to the kernel and takes it again on every step:
blocks above the (adaptive, at most 32 MiB) mmap threshold are ``mmap``-ed and
unmapped each time, and the top of the heap is trimmed once more than
``M_TRIM_THRESHOLD`` is free. Every page taken again is a page fault plus the
kernel zeroing it. On the 2-core CI machine, the ResNet-50 training steps at
batch 16 took 370,340 (SDFN) and 137,860 (image-only) minor faults per step
this way, and 1 and 0 with ``'retain'``
(``benchmarks/speed.py --only step --cpu-malloc default|retain``;
``docs/performance.md``).

``'retain'`` keeps freed memory inside the process, as PyTorch's own CUDA
caching allocator does on the GPU and as the jemalloc / tcmalloc settings of
PyTorch's CPU performance-tuning guide do: no mmap-ed blocks
(``M_MMAP_MAX = 0``), no trimming (``M_TRIM_THRESHOLD = -1``, mallopt(3):
"disables trimming completely"; a finite threshold, even 2 GiB, is crossed by
large batches, whose steps then fault again) and 64 MiB of extra heap per
``brk`` (``M_TOP_PAD``). The resident size stays at its peak until the
process exits. ``'default'`` leaves
malloc untouched. Other C libraries (musl, macOS, Windows) are left untouched
too; :func:`configure_cpu_malloc` says whether the policy was applied.
DataLoader workers forked afterwards inherit it.
"""
import ctypes
import ctypes.util
import logging
from typing import Optional, Tuple

from mmengine.logging import print_log

__all__ = ['CPU_MALLOC_MODES', 'configure_cpu_malloc', 'configure_from_env_cfg']

CPU_MALLOC_MODES: Tuple[str, ...] = ('retain', 'default')

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4
_TOP_PAD = 64 * 2**20


def _glibc() -> Optional[ctypes.CDLL]:
    name = ctypes.util.find_library('c')
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl and macOS libc have mallopt-less APIs)
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc


def configure_cpu_malloc(mode: str = 'retain') -> bool:
    """Apply the allocator policy ``mode`` to this process; True if malloc was changed.

    Raises:
        ValueError: ``mode`` is not one of :data:`CPU_MALLOC_MODES`.
        RuntimeError: glibc refused a setting (its message names it).
    """
    if mode not in CPU_MALLOC_MODES:
        raise ValueError(f'env_cfg.cpu_malloc must be one of {list(CPU_MALLOC_MODES)}, got {mode!r}')
    if mode == 'default':
        return False
    libc = _glibc()
    if libc is None:
        print_log("env_cfg.cpu_malloc='retain' needs glibc; this C library keeps its defaults",
                  logger='current', level=logging.WARNING)
        return False
    for name, param, value in (('M_MMAP_MAX', _M_MMAP_MAX, 0), ('M_TRIM_THRESHOLD', _M_TRIM_THRESHOLD, -1),
                               ('M_TOP_PAD', _M_TOP_PAD, _TOP_PAD)):
        if libc.mallopt(param, value) != 1:  # mallopt returns 1 on success
            raise RuntimeError(f'glibc mallopt({name}, {value}) failed (env_cfg.cpu_malloc={mode!r})')
    return True


def configure_from_env_cfg(env_cfg: Optional[dict]) -> bool:
    """Read ``env_cfg.cpu_malloc`` (default ``'retain'``) and apply it; see :func:`configure_cpu_malloc`."""
    mode = (env_cfg or {}).get('cpu_malloc', 'retain')
    applied = configure_cpu_malloc(mode)
    if applied:
        print_log("env_cfg.cpu_malloc='retain': freed CPU memory stays in the process (glibc mallopt)",
                  logger='current')
    return applied

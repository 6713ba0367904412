"""Safe, strict checkpoint loading: the one place where ``sdfn_plugin`` reads checkpoint files.

**Safe.** Every load is ``torch.load(weights_only=True)``: unpickling a checkpoint
can only rebuild tensors, containers and primitive values, never run code. A full
mmengine checkpoint (what ``--resume`` and ``load_from`` read) also holds the
message hub: :class:`~mmengine.logging.HistoryBuffer` objects with numpy arrays
and scalars. Exactly those types are allowed, found by listing the globals of
real training checkpoints (``torch.serialization.get_unsafe_globals_in_checkpoint``):

* ``mmengine.logging.history_buffer.HistoryBuffer``;
* numpy's ``ndarray``, ``dtype``, ``multiarray._reconstruct`` and
  ``multiarray.scalar`` (under ``numpy._core`` and numpy 1.x's ``numpy.core``),
  and the classes of the numeric dtypes (numpy >= 1.25 restores a dtype's
  state on e.g. ``numpy.dtypes.Float64DType``);
* ``builtins.getattr``, because a HistoryBuffer pickles its statistics methods
  as ``getattr(HistoryBuffer, 'min')``. A general ``getattr`` would hand an
  attacker any attribute of any object on the stack, so the name is bound to
  :func:`_history_buffer_method`, which resolves only ``HistoryBuffer``'s own
  ``min``/``max``/``current``/``mean``;
* ``builtins.bytes`` with no argument: pickle protocol 2 writes the (empty)
  data of an empty numpy array, e.g. a fresh ``HistoryBuffer``, as ``bytes()``.

The allowlist is active only inside :func:`load_checkpoint_file`
(``torch.serialization.safe_globals``): importing ``sdfn_plugin`` changes no
loader that other packages use. Anything else in a checkpoint is refused with
:class:`UnsafeCheckpointError`; ``--unsafe-load`` (the tools' per-run flag,
:func:`load_policy`) opts a trusted file out, with a warning.

**Strict.** :func:`load_state_dict_strict` loads through each module's own
``_load_from_state_dict`` (so modules that convert old keys or size lazy state,
e.g. SDFN's path memory, keep doing so) and turns missing keys, unexpected keys
and shape mismatches into ONE :class:`CheckpointMismatchError` naming the first
keys and the counts. ``--allow-partial`` (:func:`load_policy`) loads the matching
part instead and logs what was skipped.

**How the Runner uses it.** :class:`~sdfn_plugin.engine.runner.CIRRunner`
overrides ``Runner.load_checkpoint`` (which mmengine's ``resume`` and
``load_from`` both call); the ``Pretrained`` weight initializer of the
``sdfn_plugin`` scope and ensemble members call :func:`load_model_weights`.
This is the least global mechanism: mmengine's ``CheckpointLoader`` scheme
table is process-wide and shared with every other OpenMMLab package, so it is
left untouched.
"""
import contextlib
import contextvars
import os.path as osp
import pickle
import re
import zipfile
from dataclasses import dataclass
from typing import Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, MMLogger, print_log
from torch import nn
from torch.nn.modules.module import _IncompatibleKeys

__all__ = ['CheckpointMismatchError', 'UnsafeCheckpointError', 'LoadReport', 'LoadPolicy', 'load_policy', 'current_load_policy',
           'checkpoint_safe_globals', 'check_checkpoint_file', 'load_checkpoint_file', 'state_dict_of', 'load_state_dict_strict',
           'load_model_weights']

MapLocation = Union[str, torch.device, Callable, None]
DEFAULT_REVISE_KEYS = ((r'^module\.', ''),)  # DDP-wrapped checkpoints
_SHOWN = 5  # keys named per category in an error


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a type that safe (``weights_only``) loading does not allow."""


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's state dict does not match the model (strict loading)."""


class LoadReport(NamedTuple):
    """What a (partial) load left out: model keys absent from the checkpoint, checkpoint keys the model
    does not have, and torch's messages for tensors of the wrong shape."""

    missing: List[str]
    unexpected: List[str]
    mismatched: List[str]


@dataclass(frozen=True)
class LoadPolicy:
    """How checkpoints are loaded in the current run (the tools' ``--allow-partial`` / ``--unsafe-load``)."""

    allow_partial: bool = False  # load the matching part of a mismatched checkpoint, log the rest
    unsafe: bool = False  # full unpickling (weights_only=False): trusted files only


_POLICY: contextvars.ContextVar = contextvars.ContextVar('sdfn_plugin_load_policy', default=LoadPolicy())


def current_load_policy() -> LoadPolicy:
    return _POLICY.get()


@contextlib.contextmanager
def load_policy(allow_partial: bool = False, unsafe: bool = False) -> Iterator[LoadPolicy]:
    """Set the load policy for the loads inside the ``with`` block (the tools wrap one run in it)."""
    policy = LoadPolicy(allow_partial=bool(allow_partial), unsafe=bool(unsafe))
    if policy.unsafe:
        print_log('--unsafe-load: checkpoints are fully unpickled (weights_only=False); a crafted file can run '
                  'arbitrary code. Use it only for files you created or trust.', logger='current', level=30)
    token = _POLICY.set(policy)
    try:
        yield policy
    finally:
        _POLICY.reset(token)


_HISTORY_METHODS = ('min', 'max', 'current', 'mean')
_NUMPY_SCALARS = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
                  'float16', 'float32', 'float64', 'longdouble', 'complex64', 'complex128')


def _history_buffer_method(obj, name: str):
    """The unpickler's ``builtins.getattr``: only ``HistoryBuffer.<statistics method>``."""
    if obj is HistoryBuffer and name in _HISTORY_METHODS:
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


def _empty_bytes(*args) -> bytes:
    """The unpickler's ``builtins.bytes``: pickle protocol 2 writes ``b''`` (the data of an empty numpy
    array) as ``bytes()``; any argument (``bytes(10**12)`` allocates) is refused."""
    if args:
        raise UnsafeCheckpointError(f'bytes{args!r} is not allowed in a checkpoint (only bytes())')
    return b''


def checkpoint_safe_globals() -> List[Tuple[Callable, str]]:
    """``(object, pickled name)`` pairs that mmengine checkpoints need beyond torch's defaults."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    pairs = [(HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
             (_history_buffer_method, 'builtins.getattr'), (_empty_bytes, 'builtins.bytes'),
             (np.ndarray, 'numpy.ndarray'), (np.dtype, 'numpy.dtype')]
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):  # numpy 2 and numpy 1 pickles
        pairs += [(multiarray._reconstruct, f'{module}._reconstruct'), (multiarray.scalar, f'{module}.scalar')]
    # numpy >= 1.25 restores a dtype's state on its class (Float64DType...): the numeric ones
    for kind in _NUMPY_SCALARS:
        dtype_cls = type(np.dtype(kind))
        pairs.append((dtype_cls, f'{dtype_cls.__module__}.{dtype_cls.__qualname__}'))
    return pairs


def check_checkpoint_file(path: str) -> str:
    """``path`` (user-expanded) if it is a non-empty file; otherwise a clear error. Tools call it before any work."""
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path!r}')
    if osp.getsize(path) == 0:
        raise ValueError(f'checkpoint {path} is empty (0 bytes)')
    return path


def load_checkpoint_file(path: str, map_location: MapLocation = 'cpu') -> dict:
    """Read a checkpoint file safely (``weights_only=True`` plus :func:`checkpoint_safe_globals`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is empty or not a torch checkpoint.
        UnsafeCheckpointError: the file needs a type outside the allowlist (a crafted or foreign pickle).
    """
    path = check_checkpoint_file(path)
    if current_load_policy().unsafe:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    else:
        try:
            with torch.serialization.safe_globals(checkpoint_safe_globals()):
                checkpoint = torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            if not zipfile.is_zipfile(path):  # not torch.save's format: torch tried it as a legacy pickle
                raise ValueError(f'checkpoint {path} is not a readable torch checkpoint (not the zip archive '
                                 f'torch.save writes; as a legacy pickle: {_first_line(err)})') from None
            raise UnsafeCheckpointError(
                f'refused to load checkpoint {path}: it contains objects that safe loading (weights_only=True) '
                f'does not allow ({_first_line(err)}). A model checkpoint holds only tensors and mmengine '
                'training state; this file may have been crafted to run code when loaded. If you created it '
                'yourself and trust it, rerun with --unsafe-load.') from None
        except (RuntimeError, KeyError, EOFError, ValueError) as err:  # truncated or not written by torch.save
            raise ValueError(f'checkpoint {path} is not a readable torch checkpoint '
                             f'({type(err).__name__}: {_first_line(err)})') from None
    if not isinstance(checkpoint, dict):
        raise ValueError(f'checkpoint {path} holds a {type(checkpoint).__name__}, expected a dict '
                         '(a state dict or a checkpoint with a "state_dict" entry)')
    return checkpoint


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    # torch's message starts with a generic paragraph; its useful part names the global
    match = re.search(r'(Unsupported global: GLOBAL \S+|Trying to [^\n]*|Can only [^\n]*'
                      r'|\w+\([^\n]*?\) is not allowed in a checkpoint[^\n]*)', text)
    return (match.group(1) if match else text.splitlines()[0] if text else type(err).__name__).rstrip('. ')


def state_dict_of(checkpoint: dict, source: str = 'checkpoint',
                  revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS) -> dict:
    """The model state dict of a loaded checkpoint (``checkpoint['state_dict']`` or a bare state dict),
    with ``revise_keys`` ``(pattern, replacement)`` substitutions applied to its keys."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{source} has no model weights: expected a "state_dict" entry or a dict of tensors, '
                         f'got keys {sorted(checkpoint)[:_SHOWN]}')
    metadata = getattr(state, '_metadata', None)
    for pattern, replacement in revise_keys:
        state = type(state)((re.sub(pattern, replacement, k), v) for k, v in state.items())
    if metadata is not None:
        state._metadata = metadata  # per-module versions, read by _load_from_state_dict
    return state


def _describe(what: str, keys: List[str]) -> str:
    more = f', ... ({len(keys) - _SHOWN} more)' if len(keys) > _SHOWN else ''
    return f'{len(keys)} {what} ({", ".join(keys[:_SHOWN])}{more})'


def load_state_dict_strict(model: nn.Module, state_dict: dict, *, strict: Optional[bool] = None,
                           source: str = 'checkpoint', logger: Optional[MMLogger] = None) -> LoadReport:
    """Load ``state_dict`` into ``model``; mismatches are one :class:`CheckpointMismatchError` when ``strict``.

    Each module's ``_load_from_state_dict`` and post hooks run as in
    ``nn.Module.load_state_dict``, but missing keys, unexpected keys and shape
    mismatches are collected rather than raised one by one. Non-strict: everything that matches is loaded, the rest
    is logged as a warning. ``strict=None`` follows :func:`current_load_policy`.
    """
    if strict is None:
        strict = not current_load_policy().allow_partial
    missing: List[str] = []
    unexpected: List[str] = []
    errors: List[str] = []
    metadata = getattr(state_dict, '_metadata', None)

    def load(module: nn.Module, local_state: dict, prefix: str) -> None:
        local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
        module._load_from_state_dict(local_state, prefix, local_metadata, True, missing, unexpected, errors)
        for name, child in module._modules.items():
            if child is not None:
                child_prefix = f'{prefix}{name}.'
                load(child, {k: v for k, v in local_state.items() if k.startswith(child_prefix)}, child_prefix)
        for hook in module._load_state_dict_post_hooks.values():  # as torch: they may edit the key lists
            hook(module, _IncompatibleKeys(missing, unexpected))

    load(model, dict(state_dict), '')
    report = LoadReport(missing, unexpected, errors)
    if not (missing or unexpected or errors):
        return report
    shapes = [m.split(':')[0].replace('size mismatch for ', '') if m.startswith('size mismatch') else m
              for m in errors]
    parts = [_describe(what, keys) for what, keys in
             (('missing keys', sorted(missing)), ('unexpected keys', sorted(unexpected)),
              ('shape mismatches', shapes)) if keys]
    name = type(model).__name__
    if strict:
        detail = f'; first shape mismatch: {errors[0]}' if errors else ''
        raise CheckpointMismatchError(
            f'{source} does not match the model {name}: {"; ".join(parts)}{detail}. Is it a checkpoint of this '
            'config? Pass --allow-partial to load only the matching weights.')
    print_log(f'partial load of {source} into {name}: skipped {"; ".join(parts)}',
              logger=logger or 'current', level=30)
    return report


def load_model_weights(model: nn.Module, path: str, *, strict: Optional[bool] = None,
                       logger: Optional[MMLogger] = None, map_location: MapLocation = 'cpu',
                       revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS) -> dict:
    """Load the weights of checkpoint file ``path`` into ``model`` (safe and, by default, strict).

    Returns the whole checkpoint dict (``meta`` etc.). ``strict=None`` follows
    :func:`current_load_policy` (strict unless ``--allow-partial``).
    """
    checkpoint = load_checkpoint_file(path, map_location)
    state = state_dict_of(checkpoint, f'checkpoint {path}', revise_keys)
    load_state_dict_strict(model, state, strict=strict, source=f'checkpoint {path}', logger=logger)
    return checkpoint

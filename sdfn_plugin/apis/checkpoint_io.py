"""Reading checkpoints for inference without executing code (``torch.load(weights_only=True)``).

mmengine training checkpoints also hold the message hub (``HistoryBuffer``
objects, numpy arrays and ``getattr(HistoryBuffer, 'min')``-style references
to its statistics methods). They are admitted by name; ``getattr`` is replaced
by a function that only resolves those statistics methods, so nothing else can
be reached while unpickling.
"""
import codecs
import collections
import os.path as osp
from typing import Any, Dict

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = ['load_checkpoint_file', 'state_dict_of']

_HISTORY_METHODS = ('min', 'max', 'current', 'mean')


def _history_getattr(obj: Any, name: str) -> Any:
    if obj is HistoryBuffer and name in _HISTORY_METHODS:
        return getattr(obj, name)
    raise ValueError(f'checkpoint refers to attribute {name!r} of {obj!r}; only HistoryBuffer statistics '
                     'are allowed')


def _allowed_globals() -> list:
    core = getattr(np, '_core', None) or np.core  # numpy 2 renamed numpy.core
    allowed = [HistoryBuffer, core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype,
               collections.Counter, collections.OrderedDict, codecs.encode, (_history_getattr, 'builtins.getattr')]
    allowed += [type(np.dtype(t)) for t in ('float64', 'float32', 'float16', 'int64', 'int32', 'bool')]
    return allowed


def load_checkpoint_file(path: str) -> Dict[str, Any]:
    """The checkpoint dict at ``path``, loaded with ``weights_only=True``; errors name the file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path!r}')
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # noqa: BLE001 - one message naming the file
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise ValueError(f'cannot read checkpoint {path!r} safely (weights_only=True): {first}') from None
    if not isinstance(ckpt, dict):
        raise ValueError(f'checkpoint {path!r} holds a {type(ckpt).__name__}, expected a dict')
    return ckpt


def state_dict_of(ckpt: Dict[str, Any], source: str) -> Dict[str, Any]:
    """The model weights of a checkpoint: ``ckpt['state_dict']`` (mmengine) or the dict itself."""
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict) or not any(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f'checkpoint {source!r} has no model weights (expected a "state_dict" of tensors)')
    return state

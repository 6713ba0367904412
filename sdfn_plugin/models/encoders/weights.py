"""Reading a local weight file given in a config (``checkpoint=``)."""
import os
from typing import Dict, Sequence

import torch
from torch import nn

from sdfn_plugin.utils.checkpoint import load_checkpoint_file


def read_state_dict(path: str, owner: str) -> Dict[str, torch.Tensor]:
    """Tensors of a ``.pth``/``.pt`` (``torch.save``) or ``.safetensors`` file.

    A ``'state_dict'`` or ``'model'`` wrapper (mmengine / timm training
    checkpoints) is unwrapped.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{owner}.checkpoint: no such file {path!r}')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path)
    state = load_checkpoint_file(path)
    for key in ('state_dict', 'model'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def load_weights(net: nn.Module, path: str, owner: str, ignore_prefixes: Sequence[str] = ()) -> None:
    """Load ``path`` into ``net``; every key must match except those under ``ignore_prefixes``
    (a classifier head that the encoder drops)."""
    state = {k: v for k, v in read_state_dict(path, owner).items()
             if not any(k.startswith(p) for p in ignore_prefixes)}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f'{owner}.checkpoint {path!r} does not match the architecture: '
                         f'missing {missing[:5]}, unexpected {unexpected[:5]}')

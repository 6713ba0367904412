"""Compatibility fixes for the pinned stack (mmengine 0.10.7 with torch >= 2.6).

torch 2.6 made ``torch.load(weights_only=True)`` the default; mmengine 0.10.7's
checkpoint loader relies on the old default, so ``--resume`` and full
``load_from`` checkpoints fail on ``HistoryBuffer`` (mmengine issue #1655,
fixed on mmengine main by commit 151a87ab, unreleased). We register a local-file
loader that passes ``weights_only=False``. It unpickles arbitrary objects:
**use it only for checkpoints you trust** (your own runs). Published weights
are stripped state dicts that also load with ``weights_only=True``.
"""
import os

import torch
from mmengine.runner import CheckpointLoader


def load_from_local_trusted(filename: str, map_location=None):
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename!r} does not exist')
    return torch.load(filename, map_location=map_location, weights_only=False)


def register_trusted_local_loader() -> None:
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_trusted, force=True)


register_trusted_local_loader()

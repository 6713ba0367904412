"""Boundary checks on a loaded config, before the Runner builds anything."""
import difflib
import inspect

from mmengine.config import Config
from mmengine.runner import Runner


def runner_keys() -> set:
    return set(inspect.signature(Runner.__init__).parameters) - {'self'} | {'runner_type'}


def check_config(cfg: Config, path: str) -> None:
    """Reject top-level keys that look like misspelt Runner sections.

    Old-style configs legitimately define helper variables (``data_root``,
    ``train_pipeline``...), so unknown keys are allowed unless they are close to
    a Runner argument -- a typo such as ``train_dataloder`` would otherwise be
    silently ignored and the run would train on nothing or on defaults.
    """
    known = runner_keys()
    for key in cfg.keys():
        if key in known or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
        if close:
            raise KeyError(f'{path}: unknown top-level key {key!r}; did you mean {close[0]!r}?')
    if cfg.get('default_scope') != 'sdfn_plugin':
        raise ValueError(f"{path}: default_scope must be 'sdfn_plugin' (inherit configs/_base_/default_runtime.py), "
                         f'got {cfg.get("default_scope")!r}')
    if 'model' not in cfg:
        raise KeyError(f'{path}: no model section')

"""``--cfg-options data_root=...`` that reaches every dataset of a config.

mmengine resolves a config's variables when it parses the file: ``data_root =
'data/shoes'`` is copied into the train, val and test datasets and into the text
encoder's ``vocab_dataset`` before any override is applied, so overriding the
top-level ``data_root`` alone changes nothing that is built. The tools therefore
re-resolve it: after the overrides are merged, every dict of the config (at any
depth, lists included) whose ``data_root`` still equals the config's original
``data_root`` receives the new value. A dataset whose ``data_root`` was set to
something else -- in the config or by its own override such as
``train_dataloader.dataset.data_root=...`` -- is left alone.
"""
from typing import Any, Mapping

from mmengine.config import Config
from mmengine.logging import print_log

__all__ = ['merge_cfg_options', 'replace_data_root']


def replace_data_root(node: Any, old: str, new: str) -> int:
    """Set ``data_root = new`` in every dict under ``node`` whose ``data_root == old``; returns how many."""
    count = 0
    if isinstance(node, Mapping):
        if node.get('data_root') == old:
            node['data_root'] = new
            count += 1
        for value in node.values():
            count += replace_data_root(value, old, new)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += replace_data_root(value, old, new)
    return count


def merge_cfg_options(cfg: Config, options: Mapping[str, Any]) -> None:
    """``cfg.merge_from_dict(options)``, then a top-level ``data_root`` override re-resolved into every dataset."""
    old = cfg.get('data_root')
    cfg.merge_from_dict(dict(options))
    new = options.get('data_root')
    if 'data_root' not in options or old is None or new == old:
        return
    if not isinstance(new, str) or not new:
        raise ValueError(f'--cfg-options data_root must be a non-empty path, got {new!r}')
    count = sum(replace_data_root(cfg[key], old, new) for key in list(cfg.keys()) if key != 'data_root')
    print_log(f'data_root {old!r} -> {new!r} in {count} dataset section(s) of the config', logger='current')

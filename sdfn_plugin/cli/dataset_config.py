"""Config handling of the dataset tools (``check_dataset``, ``browse_dataset``): loading with
``--cfg-options`` (``data_root=`` reaching every dataset), listing a config's dataset sections, and building
one dataset with the settings its class accepts."""
import argparse
import copy
import inspect
from typing import List, Optional, Tuple

from mmengine.config import Config

from .common import KeyValueAction

__all__ = ['add_cfg_options_arg', 'load_tool_config', 'dataset_sections', 'build_dataset']


def add_cfg_options_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--cfg-options', nargs='+', action=KeyValueAction,
                        help='override config entries (data_root=... reaches every dataset)')


def load_tool_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """The config of a dataset tool (registries imported), with ``--cfg-options`` merged (``data_root=``
    reaching every dataset)."""
    from sdfn_plugin.utils import register_all_modules

    from .config_file import load_config_file
    from .data_root import merge_cfg_options
    register_all_modules()
    cfg = load_config_file(path)
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    return cfg


def dataset_sections(cfg: Config, splits=('train', 'val', 'test')) -> List[Tuple[str, dict]]:
    """``(label, dataset cfg)`` of every dataloader of ``splits``; a dataset shared by val and test appears once."""
    out: List[Tuple[str, dict]] = []
    seen: List[dict] = []
    for split in splits:
        loaders = cfg.get(f'{split}_dataloader')
        if loaders is None:
            continue
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
        for i, loader in enumerate(loaders):
            ds = loader.get('dataset') if loader else None
            if ds is None or ds in seen:
                continue
            seen.append(ds)
            out.append((f'{split}[{i}]' if len(loaders) > 1 else split, ds.to_dict() if hasattr(ds, 'to_dict')
                        else dict(ds)))
    return out


def build_dataset(ds_cfg: dict, **settings):
    """Build a dataset with those of ``settings`` its class accepts."""
    from sdfn_plugin.registry import DATASETS
    ds_cfg = copy.deepcopy(ds_cfg)
    ds_cfg.pop('pipeline', None)  # loading images is not needed to list them
    ds_cfg.pop('gallery_pipeline', None)
    cls = DATASETS.get(ds_cfg['type'])
    if cls is None:
        raise KeyError(f'dataset type {ds_cfg["type"]!r} is not registered')
    params = inspect.signature(cls.__init__).parameters
    ds_cfg.update({k: v for k, v in settings.items() if k in params})
    ds_cfg['lazy_init'] = False
    return DATASETS.build(ds_cfg)

"""Build ready-to-use models: ``list_models`` and ``get_model`` (mmpretrain's ``apis`` names).

``get_model(config_or_name, checkpoint)`` needs the checkpoint and nothing else:
the recurrent text encoders' vocabulary is read from the checkpoint (each
``LSTMTextEncoder`` stores its word list as ``<prefix>._extra_state``), so a
config whose ``text_encoder.vocab_dataset`` points at training annotations
builds in an empty directory, and arguments that only choose initial weights
(``INIT_WEIGHT_ARGS`` of each encoder: torchvision/timm pretrained weights,
GloVe files) are reset because the checkpoint overwrites those weights anyway
(:mod:`sdfn_plugin.models.from_checkpoint`, shared with the ensemble's members).
"""
import copy
import fnmatch
import os
import os.path as osp
from typing import List, Optional, Union

import torch
from mmengine.config import Config
from torch import nn

from sdfn_plugin.cli.config_file import PACKAGE_PREFIX, load_config_file, shipped_config_dir
from sdfn_plugin.models.from_checkpoint import build_from_checkpoint, model_config

__all__ = ['list_models', 'get_model', 'resolve_config', 'model_config']


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Names of the shipped configs (``'tirg_css'``...), sorted; ``pattern`` is an
    fnmatch wildcard such as ``'sdfn*'`` or ``'*_css'``."""
    names = sorted(osp.splitext(f)[0] for f in os.listdir(shipped_config_dir())
                   if f.endswith('.py') and not f.startswith('_'))
    return names if pattern is None else [n for n in names if fnmatch.fnmatch(n, pattern)]


def resolve_config(config_or_name: Union[str, Config]) -> Config:
    """A :class:`Config` from a config object, a config file (its bases may be ``sdfn_plugin::`` shipped
    configs), a ``sdfn_plugin::<file>`` or a shipped config name (``'tirg_css'``)."""
    if isinstance(config_or_name, Config):
        return copy.deepcopy(config_or_name)
    if not isinstance(config_or_name, str):
        raise TypeError(f'config_or_name must be a config path, a shipped config name or a Config, '
                        f'got {type(config_or_name).__name__}')
    if osp.isfile(config_or_name) or config_or_name.startswith(PACKAGE_PREFIX):
        return load_config_file(config_or_name)
    name = osp.splitext(osp.basename(config_or_name))[0]
    if osp.sep not in config_or_name and name in list_models():
        return load_config_file(osp.join(shipped_config_dir(), name + '.py'))
    close = list_models(f'*{name.split("_")[0]}*')[:5]
    raise FileNotFoundError(f'config {config_or_name!r} is neither a file nor a shipped config name'
                            + (f' (similar names: {close})' if close else ' (see sdfn_plugin.apis.list_models())'))


def get_model(config_or_name: Union[str, Config], checkpoint: Optional[str] = None,
              device: Union[str, torch.device, None] = None) -> nn.Module:
    """A model in eval mode, built from a shipped config name (``'tirg_css'``), a config
    file or a :class:`Config`, with the weights of ``checkpoint`` loaded strictly.

    With a checkpoint no dataset file is read (the text vocabulary comes from the
    checkpoint) and no pretrained weights are fetched. Without one the model is
    built as the config says (random or pretrained initial weights; an LSTM text
    encoder then needs the vocabulary source of its config).

    The config is kept as ``model.cfg`` (as mmengine's inferencers do).
    """
    cfg = resolve_config(config_or_name)
    import sdfn_plugin  # noqa: F401  registers the modules
    model = build_from_checkpoint(cfg, checkpoint)
    model.cfg = cfg
    if device is not None:
        model.to(device)
    return model.eval()


"""Build a model whose weights come from a checkpoint, needing nothing but the config and that file.

A trained checkpoint already holds everything the model's arguments would otherwise fetch: the
recurrent text encoders store their word list as ``<prefix>._extra_state`` (so a config whose
``text_encoder.vocab_dataset`` points at training annotations need not read them), and arguments that
only choose initial weights (each encoder's ``INIT_WEIGHT_ARGS``: torchvision/timm pretrained weights,
GloVe files) are reset, because the checkpoint overwrites those weights anyway. Used by
``sdfn_plugin.apis.get_model`` and by :class:`~sdfn_plugin.models.retrievers.EnsembleRetriever`'s
members.
"""
import copy
from typing import Any, Dict, List, Optional

from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.utils.checkpoint import load_checkpoint_file, load_state_dict_strict, state_dict_of

__all__ = ['model_config', 'build_from_checkpoint']

_VOCAB_SUFFIX = '._extra_state'


def _registered_class(type_name: Any) -> Optional[type]:
    if not isinstance(type_name, str):
        return type_name if isinstance(type_name, type) else None
    return MODELS.get(type_name)


def _restore_cfg(node: Any, prefix: str, state: Dict[str, Any], found: List[str]) -> None:
    """Walk a model config: reset initial-weight arguments and put each saved vocabulary
    (``state[prefix + '._extra_state']['vocab']``) in place of its dataset/file source."""
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            _restore_cfg(item, f'{prefix}{i}.', state, found)
        return
    if not isinstance(node, dict):
        return
    cls = _registered_class(node.get('type')) if 'type' in node else None
    for arg, value in getattr(cls, 'INIT_WEIGHT_ARGS', {}).items():
        if arg in node:
            node[arg] = value
    extra = state.get(prefix.rstrip('.') + _VOCAB_SUFFIX) if prefix else None
    if isinstance(extra, dict) and isinstance(extra.get('vocab'), list):
        for source in ('vocab_dataset', 'vocab_file'):
            node.pop(source, None)
        node['vocab'] = list(extra['vocab'])
        found.append(prefix.rstrip('.'))
    for key, child in node.items():
        if key != 'type':
            _restore_cfg(child, f'{prefix}{key}.', state, found)


def model_config(cfg: Config, state: Optional[Dict[str, Any]] = None) -> ConfigDict:
    """``cfg.model`` prepared for restoring ``state`` (see the module docstring); a copy."""
    if 'model' not in cfg:
        raise KeyError(f'config {cfg.filename!r} has no model section')
    model_cfg = copy.deepcopy(cfg.model)
    if state is not None:
        as_dict = model_cfg.to_dict() if isinstance(model_cfg, ConfigDict) else dict(model_cfg)
        _restore_cfg(as_dict, '', state, [])
        model_cfg = ConfigDict(as_dict)
    model_cfg.pop('pretrained', None)
    return model_cfg


def build_from_checkpoint(cfg: Config, checkpoint: Optional[str] = None) -> nn.Module:
    """``cfg.model`` built and, with ``checkpoint``, restored from it: loaded safely (``weights_only``,
    a crafted file is refused before it can run) and strictly unless the run allows partial loads (the
    tools' ``--allow-partial``). Without a checkpoint the model is built as the config says."""
    state = None
    if checkpoint is not None:
        state = state_dict_of(load_checkpoint_file(checkpoint), f'checkpoint {checkpoint}')
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        model = MODELS.build(model_config(cfg, state))
    if state is not None:
        load_state_dict_strict(model, state, source=f'checkpoint {checkpoint}')
    return model

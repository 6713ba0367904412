"""``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)`` through the safe loader.

Registered as ``Pretrained`` in the ``sdfn_plugin`` scope, so it replaces mmengine's
``PretrainedInit`` for our configs only: the file is read by
:func:`~sdfn_plugin.utils.checkpoint.load_checkpoint_file` (``weights_only=True``,
full mmengine training checkpoints allowed, crafted pickles refused). As with
mmengine, a pretrained initialisation may cover part of the module (e.g. a
backbone without its head): skipped keys are logged, and a checkpoint of which
nothing matches is an error.
"""
from mmengine.model.weight_init import PretrainedInit, update_init_info
from torch import nn

from sdfn_plugin.registry import WEIGHT_INITIALIZERS
from sdfn_plugin.utils.checkpoint import (CheckpointMismatchError, load_checkpoint_file, load_state_dict_strict,
                                          state_dict_of)


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class SafePretrainedInit(PretrainedInit):
    """Args: as mmengine's ``PretrainedInit`` (``checkpoint``, ``prefix``, ``map_location``)."""

    def __call__(self, module: nn.Module) -> None:
        source = f'init_cfg Pretrained checkpoint {self.checkpoint}'
        state = state_dict_of(load_checkpoint_file(self.checkpoint, self.map_location), source)
        if self.prefix:
            state = {k[len(self.prefix):]: v for k, v in state.items() if k.startswith(self.prefix)}
            if not state:
                raise KeyError(f'{source}: no key starts with prefix {self.prefix!r}')
        report = load_state_dict_strict(module, state, strict=False, source=source)
        if report.missing and len(report.missing) == len(module.state_dict()):
            raise CheckpointMismatchError(f'{source}: none of its keys belongs to {type(module).__name__} '
                                          f'(first checkpoint keys: {sorted(state)[:5]}); check prefix=')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

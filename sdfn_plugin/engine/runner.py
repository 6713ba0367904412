"""The Runner of ``sdfn_plugin`` configs: mmengine's Runner with safe, strict checkpoint loading.

``_base_/default_runtime.py`` sets ``runner_type = 'CIRRunner'`` and the tools
build runners with ``sdfn_plugin.registry.RUNNERS.build(cfg)``, so ``--resume``,
``load_from`` and ``tools/test.py`` read checkpoints through
:mod:`sdfn_plugin.utils.checkpoint`. A subclass (rather than re-registering
mmengine's process-wide ``CheckpointLoader`` scheme for local paths) changes
nothing for other OpenMMLab packages in the same process.
"""
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop, EpochBasedTrainLoop, IterBasedTrainLoop, Runner

from sdfn_plugin.registry import RUNNERS

from sdfn_plugin.utils.checkpoint import DEFAULT_REVISE_KEYS, load_checkpoint_file, load_state_dict_strict, state_dict_of

__all__ = ['CIRRunner', 'check_train_schedule']


def check_train_schedule(loop: BaseLoop) -> None:
    """Refuse a training schedule that would train nothing (and still save a checkpoint and exit 0)."""
    if isinstance(loop, EpochBasedTrainLoop) and loop.max_epochs <= 0:
        raise ValueError(f'train_cfg.max_epochs={loop.max_epochs}: the run would train nothing; '
                         'set max_epochs >= 1')
    if isinstance(loop, IterBasedTrainLoop) and loop.max_iters <= 0:
        raise ValueError(f'train_cfg.max_iters={loop.max_iters}: the run would train nothing; set max_iters >= 1')
    loader = loop.dataloader
    if len(loader) > 0:
        return
    samples = len(loader.sampler) if hasattr(loader, 'sampler') else len(loader.dataset)
    if samples == 0:
        raise ValueError('train_dataloader: the training dataset is empty (0 samples); check data_root and the '
                         'annotation files')
    raise ValueError(f'train_dataloader: 0 iterations per epoch: {samples} training samples (per process) with '
                     f'batch_size={loader.batch_size} and drop_last={loader.drop_last}; lower batch_size to at most '
                     f'{samples} or set drop_last=False')


@RUNNERS.register_module()
class CIRRunner(Runner):
    """mmengine ``Runner`` whose checkpoint loads are safe and strict.

    * ``load_checkpoint`` (used by mmengine for ``resume`` and ``load_from``)
      reads the file with :func:`~sdfn_plugin.utils.checkpoint.load_checkpoint_file`
      (``weights_only=True``) and loads the weights strictly: missing, unexpected
      or mis-shaped keys are one error unless the run allows partial loads
      (``--allow-partial``). Hooks see the checkpoint exactly as with mmengine.
    * ``build_train_loop`` refuses schedules that would train nothing
      (``max_epochs=0``, or 0 iterations per epoch because ``batch_size``
      exceeds the dataset with ``drop_last=True``) before any training step.
    """

    def build_train_loop(self, loop: Union[BaseLoop, Dict]) -> BaseLoop:
        loop = super().build_train_loop(loop)
        check_train_schedule(loop)
        return loop

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu',
                        strict: Optional[bool] = None,
                        revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS) -> dict:
        """Load ``filename`` into the model; ``strict=None``: strict unless ``--allow-partial``.

        (mmengine's default is ``strict=False``; ``resume`` and ``load_or_resume``
        call this without ``strict``, so both become strict.)
        """
        checkpoint = load_checkpoint_file(filename, map_location)
        if self._resume and not self._has_loaded and not {'meta', 'message_hub'} <= set(checkpoint):
            # mmengine would stop on KeyError: 'meta'
            raise ValueError(f'cannot resume from {filename}: it holds weights only (no meta / message_hub, e.g. a '
                             'published file); resume needs a training checkpoint such as epoch_N.pth, or load the '
                             'weights with load_from instead')
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        source = f'checkpoint {filename}'
        load_state_dict_strict(model, state_dict_of(checkpoint, source, revise_keys), strict=strict,
                               source=source, logger=self.logger)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

"""Continue a previous stage's optimizer moments in a new run (ARTEMIS's two-stage training)."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper

from sdfn_plugin.registry import HOOKS

from sdfn_plugin.utils.checkpoint import load_checkpoint_file


@HOOKS.register_module()
class LoadOptimizerStateHook(Hook):
    """Before training, load the per-parameter optimizer state (e.g. AdamW's moments
    and step counts) saved in a checkpoint of a previous stage, keeping this run's
    learning rates, weight decay and schedule.

    The official ARTEMIS stage 2 (naver/artemis ``train.py`` with ``--ckpt``)
    resumes the stage-1 optimizer: AdamW's moments are kept and the learning rate
    is the one stage 1 ended with (5e-4 halved at epoch 4: 2.5e-4), then halved
    every 10 epochs. mmengine's ``load_from`` restores weights only and a full
    ``resume`` would also restore the epoch counter and the stage-1 schedule; this
    hook restores just the moments, and the stage-2 config sets lr 2.5e-4.

    Parameters are matched by position, so both runs must build the same model
    and the same parameter groups (mmengine puts every parameter, frozen or not,
    in the optimizer, so freezing in stage 1 does not shift positions). Skipped
    when the run itself resumes (``resume=True``): mmengine restores the optimizer.

    Args:
        checkpoint: checkpoint file with an ``'optimizer'`` entry; ``None`` uses
            the run's ``load_from``.
    """

    priority = 'VERY_LOW'

    def __init__(self, checkpoint: Optional[str] = None) -> None:
        self.checkpoint = checkpoint

    def before_train(self, runner) -> None:
        logger = MMLogger.get_current_instance()
        if runner.cfg.get('resume', False):
            logger.info('LoadOptimizerStateHook: resume=True, the optimizer state comes from the resumed checkpoint')
            return
        path = self.checkpoint or runner.cfg.get('load_from')
        if not path:
            raise ValueError('LoadOptimizerStateHook: no checkpoint given and the config has no load_from; '
                             'set load_from to the previous stage\'s checkpoint')
        wrapper = runner.optim_wrapper
        if not isinstance(wrapper, OptimWrapper):
            raise TypeError(f'LoadOptimizerStateHook supports a single OptimWrapper, got {type(wrapper).__name__}')
        saved = load_checkpoint_file(path)  # safe: weights_only=True with mmengine's checkpoint types
        if not isinstance(saved, dict) or 'optimizer' not in saved:
            raise KeyError(f'LoadOptimizerStateHook: {path!r} has no \'optimizer\' entry (a full training '
                           'checkpoint of the previous stage is needed, not a published weights file)')
        load_optimizer_moments(wrapper.optimizer, saved['optimizer'], path)
        lrs = sorted({g['lr'] for g in wrapper.optimizer.param_groups})
        logger.info(f'LoadOptimizerStateHook: optimizer state of {len(saved["optimizer"]["state"])} parameters '
                    f'loaded from {path!r}; learning rate(s) {lrs} from this config')


def load_optimizer_moments(optimizer, saved: dict, source: str) -> None:
    """``optimizer.load_state_dict`` with ``saved``'s per-parameter state and the
    optimizer's own param groups (lr, weight decay, ...); the group layout must match."""
    current = optimizer.state_dict()
    old_groups, new_groups = saved.get('param_groups', []), current['param_groups']
    old_sizes = [len(g['params']) for g in old_groups]
    new_sizes = [len(g['params']) for g in new_groups]
    if old_sizes != new_sizes:
        raise ValueError(f'optimizer state in {source!r} has parameter groups of sizes {old_sizes}, this run\'s '
                         f'optimizer {new_sizes}: the two stages must build the same model and groups')
    # both state dicts number parameters by position, so the state keys carry over as they are
    optimizer.load_state_dict({'state': saved['state'], 'param_groups': new_groups})

"""Per-epoch reseeding so that a resumed run matches an uninterrupted one."""
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.runner import set_random_seed

from sdfn_plugin.registry import HOOKS


@HOOKS.register_module()
class EpochReseedHook(Hook):
    """Reseeds python/numpy/torch at the start of every training epoch from
    ``(runner.seed, epoch)``.

    mmengine restores weights, optimiser, schedulers and the sampler epoch on
    resume, but not the global RNG streams that dropout, random augmentation
    and dataloader worker seeds draw from; the evaluation between epochs also
    consumes them. Making each epoch's RNG state a function of the seed and the
    epoch alone makes "stop after epoch e, resume" reproduce the uninterrupted
    run exactly (same device, same thread count).
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        seed = runner.seed if runner.seed is not None else 0
        diff_rank = bool(runner.cfg.get('randomness', {}).get('diff_rank_seed', False))
        offset = get_rank() if diff_rank else 0
        set_random_seed(seed + 1000003 * (runner.epoch + 1) + offset)

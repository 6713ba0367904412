"""Epoch-boundary bookkeeping of SDFN's self path distillation memory.

SDFN (arXiv 2405.15451) Eq. 4 uses the previous epoch's path predictions as
the teacher; ``docs/sdfn.md`` (Objective) implements them as a per-sample
memory (:class:`~sdfn_plugin.models.losses.path_memory.PathMemory`).
"""
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

from sdfn_plugin.models.losses.path_memory import PathMemory
from sdfn_plugin.registry import HOOKS

__all__ = ['PathMemoryHook']


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def find_path_memories(model) -> List[PathMemory]:
    """Every :class:`PathMemory` inside the (unwrapped) model."""
    return [m for m in _unwrap(model).modules() if isinstance(m, PathMemory)]


def find_num_paths(model) -> Optional[int]:
    """The path-vector length announced by the fusion (an int ``num_paths``
    attribute, e.g. ``SDFN.num_paths``), ``None`` if no module announces one."""
    values = {int(m.num_paths) for m in _unwrap(model).modules()
              if not isinstance(m, PathMemory) and isinstance(getattr(m, 'num_paths', None), int)}
    if len(values) > 1:
        raise ValueError(f'PathMemoryHook: several modules announce different num_paths {sorted(values)}')
    return values.pop() if values else None


@HOOKS.register_module()
class PathMemoryHook(Hook):
    """Sizes every path memory of the model and commits it at each epoch end.

    * ``before_run`` (training runs only): ``allocate(len(train_dataloader.dataset),
      num_paths)`` on every ``PathMemory`` of the unwrapped model. In mmengine
      0.10.7 ``Runner.train()`` calls ``before_run`` **before**
      ``load_or_resume()`` (``before_train`` comes after it), so a resumed
      checkpoint restores the memory into correctly sized buffers and a
      checkpoint of another dataset is rejected. ``before_train`` repeats the
      allocation (a no-op at the same size) for runners/loops that skip
      ``before_run``.
    * ``after_train_epoch``: ``commit_epoch()``: this epoch's predictions
      become the next epoch's teacher.

    ``priority = 'VERY_HIGH'`` so the buffers have their final size before
    other ``before_run`` hooks copy the model (``EMAHook`` deep-copies it and
    later copies buffers element-wise).

    Usage: ``custom_hooks = [dict(type='PathMemoryHook')]``.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._warned = False

    def _allocate(self, runner) -> None:
        memories = find_path_memories(runner.model)
        if not memories:
            if not self._warned:
                self._warned = True
                print_log('PathMemoryHook: the model has no PathMemory (no SelfPathDistillationLoss); nothing to do',
                          logger='current')
            return
        num_samples = len(runner.train_dataloader.dataset)
        num_paths = find_num_paths(runner.model)
        before = [(m.num_samples, m.num_paths) for m in memories]
        for memory in memories:
            memory.allocate(num_samples, num_paths)
        if before != [(m.num_samples, m.num_paths) for m in memories]:
            print_log(f'PathMemoryHook: allocated {len(memories)} path memory(ies) of {num_samples} samples x '
                      f'{memories[0].num_paths} paths', logger='current')

    def before_run(self, runner) -> None:
        # Only when training: Runner.train() builds the train loop before before_run; val()/test() do not.
        if isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            self._allocate(runner)

    def before_train(self, runner) -> None:
        # Same size -> content kept; a memory restored with another size raises.
        self._allocate(runner)

    def after_train_epoch(self, runner) -> None:
        for memory in find_path_memories(runner.model):
            memory.commit_epoch()

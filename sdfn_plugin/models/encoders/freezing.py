"""Freezing encoder towers, stages and BatchNorm statistics from config."""
from typing import Iterable, List

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorms(module: nn.Module) -> List[_BatchNorm]:
    """Every BatchNorm layer (1d/2d/3d, timm's BatchNormAct2d, SyncBN) inside ``module``."""
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def freeze_parameters(modules: Iterable[nn.Module]) -> None:
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(False)


class FreezableMixin:
    """``train()`` that keeps frozen parts of an encoder in eval mode.

    Subclasses (which are ``nn.Module``\\ s) list what is frozen in
    :meth:`frozen_modules` and set the flags below; :meth:`apply_freezing`
    turns their gradients off once, after the weights are loaded.

    * ``frozen_bn``: every BatchNorm frozen, affine parameters and running
      statistics (eval mode).
    * ``norm_eval`` (mmdet's name): every BatchNorm in eval mode, so its running
      statistics stay fixed and it normalises with them, while its affine
      parameters keep training (the official AMC code, KevinLight831/AMC).
    * ``frozen_eval`` (default ``True``): frozen parts stay in eval mode under
      ``model.train()``, so BatchNorm statistics and dropout do not change what
      a frozen tower computes (mmdet's ``frozen_stages`` convention). ``False``
      freezes through ``requires_grad`` only, as the official ARTEMIS stage 1
      does: their BatchNorm layers then normalise with batch statistics and
      keep updating their running statistics.
    """

    frozen_bn: bool = False
    norm_eval: bool = False
    frozen_eval: bool = True

    def _check_norm_options(self, name: str) -> None:
        """Reject contradictory settings (call after setting the flags and the frozen parts)."""
        if self.frozen_bn and self.norm_eval:
            raise ValueError(f'{name}: frozen_bn=True already keeps BatchNorm in eval mode (and freezes its affine '
                             'parameters); norm_eval=True is for running statistics frozen with trainable affine '
                             'parameters: set one of them')
        if not self.frozen_eval and not self.frozen_modules():
            raise ValueError(f'{name}: frozen_eval=False (frozen parts run in train mode) needs frozen parts; '
                             'set frozen_stages or frozen, or leave frozen_eval=True')

    def frozen_modules(self) -> List[nn.Module]:
        """Modules whose parameters are frozen (none by default)."""
        return []

    def apply_freezing(self) -> None:
        freeze_parameters(self.frozen_modules())
        if self.frozen_bn:
            freeze_parameters(batchnorms(self))

    def train(self, mode: bool = True):
        super().train(mode)  # type: ignore[misc]
        if mode:
            if self.frozen_eval:
                for module in self.frozen_modules():
                    module.eval()
            if self.frozen_bn or self.norm_eval:
                for bn in batchnorms(self):  # type: ignore[arg-type]
                    bn.eval()
        return self

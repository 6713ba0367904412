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
    :meth:`frozen_modules` and set ``self.frozen_bn``; :meth:`apply_freezing`
    turns their gradients off once, after the weights are loaded. Frozen parts
    stay in eval mode under ``model.train()`` so that BatchNorm statistics and
    dropout do not change what a frozen tower computes (mmdet's
    ``frozen_stages``/``norm_eval`` convention).
    """

    frozen_bn: bool = False

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
            for module in self.frozen_modules():
                module.eval()
            if self.frozen_bn:
                for bn in batchnorms(self):  # type: ignore[arg-type]
                    bn.eval()
        return self

"""torchvision ResNets as region-token encoders (TIRG, AMC, SDFN)."""
import os
from typing import Optional

import torch
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.utils.checkpoint import load_checkpoint_file

from ..freezing import FreezableMixin
from .base import MapImageEncoder

_DEPTHS = {18: ('resnet18', 512), 34: ('resnet34', 512), 50: ('resnet50', 2048), 101: ('resnet101', 2048)}


@MODELS.register_module()
class TorchvisionResNet(FreezableMixin, MapImageEncoder):
    """ResNet up to ``layer4`` (last feature map), then a 1x1 projection.

    Weights come from torchvision's own mechanism (``weights='IMAGENET1K_V1'``,
    downloaded into the torch hub cache on the user's machine) or from a local
    checkpoint file (``checkpoint=``); with neither, the network is randomly
    initialised and builds offline.

    Args:
        depth: 18, 34, 50 or 101.
        out_dim: projection width; SDFN/AMC use 1024 (no bias), TIRG 512.
        weights: a torchvision weights enum name, e.g. ``'IMAGENET1K_V2'``.
        checkpoint: path to a state dict of ``torchvision.models.resnet<depth>``
            (keys with or without a ``'state_dict'`` wrapper; ``fc.*`` ignored).
        frozen_bn: keep BatchNorm in eval mode with frozen affine parameters.
        norm_eval: keep BatchNorm in eval mode (running statistics fixed) while
            its affine parameters train (AMC's official code).
        frozen_stages: freeze the stem and the first ``frozen_stages`` layers (-1: none).
        frozen: freeze the whole backbone (= ``frozen_stages=4``), kept in eval mode
            under ``train()``; the projection (``out_dim``) stays trainable, as in
            the other towers.
        frozen_eval: ``True`` keeps the frozen stages in eval mode under
            ``train()``; ``False`` freezes them through ``requires_grad`` only, so
            their BatchNorm runs in train mode (the official ARTEMIS stage 1).
    """
    # arguments that only choose initial weights: a model restored from its own checkpoint
    # (sdfn_plugin.apis.get_model) resets them, so nothing is downloaded or read in vain
    INIT_WEIGHT_ARGS = {'weights': None, 'checkpoint': None}

    def __init__(self, depth: int = 50, out_dim: Optional[int] = 1024, proj_bias: bool = False,
                 weights: Optional[str] = None, checkpoint: Optional[str] = None,
                 frozen_bn: bool = False, frozen_stages: int = -1, frozen: bool = False,
                 norm_eval: bool = False, frozen_eval: bool = True) -> None:
        if depth not in _DEPTHS:
            raise ValueError(f'TorchvisionResNet.depth must be one of {sorted(_DEPTHS)}, got {depth}')
        if weights is not None and checkpoint is not None:
            raise ValueError('TorchvisionResNet: give either weights (torchvision name) or checkpoint (file), not both')
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f'TorchvisionResNet.frozen_stages must be in [-1, 4], got {frozen_stages}')
        import torchvision
        arch, width = _DEPTHS[depth]
        super().__init__(backbone_dim=width, out_dim=out_dim, proj_bias=proj_bias)
        net = getattr(torchvision.models, arch)(weights=weights)
        if checkpoint is not None:
            self._load_local(net, checkpoint)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layers = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        self.frozen_bn, self.norm_eval, self.frozen_eval = bool(frozen_bn), bool(norm_eval), bool(frozen_eval)
        self.frozen_stages = 4 if frozen else frozen_stages
        self._check_norm_options('TorchvisionResNet')
        self.apply_freezing()

    @staticmethod
    def _load_local(net: nn.Module, path: str) -> None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f'TorchvisionResNet.checkpoint: no such file {path!r}')
        state = load_checkpoint_file(path)
        state = state.get('state_dict', state)
        state = {k: v for k, v in state.items() if not k.startswith('fc.')}
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith('fc.')]
        if missing or unexpected:
            raise ValueError(f'TorchvisionResNet.checkpoint {path!r} does not match the architecture: '
                             f'missing {missing[:5]}, unexpected {unexpected[:5]}')

    def frozen_modules(self) -> list:
        """The stem and the first ``frozen_stages`` layers (none when ``frozen_stages == -1``)."""
        return [self.stem] + list(self.layers[:self.frozen_stages]) if self.frozen_stages >= 0 else []

    def forward_map(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        for layer in self.layers:
            x = layer(x)
        return x

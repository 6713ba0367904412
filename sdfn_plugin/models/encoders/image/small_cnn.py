"""A small CNN for low-resolution synthetic images (the CPU quick start)."""
from typing import Optional, Sequence

import torch
from torch import nn

from sdfn_plugin.registry import MODELS

from .base import MapImageEncoder


@MODELS.register_module()
class SmallCNN(MapImageEncoder):
    """``len(channels)`` blocks of conv3x3-BN-ReLU-maxpool2.

    At 64x64 input the default 4 blocks give a 4x4 map (16 tokens). It trains
    several times faster than ResNet-18 at that size on CPU, which is what the
    synthetic benchmark needs; it is not meant for natural images.

    Args:
        channels: output channels per block.
        out_dim: projection width (see :class:`MapImageEncoder`).
    """

    def __init__(self, channels: Sequence[int] = (32, 64, 128, 256), out_dim: Optional[int] = 256,
                 in_channels: int = 3) -> None:
        channels = list(channels)
        if not channels or any(c <= 0 for c in channels):
            raise ValueError(f'SmallCNN.channels must be non-empty positive ints, got {channels}')
        super().__init__(backbone_dim=channels[-1], out_dim=out_dim)
        layers = []
        prev = in_channels
        for c in channels:
            layers += [nn.Conv2d(prev, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            prev = c
        self.body = nn.Sequential(*layers)

    def forward_map(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)

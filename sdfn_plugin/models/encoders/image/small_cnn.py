"""A small CNN for low-resolution synthetic images (the CPU quick start)."""
from typing import Optional, Sequence

import torch
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import ImageFeatures

from .base import MapImageEncoder

_POOL = ('mean', 'flatten')


@MODELS.register_module()
class SmallCNN(MapImageEncoder):
    """``len(channels)`` blocks of conv3x3-BN-ReLU-maxpool2.

    At 64x64 input the default 4 blocks give a 4x4 map (16 tokens). It trains
    several times faster than ResNet-18 at that size on CPU, which is what the
    synthetic benchmark needs; it is not meant for natural images.

    Position matters in the synthetic scenes ("remove the object in the
    top-left"), and global average pooling keeps it only implicitly, so two
    switches make it explicit:

    Args:
        channels: output channels per block.
        out_dim: projection width (see :class:`MapImageEncoder`).
        coord_channels: append normalised x/y coordinate maps to the input
            (CoordConv, Liu et al., NeurIPS 2018).
        pool: ``'mean'`` (pooled = mean of tokens) or ``'flatten'`` (pooled = a
            Linear over the whole flattened map, position-aware; needs ``input_size``).
        input_size: image side, required by ``pool='flatten'``.
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 128), out_dim: Optional[int] = 256,
                 in_channels: int = 3, coord_channels: bool = False, pool: str = 'mean',
                 input_size: Optional[int] = None) -> None:
        channels = list(channels)
        if not channels or any(c <= 0 for c in channels):
            raise ValueError(f'SmallCNN.channels must be non-empty positive ints, got {channels}')
        if pool not in _POOL:
            raise ValueError(f'SmallCNN.pool must be one of {_POOL}, got {pool!r}')
        if pool == 'flatten' and (input_size is None or input_size % 2 ** len(channels)):
            raise ValueError(f"SmallCNN(pool='flatten') needs input_size divisible by {2 ** len(channels)}, "
                             f'got {input_size}')
        super().__init__(backbone_dim=channels[-1], out_dim=out_dim)
        self.coord_channels = coord_channels
        layers = []
        prev = in_channels + (2 if coord_channels else 0)
        for c in channels:
            layers += [nn.Conv2d(prev, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            prev = c
        self.body = nn.Sequential(*layers)
        self.pool = pool
        if pool == 'flatten':
            side = input_size // 2 ** len(channels)
            self.flatten_head = nn.Linear(self.out_dim * side * side, self.out_dim)

    def forward_map(self, images: torch.Tensor) -> torch.Tensor:
        if self.coord_channels:
            b, _, h, w = images.shape
            ys = torch.linspace(-1, 1, h, device=images.device, dtype=images.dtype)
            xs = torch.linspace(-1, 1, w, device=images.device, dtype=images.dtype)
            grid = torch.stack(torch.meshgrid(ys, xs, indexing='ij')).expand(b, 2, h, w)
            images = torch.cat([images, grid], dim=1)
        return self.body(images)

    def forward(self, images: torch.Tensor) -> ImageFeatures:
        feats = super().forward(images)
        if self.pool == 'flatten':
            feats.pooled = self.flatten_head(feats.tokens.flatten(1))
        return feats

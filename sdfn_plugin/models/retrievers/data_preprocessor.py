"""Batching and normalisation of composed-retrieval inputs."""
from typing import Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import ImageFeatures

IMAGE_KEYS = ('ref', 'tgt', 'img')


@MODELS.register_module()
class CIRDataPreprocessor(BaseDataPreprocessor):
    """Stacks uint8 ``(3, H, W)`` images per key, normalises them, moves them to
    the model's device; texts stay a list of strings (tokenisers belong to the
    text encoders).

    Input ``{'inputs': {'ref': [T, ...], 'tgt': [...], 'text': [str, ...]},
    'data_samples': [...]}`` as produced by ``pseudo_collate`` over
    :class:`~sdfn_plugin.datasets.transforms.PackCIRInputs` outputs. Per-image
    :class:`ImageFeatures` (from a feature cache) are stacked into one batch instead.

    Args:
        mean, std: per-channel statistics on the 0-255 scale (ImageNet default).
        channels_last: return images in ``torch.channels_last`` memory format
            (faster convolutions on recent GPUs with AMP).
    """

    def __init__(self, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), channels_last: bool = False) -> None:
        super().__init__()
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise ValueError(f'CIRDataPreprocessor: mean and std need 3 values (std > 0), got {mean}, {std}')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), False)
        self.channels_last = channels_last

    def _features(self, feats: Sequence[ImageFeatures]) -> ImageFeatures:
        """Batch the per-image cached features (``LoadCachedFeatures``), as float32 on the device."""
        return ImageFeatures(tokens=torch.stack([f.tokens for f in feats]).to(self.device).float(),
                             pooled=torch.stack([f.pooled for f in feats]).to(self.device).float())

    def _images(self, images, key: str) -> torch.Tensor:
        if isinstance(images, (list, tuple)) and images and isinstance(images[0], ImageFeatures):
            return self._features(images)
        if isinstance(images, (list, tuple)):
            shapes = {tuple(im.shape) for im in images}
            if len(shapes) != 1:
                raise ValueError(f'CIRDataPreprocessor: images under {key!r} have different shapes {sorted(shapes)}; '
                                 'add a Resize/crop transform to the pipeline')
            images = torch.stack(list(images))
        images = images.to(self.device, non_blocking=True).float()
        images = (images - self.mean) / self.std
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = dict(data['inputs'])
        for key in IMAGE_KEYS:
            if key in inputs:
                inputs[key] = self._images(inputs[key], key)
        if 'text' in inputs:
            inputs['text'] = list(inputs['text'])
        return {'inputs': inputs, 'data_samples': data.get('data_samples')}

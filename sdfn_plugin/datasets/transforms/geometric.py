"""Resizing, cropping and flipping applied identically to every listed image key."""
from typing import Sequence, Tuple, Union

import torch
import torchvision.transforms.v2.functional as TF

from sdfn_plugin.registry import TRANSFORMS

Size = Union[int, Tuple[int, int]]


def _pair(size: Size, name: str) -> Tuple[int, int]:
    out = (size, size) if isinstance(size, int) else tuple(size)
    if len(out) != 2 or any(int(s) <= 0 for s in out):
        raise ValueError(f'{name}: size must be a positive int or (h, w), got {size!r}')
    return int(out[0]), int(out[1])


@TRANSFORMS.register_module()
class ResizeImages:
    """Resize to ``size``: an int keeps the aspect ratio (shorter side), ``(h, w)``
    squashes (the FashionIQ start kit / AMC ``Resize([256, 256])``)."""

    def __init__(self, size: Size, keys: Sequence[str] = ('ref', 'tgt', 'img'), antialias: bool = True) -> None:
        pair = _pair(size, 'ResizeImages')
        self.size = [pair[0]] if isinstance(size, int) else list(pair)
        self.keys, self.antialias = tuple(keys), antialias

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            if key in results:
                results[key] = TF.resize(results[key], self.size, antialias=self.antialias)
        return results


@TRANSFORMS.register_module()
class CenterCropImages:
    def __init__(self, size: Size, keys: Sequence[str] = ('ref', 'tgt', 'img')) -> None:
        self.size, self.keys = list(_pair(size, 'CenterCropImages')), tuple(keys)

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            if key in results:
                results[key] = TF.center_crop(results[key], self.size)
        return results


@TRANSFORMS.register_module()
class RandomCropImages:
    """Random crop, drawn independently per image (reference and target are different photos)."""

    def __init__(self, size: Size, keys: Sequence[str] = ('ref', 'tgt', 'img')) -> None:
        self.size, self.keys = _pair(size, 'RandomCropImages'), tuple(keys)

    def __call__(self, results: dict) -> dict:
        h, w = self.size
        for key in self.keys:
            if key in results:
                img = results[key]
                if img.shape[-2] < h or img.shape[-1] < w:
                    raise ValueError(f'RandomCropImages: {key} image {tuple(img.shape[-2:])} smaller than crop {self.size}')
                top = int(torch.randint(0, img.shape[-2] - h + 1, ()).item())
                left = int(torch.randint(0, img.shape[-1] - w + 1, ()).item())
                results[key] = img[..., top:top + h, left:left + w]
        return results


@TRANSFORMS.register_module()
class RandomFlipImages:
    """Horizontal flip with probability ``prob``, per image. Not for datasets whose
    texts mention left/right (e.g. the synthetic CSS benchmark)."""

    def __init__(self, prob: float = 0.5, keys: Sequence[str] = ('ref', 'tgt', 'img')) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'RandomFlipImages.prob must be in [0, 1], got {prob}')
        self.prob, self.keys = prob, tuple(keys)

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            if key in results and torch.rand(()) < self.prob:
                results[key] = results[key].flip(-1)
        return results

"""Image loading (mmengine registers no image transforms; mmcv is not a dependency)."""
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageFile, UnidentifiedImageError

from sdfn_plugin.registry import TRANSFORMS


def read_image(path: str, allow_truncated: bool = False) -> torch.Tensor:
    """RGB uint8 tensor ``(3, H, W)``; one clear error naming the file otherwise."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = allow_truncated
    try:
        with Image.open(path) as im:
            # np.array copies once into a writable array; convert() only when the mode differs
            # (on an RGB image it would be one more full copy of the same pixels)
            arr = np.array(im if im.mode == 'RGB' else im.convert('RGB'))
    except FileNotFoundError:
        raise FileNotFoundError(f'image file not found: {path!r}') from None
    except (UnidentifiedImageError, OSError) as err:
        raise OSError(f'cannot read image {path!r}: {err} '
                      '(truncated/corrupt file? re-encode it or set allow_truncated=True)') from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def image_path(results: dict, key: str, transform: str) -> str:
    """``results[f'{key}_path']``, or a KeyError naming the transform, the sample and the keys it has."""
    path_key = f'{key}_path'
    if path_key not in results:
        raise KeyError(f'{transform}: sample {results.get("sample_idx")} has no {path_key!r}; '
                       f'keys are {sorted(results)}')
    return results[path_key]


@TRANSFORMS.register_module()
class LoadCIRImages:
    """Reads ``results[f'{key}_path']`` into ``results[key]`` for each key.

    Args:
        keys: which images to load: ``'ref'``/``'tgt'`` for queries, ``'img'`` for gallery items.
        allow_truncated: let PIL decode truncated JPEGs (present in FashionIQ mirrors).
    """

    def __init__(self, keys: Sequence[str] = ('ref', 'tgt'), allow_truncated: bool = False) -> None:
        self.keys = tuple(keys)
        self.allow_truncated = allow_truncated

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            results[key] = read_image(image_path(results, key, 'LoadCIRImages'), self.allow_truncated)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(keys={self.keys}, allow_truncated={self.allow_truncated})'

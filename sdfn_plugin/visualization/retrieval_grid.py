"""A picture of one composed query and its ranking: reference, modification text, top-k with scores.

Drawn with PIL only (no display, no matplotlib state), so it works in servers and tests.
"""
import os
import os.path as osp
import textwrap
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ['draw_retrieval_grid', 'to_pil']

ImageLike = Union[str, np.ndarray, Image.Image]
_TARGET = (0, 170, 60)      # outline of a correct result
_FRAME = (200, 200, 200)    # outline of the other results
_REF = (40, 90, 200)        # outline of the reference


def to_pil(image: ImageLike) -> Image.Image:
    """An RGB PIL image from a path, an ``(H, W, 3)`` uint8 RGB array or a PIL image."""
    if isinstance(image, Image.Image):
        return image.convert('RGB')
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
            raise ValueError(f'image array must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}')
        return Image.fromarray(image[..., :3])
    from sdfn_plugin.datasets.transforms import read_image
    return Image.fromarray(read_image(str(image)).permute(1, 2, 0).numpy())


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def _tile(image: ImageLike, size: int, outline: Tuple[int, int, int], width: int) -> Image.Image:
    im = to_pil(image)
    im.thumbnail((size, size))
    tile = Image.new('RGB', (size + 2 * width, size + 2 * width), outline)
    inner = Image.new('RGB', (size, size), (255, 255, 255))
    inner.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
    tile.paste(inner, (width, width))
    return tile


def draw_retrieval_grid(reference: ImageLike, text: str, results: Sequence[Tuple[ImageLike, str, float]],
                        target_keys: Optional[Sequence[str]] = None, out_file: Optional[str] = None,
                        thumb: int = 128, per_row: int = 5) -> np.ndarray:
    """Draw the reference (blue frame), the modification text and the ranked results.

    Args:
        reference: the reference image.
        text: the modification text (wrapped above the images).
        results: ``(image, key, score)`` per result, best first; the caption shows
            the rank, the score and the file name of the key.
        target_keys: keys of correct results, outlined in green.
        out_file: write the picture there as PNG (folders are created).
        thumb: side of each thumbnail in pixels.
        per_row: results per row (the reference takes the first column of the first row).

    Returns:
        The picture as an ``(H, W, 3)`` uint8 RGB array.
    """
    targets = set(target_keys or ())
    pad, border, caption = 8, 4, 30
    font, small = _font(16), _font(12)
    cell_w, cell_h = thumb + 2 * border + pad, thumb + 2 * border + caption + pad
    lines = textwrap.wrap(f'"{text}"', width=max(20, (per_row + 1) * cell_w // 9)) or ['""']
    header = 20 * len(lines) + 2 * pad
    rows = max(1, -(-len(results) // per_row))
    canvas = Image.new('RGB', (pad + (per_row + 1) * cell_w, header + rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((pad, pad + 20 * i), line, fill=(0, 0, 0), font=font)
    canvas.paste(_tile(reference, thumb, _REF, border), (pad, header))
    draw.text((pad, header + thumb + 2 * border + 4), 'reference', fill=_REF, font=small)
    for rank, (image, key, score) in enumerate(results):
        x = pad + (1 + rank % per_row) * cell_w
        y = header + (rank // per_row) * cell_h
        hit = key in targets
        canvas.paste(_tile(image, thumb, _TARGET if hit else _FRAME, border), (x, y))
        label = f'#{rank + 1} {score:.3f}' + (' target' if hit else '')
        draw.text((x, y + thumb + 2 * border + 2), label, fill=_TARGET if hit else (0, 0, 0), font=small)
        draw.text((x, y + thumb + 2 * border + 15), osp.basename(str(key))[:22], fill=(90, 90, 90), font=small)
    if out_file:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        canvas.save(out_file, format='PNG')
    return np.asarray(canvas)

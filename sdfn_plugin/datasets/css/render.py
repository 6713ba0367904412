"""PIL rendering of CSS scenes.

Each object is drawn in its grid cell on a white background.  Per image, each
cell gets a jitter triple ``(dx, dy, scale)``: the object centre moves by
``(dx, dy)`` (in units of the cell size, length <= :data:`MAX_SHIFT`) and its size
is multiplied by ``scale`` (within 1 +- :data:`MAX_SCALE_DELTA`).  With these
bounds an object never leaves its cell and, for images of at least 48 pixels,
the cell centre pixel always lies inside the object, so it has the object's
colour (edges are anti-aliased, interiors have the exact colour).
"""
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

from .scene import COLOR_RGB, NUM_CELLS, Scene

BACKGROUND = (255, 255, 255)
#: Half extent of an object in units of the cell size (before jitter).
HALF_EXTENT = {'small': 0.26, 'large': 0.37}
MAX_SHIFT = 0.07
MAX_SCALE_DELTA = 0.10
#: Objects are drawn at ``SUPERSAMPLE`` times the resolution and box-downsampled
#: (anti-aliasing), so sub-pixel jitter changes the image.
SUPERSAMPLE = 8


def sample_jitter(rng: np.random.Generator, num_images: int) -> np.ndarray:
    """Jitter for ``num_images`` images: float array ``(num_images, 9, 3)``."""
    jitter = np.empty((num_images, NUM_CELLS, 3), dtype=np.float64)
    # shift uniform in the disc of radius MAX_SHIFT
    radius = MAX_SHIFT * np.sqrt(rng.random((num_images, NUM_CELLS)))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=(num_images, NUM_CELLS))
    jitter[..., 0] = radius * np.cos(angle)
    jitter[..., 1] = radius * np.sin(angle)
    jitter[..., 2] = rng.uniform(1.0 - MAX_SCALE_DELTA, 1.0 + MAX_SCALE_DELTA,
                                 size=(num_images, NUM_CELLS))
    return jitter


def cell_center(cell: int, image_size: int):
    """Pixel coordinates ``(x, y)`` of the centre of ``cell``."""
    step = image_size / 3.0
    row, col = divmod(cell, 3)
    return (col + 0.5) * step, (row + 0.5) * step


def render_scene(scene: Scene, image_size: int = 64,
                 jitter: Optional[np.ndarray] = None) -> Image.Image:
    """Render ``scene`` as an RGB image of ``image_size`` x ``image_size``.

    Args:
        scene: the scene to draw.
        image_size: side of the square image in pixels.
        jitter: ``(9, 3)`` array of per-cell ``(dx, dy, scale)`` (see module
            docstring); None draws without jitter.
    """
    canvas = image_size * SUPERSAMPLE
    image = Image.new('RGB', (canvas, canvas), BACKGROUND)
    draw = ImageDraw.Draw(image)
    step = canvas / 3.0
    for cell, obj in scene.objects():
        dx, dy, scale = (0.0, 0.0, 1.0) if jitter is None else jitter[cell]
        cx, cy = cell_center(cell, canvas)
        cx += dx * step
        cy += dy * step
        r = HALF_EXTENT[obj.size] * scale * step
        color = COLOR_RGB[obj.color]
        if obj.shape == 'square':
            draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
        elif obj.shape == 'circle':
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
        else:  # equilateral, pointing up, inscribed in the circle of radius
            # r around the object centre (which is thus its incentre)
            half_w = 0.5 * 3.0**0.5 * r
            draw.polygon([(cx, cy - r), (cx - half_w, cy + 0.5 * r),
                          (cx + half_w, cy + 0.5 * r)], fill=color)
    return image.reduce(SUPERSAMPLE) if SUPERSAMPLE > 1 else image

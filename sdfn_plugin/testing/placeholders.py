"""Placeholder images for exercising real-dataset loaders without the real images.

The official annotation files can be paired with tiny generated JPEGs written
under the expected file names (``docs/datasets.md``, Dataset facts): parsing, protocol
construction, counting and the image checks all run, and no image is
redistributed. One encoded JPEG is written to every path (about 15,000 files
per second on a local disk).
"""
import io
import os
from typing import Iterable, Tuple

from PIL import Image

__all__ = ['placeholder_jpeg', 'write_placeholder_images', 'write_truncated_jpeg', 'shoes_image_relpath']


def placeholder_jpeg(size: int = 8, color: Tuple[int, int, int] = (128, 64, 32)) -> bytes:
    """Bytes of a small solid-colour JPEG."""
    buf = io.BytesIO()
    Image.new('RGB', (size, size), color).save(buf, 'JPEG')
    return buf.getvalue()


def write_placeholder_images(paths: Iterable[str], size: int = 8) -> int:
    """Write the same tiny JPEG to every path (folders created); returns the count."""
    data = placeholder_jpeg(size)
    made, n = set(), 0
    for path in paths:
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(path, 'wb') as f:
            f.write(data)
        n += 1
    return n


def write_truncated_jpeg(path: str, size: int = 64) -> None:
    """A JPEG cut in the middle of its scan data (PIL fails to decode it unless
    ``LOAD_TRUNCATED_IMAGES``), like the broken files of FashionIQ mirrors."""
    buf = io.BytesIO()
    Image.effect_noise((size, size), 64).convert('RGB').save(buf, 'JPEG', quality=95)
    data = buf.getvalue()
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data[:len(data) * 2 // 3])


def shoes_image_relpath(name: str, folder: str = '0') -> str:
    """``attributedata/womens_<type>/<folder>/<name>`` for ``img_womens_<type>_<n>.jpg``."""
    stem = name[len('img_'):name.rindex('_')] if name.startswith('img_') and '_' in name[4:] else 'womens_unknown'
    return os.path.join('attributedata', stem, folder, name)

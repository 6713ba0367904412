"""A toy triplet dataset in the ``CIRTripletDataset`` format, generated in a second (docs and tests).

24 images (8 colours x 3 shapes, 64 px JPEGs) and every distinct "change the
colour" / "change the shape" triplet between them (216), shuffled with a seed
and split into ``train.jsonl`` and ``val.jsonl``.
"""
import json
import os
import random
from typing import Dict, Tuple

from PIL import Image, ImageDraw

__all__ = ['write_toy_triplets']

_COLOURS = {'red': (220, 40, 40), 'green': (40, 180, 60), 'blue': (40, 70, 220), 'yellow': (230, 210, 40),
            'purple': (140, 50, 170), 'orange': (240, 140, 30), 'white': (245, 245, 245), 'black': (20, 20, 20)}
_SHAPES = ('circle', 'square', 'triangle')


def _draw(colour: Tuple[int, int, int], shape: str, size: int = 64) -> Image.Image:
    im = Image.new('RGB', (size, size), (128, 128, 128))
    d = ImageDraw.Draw(im)
    box = (size // 6, size // 6, size * 5 // 6, size * 5 // 6)
    if shape == 'circle':
        d.ellipse(box, fill=colour)
    elif shape == 'square':
        d.rectangle(box, fill=colour)
    else:
        d.polygon([(size // 2, box[1]), (box[2], box[3]), (box[0], box[3])], fill=colour)
    return im


def write_toy_triplets(root: str, num_train: int = 160, num_val: int = 40, seed: int = 0) -> Dict[str, int]:
    """Write ``images/<colour>_<shape>.jpg``, ``train.jsonl`` and ``val.jsonl`` under ``root``; returns counts."""
    os.makedirs(os.path.join(root, 'images'), exist_ok=True)
    for c, rgb in _COLOURS.items():
        for s in _SHAPES:
            _draw(rgb, s).save(os.path.join(root, 'images', f'{c}_{s}.jpg'), quality=90)
    triplets = []
    for c in _COLOURS:
        for s in _SHAPES:
            for c2 in _COLOURS:
                if c2 != c:
                    triplets.append(dict(reference=f'{c}_{s}.jpg', target=f'{c2}_{s}.jpg',
                                         caption=f'is {c2} instead of {c}', category='colour'))
            for s2 in _SHAPES:
                if s2 != s:
                    triplets.append(dict(reference=f'{c}_{s}.jpg', target=f'{c}_{s2}.jpg',
                                         caption=f'is a {s2} not a {s}', category='shape'))
    if num_train + num_val > len(triplets):
        raise ValueError(f'write_toy_triplets: at most {len(triplets)} distinct triplets, '
                         f'asked for {num_train} + {num_val}')
    random.Random(seed).shuffle(triplets)
    for name, rows in (('train.jsonl', triplets[:num_train]), ('val.jsonl', triplets[num_train:num_train + num_val])):
        with open(os.path.join(root, name), 'w', encoding='utf-8') as f:
            f.writelines(json.dumps(r) + '\n' for r in rows)
    return dict(images=len(_COLOURS) * len(_SHAPES), train=num_train, val=num_val)

"""Reading and validating ``annotations.json`` of a generated CSS dataset.

Format (version :data:`FORMAT_VERSION`)::

    {"format_version": 2,
     "config": {<CSSGenerationConfig fields>},
     "metainfo": {"colors": [...], "shapes": [...], "sizes": [...],
                  "positions": [...], "heldout_combos": [[color, shape], ...]},
     "train": {"images": [{"id", "file", "scene"}, ...],
               "queries": [{"ref", "tgt", "text", "kind", "heldout"}, ...]},
     "test": {...same...}}

``file`` is relative to the folder of ``annotations.json``; ``scene`` is the
canonical scene key (:meth:`Scene.key`); a gallery image is a correct answer
for a query iff its ``scene`` equals the scene of the query's ``tgt`` image.
"""
import json
import os
from typing import Any, Dict

from .config import FORMAT_VERSION
from .scene import MOD_KINDS

ANNOTATION_FILE = 'annotations.json'
SPLITS = ('train', 'test')
_TOP_KEYS = ('format_version', 'config', 'metainfo', 'train', 'test')
_META_KEYS = ('colors', 'shapes', 'sizes', 'positions', 'heldout_combos')
_IMAGE_KEYS = ('id', 'file', 'scene')
_QUERY_KEYS = ('ref', 'tgt', 'text', 'kind', 'heldout')


def load_css_annotations(path: str) -> Dict[str, Any]:
    """Load and validate a CSS ``annotations.json``.

    Args:
        path: the file, or the dataset folder containing it.

    Returns:
        The parsed annotation dict (see module docstring).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: naming the file, if it is not valid JSON, misses a key,
            has another ``format_version`` or inconsistent references.
    """
    if os.path.isdir(path):
        path = os.path.join(path, ANNOTATION_FILE)
    with open(path, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}: not valid JSON ({e})') from e
    validate_annotations(data, path)
    return data


def validate_annotations(data: Any, path: str = '<annotations>') -> None:
    """Raise ValueError (naming ``path``) if ``data`` breaks the format."""

    def fail(msg: str):
        raise ValueError(f'{path}: invalid CSS annotations: {msg}')

    def need(obj: Any, keys, where: str):
        if not isinstance(obj, dict):
            fail(f'{where} must be an object, got {type(obj).__name__}')
        for key in keys:
            if key not in obj:
                fail(f'missing key {key!r} in {where}')

    need(data, _TOP_KEYS, 'top level')
    if data['format_version'] != FORMAT_VERSION:
        fail(f'format_version is {data["format_version"]!r}, expected '
             f'{FORMAT_VERSION}')
    need(data['metainfo'], _META_KEYS, 'metainfo')
    for split in SPLITS:
        need(data[split], ('images', 'queries'), split)
        images, queries = data[split]['images'], data[split]['queries']
        if not isinstance(images, list) or not isinstance(queries, list):
            fail(f'{split}.images and {split}.queries must be lists')
        ids = set()
        for i, image in enumerate(images):
            need(image, _IMAGE_KEYS, f'{split}.images[{i}]')
            ids.add(image['id'])
        if len(ids) != len(images):
            fail(f'duplicate image ids in {split}.images')
        for i, query in enumerate(queries):
            where = f'{split}.queries[{i}]'
            need(query, _QUERY_KEYS, where)
            if query['kind'] not in MOD_KINDS:
                fail(f'{where}.kind is {query["kind"]!r}, expected one of '
                     f'{MOD_KINDS}')
            for key in ('ref', 'tgt'):
                if query[key] not in ids:
                    fail(f'{where}.{key} {query[key]!r} is not an image id of '
                         f'{split}')

"""Annotation and image-file checks shared by the real-dataset loaders.

Every loader runs one validation pass right after parsing its annotations
(``check_images=True``): each image file the split needs must exist (and, with
``verify_images=True``, decode). Missing files either raise one clear error that
names the data root, the expected layout, the count and the first examples, or
(``skip_missing=True``) are dropped together with everything that depends on
them, and exactly what was dropped is logged. A gallery never shrinks silently
(``docs/datasets.md``, Pitfalls, item 5: mirrors with missing files
silently shrink FashionIQ galleries, BrandonHanx/CompFashion issue #4).
"""
import json
import os
from collections import defaultdict
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from mmengine.logging import MMLogger

__all__ = ['load_json_list', 'require_keys', 'find_missing_images', 'report_missing', 'log_dropped', 'first',
           'num_examples']

#: how many examples error messages and log lines show
num_examples = 5


def _examples(items: Sequence, n: int = num_examples) -> str:
    items = list(items)
    shown = ', '.join(repr(x) for x in items[:n])
    return shown + (f', ... ({len(items) - n} more)' if len(items) > n else '')


def load_json_list(path: str, what: str) -> list:
    """A JSON file that must hold a list; clear errors for a missing file or bad content."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{what}: annotation file not found: {path!r}')
    with open(path, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{what}: {path!r} is not valid JSON: {err}') from None
    if not isinstance(data, list):
        raise ValueError(f'{what}: {path!r} must hold a JSON list, got {type(data).__name__}')
    return data


def require_keys(entry: object, keys: Iterable[str], path: str, index: int) -> None:
    """Raise ``KeyError`` naming the file, the entry index and the missing key."""
    if not isinstance(entry, Mapping):
        raise ValueError(f'{path!r}: entry {index} must be a JSON object, got {type(entry).__name__}: {entry!r}')
    for key in keys:
        if key not in entry:
            raise KeyError(f'{path!r}: entry {index} has no key {key!r} (keys present: {sorted(entry)})')


def _decodes(path: str, allow_truncated: bool) -> bool:
    from .transforms.loading import read_image
    try:
        read_image(path, allow_truncated)
    except OSError:
        return False
    return True


def find_missing_images(paths: Iterable[str], verify: bool = False,
                        allow_truncated: bool = False) -> Dict[str, str]:
    """``{path: reason}`` for every path that does not exist (or does not decode).

    Existence is checked by listing each parent folder once (fast on folders
    with tens of thousands of files, and on network file systems); ``verify``
    additionally decodes every existing file (slow: one full JPEG decode each).
    """
    by_dir: Dict[str, List[str]] = defaultdict(list)
    for p in dict.fromkeys(paths):  # unique, order kept
        by_dir[os.path.dirname(p)].append(p)
    missing: Dict[str, str] = {}
    for folder, files in by_dir.items():
        try:
            present: Set[str] = set(os.listdir(folder or '.'))
        except (FileNotFoundError, NotADirectoryError):
            present = set()
        for p in files:
            if os.path.basename(p) not in present or not os.path.isfile(p):
                missing[p] = 'missing'
            elif verify and not _decodes(p, allow_truncated):
                missing[p] = 'unreadable'
    return missing


def report_missing(missing: Mapping[str, str], *, name: str, data_root: str, layout: str,
                   total: int) -> None:
    """Raise the error for missing/unreadable images (``skip_missing=False``)."""
    if not missing:
        return
    n_missing = sum(1 for r in missing.values() if r == 'missing')
    n_bad = len(missing) - n_missing
    parts = []
    if n_missing:
        parts.append(f'{n_missing} missing')
    if n_bad:
        parts.append(f'{n_bad} unreadable (truncated/corrupt)')
    raise FileNotFoundError(
        f'{name}: {" and ".join(parts)} of the {total} image files this split needs, under data_root '
        f'{data_root!r}; first: {_examples(list(missing))}. Expected layout: {layout}. '
        'Fix the data (download/convert the images, or re-encode broken ones), point data_root at the '
        'right folder, or pass skip_missing=True to drop the affected queries/gallery images '
        '(logged; changes the protocol).')


def log_dropped(name: str, what: str, dropped: Sequence, total: int, reason: str) -> None:
    """Log exactly what ``skip_missing`` removed (count + first examples)."""
    if dropped:
        MMLogger.get_current_instance().warning(
            f'{name}: skip_missing dropped {len(dropped)} of {total} {what} ({reason}); '
            f'first: {_examples(dropped)}')


def first(items: Sequence, n: Optional[int] = None) -> str:
    """The ``_examples`` formatting, exported for the loaders' own log lines."""
    return _examples(items, n or num_examples)


class ImageFileChecks:
    """Pre-flight check of every image a split needs, shared by the real-dataset loaders.

    The host dataset provides ``check_images``, ``verify_images``,
    ``allow_truncated``, ``skip_missing``, ``is_eval``, ``name``, ``data_root``
    and ``_layout_hint()``. Missing files raise one error (:func:`report_missing`)
    unless ``skip_missing``; then gallery images and the queries that need a
    missing file, or whose target was dropped from the gallery, are removed and
    logged (:func:`log_dropped`).
    """

    def _query_label(self, query: dict) -> tuple:
        return query['ref_id'], query['tgt_id']

    def _check_files(self, queries: List[dict], gallery_ids: List[str],
                     gallery_paths: List[str]) -> Tuple[List[dict], List[str], List[str]]:
        if not self.check_images:
            return queries, gallery_ids, gallery_paths
        keys = ('ref_path', ) if self.is_eval else ('ref_path', 'tgt_path')
        needed = [q[k] for q in queries for k in keys] + gallery_paths
        missing = find_missing_images(needed, self.verify_images, self.allow_truncated)
        if not missing:
            return queries, gallery_ids, gallery_paths
        if not self.skip_missing:
            report_missing(missing, name=self.name, data_root=self.data_root, layout=self._layout_hint(),
                           total=len(set(needed)))
        dropped_gallery = {g for g, p in zip(gallery_ids, gallery_paths) if p in missing}
        log_dropped(self.name, 'gallery images', [g for g in gallery_ids if g in dropped_gallery],
                    len(gallery_ids), 'image file missing/unreadable')
        kept_gallery = [(g, p) for g, p in zip(gallery_ids, gallery_paths) if g not in dropped_gallery]
        gallery_ids, gallery_paths = [g for g, _ in kept_gallery], [p for _, p in kept_gallery]
        kept, dropped = [], []
        for q in queries:
            bad = any(q[k] in missing for k in keys) or q['tgt_id'] in dropped_gallery
            (dropped if bad else kept).append(q)
        log_dropped(self.name, 'queries', [self._query_label(q) for q in dropped], len(queries),
                    'reference/target image missing or target dropped from the gallery')
        return kept, gallery_ids, gallery_paths

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
from typing import Any, Dict, Hashable, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from mmengine.logging import MMLogger

__all__ = ['load_json_list', 'read_text', 'read_name_list', 'require_keys', 'find_missing_images', 'report_missing',
           'log_dropped', 'first', 'num_examples', 'DUPLICATE_MODES', 'handle_duplicates', 'read_missing_list',
           'IMAGE_FAULTS', 'image_problem', 'decode_check']

#: what a loader does with repeated annotation entries (``duplicates=``)
DUPLICATE_MODES = ('error', 'drop', 'keep')

#: how many examples error messages and log lines show
num_examples = 5


def _examples(items: Sequence, n: int = num_examples) -> str:
    items = list(items)
    shown = ', '.join(repr(x) for x in items[:n])
    return shown + (f', ... ({len(items) - n} more)' if len(items) > n else '')


def read_text(path: str, what: str) -> str:
    """The UTF-8 text of an annotation or list file (a leading BOM is dropped).

    A file in another encoding (Latin-1, UTF-16, a spreadsheet export) raises one
    error naming the file and the byte offset of the first undecodable byte,
    instead of a bare ``UnicodeDecodeError`` from deep inside a loader.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{what}: annotation file not found: {path!r}')
    with open(path, 'rb') as f:
        data = f.read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as err:
        raise ValueError(f'{what}: {path!r} is not UTF-8 text: byte {err.start} (0x{data[err.start]:02x}) '
                         f'cannot be decoded ({err.reason}); re-save the file as UTF-8') from None
    return text[1:] if text.startswith('\ufeff') else text


def read_name_list(path: str, what: str) -> List[str]:
    """Non-empty stripped lines of a UTF-8 list file (image names, missing ASINs...)."""
    return [line.strip() for line in read_text(path, what).splitlines() if line.strip()]


def load_json(path: str, what: str) -> Any:
    """A JSON file's content; clear errors for a missing, unreadable or malformed file."""
    try:
        return json.loads(read_text(path, what))
    except json.JSONDecodeError as err:
        raise ValueError(f'{what}: {path!r} is not valid JSON: {err}') from None


def load_json_list(path: str, what: str) -> list:
    """A JSON file that must hold a list; clear errors for a missing file or bad content."""
    data = load_json(path, what)
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


def handle_duplicates(keys: Sequence[Hashable], mode: str, *, name: str, path: str,
                      what: str = 'annotation entries') -> List[int]:
    """Indices of ``keys`` to keep under ``duplicates=mode``; never silent.

    A duplicate is an entry whose key (e.g. reference, target and caption) equals
    an earlier one: left in, it becomes a second identical query that counts
    twice in recall. ``'error'`` raises naming the file, the count and the first
    duplicate; ``'drop'`` keeps each first occurrence and ``'keep'`` keeps all,
    both with a warning saying what was done.
    """
    if mode not in DUPLICATE_MODES:
        raise ValueError(f'{name}: duplicates must be one of {DUPLICATE_MODES}, got {mode!r}')
    seen: Dict[Hashable, int] = {}
    repeats: List[Tuple[int, int]] = []
    for i, key in enumerate(keys):
        if key in seen:
            repeats.append((i, seen[key]))
        else:
            seen[key] = i
    if not repeats:
        return list(range(len(keys)))
    i, j = repeats[0]
    desc = (f'{len(repeats)} duplicated {what} in {path!r}; the first is entry {i}, a repeat of entry {j} '
            f'({keys[i]!r})')
    if mode == 'error':
        raise ValueError(f'{name}: {desc}. Remove the repeats, or set duplicates=\'drop\' (keep each first '
                         "occurrence) or duplicates='keep' (each copy becomes a query and counts in recall)")
    if mode == 'drop':
        MMLogger.get_current_instance().warning(f'{name}: {desc}; duplicates=\'drop\': dropped {len(repeats)}, '
                                                'each first occurrence kept')
        dropped = {k for k, _ in repeats}
        return [k for k in range(len(keys)) if k not in dropped]
    MMLogger.get_current_instance().warning(f'{name}: {desc}; duplicates=\'keep\': all {len(repeats)} repeats kept '
                                            '(each is a separate query and counts in recall)')
    return list(range(len(keys)))


def read_missing_list(path: str, what: str) -> Set[str]:
    """Names of a fetcher's missing-file list (``<name>`` or ``<name> <reason>`` per line)."""
    return {line.split()[0] for line in read_name_list(path, what)}


#: reasons :func:`image_problem` gives (besides ``'missing'``)
IMAGE_FAULTS = ('zero-byte', 'not an image', 'truncated/corrupt')


def image_problem(path: str, allow_truncated: bool = False) -> Optional[str]:
    """``None`` if ``path`` decodes as an image, else why not (one of :data:`IMAGE_FAULTS`).

    ``verify()`` checks the structure, then a fresh ``load()`` decodes every
    pixel: ``verify`` alone accepts a JPEG cut in its scan data. An HTML error
    page saved under an image name (what dead download links return) is
    ``'not an image'``.
    """
    from PIL import Image, ImageFile, UnidentifiedImageError
    if os.path.getsize(path) == 0:
        return 'zero-byte'
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = allow_truncated
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.load()
    except UnidentifiedImageError:
        return 'not an image'
    except (OSError, SyntaxError, ValueError):  # PIL raises all three for broken files
        return 'truncated/corrupt'
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return None


def decode_check(paths: Sequence[str], allow_truncated: bool = False, workers: int = 8,
                 progress: bool = False) -> Dict[str, str]:
    """``{path: fault}`` for the files of ``paths`` that do not decode, checked by
    ``workers`` threads (Pillow releases the GIL while decoding), with an
    mmengine progress bar if ``progress``."""
    from concurrent.futures import ThreadPoolExecutor
    bar = None
    if progress and paths:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(paths))
    faults: Dict[str, str] = {}
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for path, fault in zip(paths, pool.map(lambda p: image_problem(p, allow_truncated), paths)):
            if fault is not None:
                faults[path] = fault
            if bar is not None:
                bar.update()
    if bar is not None:
        print()
    return faults


def find_missing_images(paths: Iterable[str], verify: bool = False, allow_truncated: bool = False,
                        workers: int = 8, progress: bool = False) -> Dict[str, str]:
    """``{path: reason}`` for every path that does not exist (``'missing'``) or,
    with ``verify``, does not decode (a fault of :data:`IMAGE_FAULTS`).

    Existence is checked by listing each parent folder once (fast on folders
    with tens of thousands of files, and on network file systems); ``verify``
    additionally decodes every existing file in parallel (:func:`decode_check`;
    one full decode each).
    """
    by_dir: Dict[str, List[str]] = defaultdict(list)
    for p in dict.fromkeys(paths):  # unique, order kept
        by_dir[os.path.dirname(p)].append(p)
    missing: Dict[str, str] = {}
    present_files: List[str] = []
    for folder, files in by_dir.items():
        try:
            present: Set[str] = set(os.listdir(folder or '.'))
        except (FileNotFoundError, NotADirectoryError):
            present = set()
        for p in files:
            if os.path.basename(p) not in present or not os.path.isfile(p):
                missing[p] = 'missing'
            else:
                present_files.append(p)
    if verify:
        missing.update(decode_check(present_files, allow_truncated, workers, progress))
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
        kinds = ', '.join(f'{n} {k}' for k in IMAGE_FAULTS
                          for n in [sum(1 for r in missing.values() if r == k)] if n)
        parts.append(f'{n_bad} unreadable ({kinds})')
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
    ``allow_truncated``, ``skip_missing``, ``is_eval``, ``name``, ``data_root``,
    ``query_source`` (the annotation file(s), for messages) and
    ``_layout_hint()``. Missing files raise one error (:func:`report_missing`)
    unless ``skip_missing``; then gallery images and the queries that need a
    missing file, or all of whose targets were dropped from the gallery, are
    removed and logged (:func:`log_dropped`, plus one line with both counts).

    ``skip_missing`` may also be the path (relative to ``data_root`` unless
    absolute) of a list of names (the fetcher's ``missing.txt``: ``<name>`` or
    ``<name>\t<reason>`` per line, file stem or basename): then only
    those files may be absent, and any other missing file is still an error.
    """

    def _query_label(self, query: dict) -> tuple:
        return query['ref_id'], query['tgt_id']

    def _tolerated(self, missing: Mapping[str, str]) -> Dict[str, str]:
        """The part of ``missing`` that ``skip_missing`` lets the loader drop (all, or the listed names)."""
        if not isinstance(self.skip_missing, str):
            return dict(missing) if self.skip_missing else {}
        path = self.skip_missing if os.path.isabs(self.skip_missing) else \
            os.path.join(self.data_root, self.skip_missing)
        names = read_missing_list(path, f'{self.name} skip_missing list')
        return {p: r for p, r in missing.items()
                if os.path.basename(p) in names or os.path.splitext(os.path.basename(p))[0] in names}

    def _check_files(self, queries: List[dict], gallery_ids: List[str],
                     gallery_paths: List[str]) -> Tuple[List[dict], List[str], List[str]]:
        if not self.check_images:
            return queries, gallery_ids, gallery_paths
        keys = ('ref_path', ) if self.is_eval else ('ref_path', 'tgt_path')
        needed = [q[k] for q in queries for k in keys] + gallery_paths
        missing = find_missing_images(needed, self.verify_images, self.allow_truncated)
        if not missing:
            return queries, gallery_ids, gallery_paths
        tolerated = self._tolerated(missing)
        if len(tolerated) < len(missing):
            report_missing({p: r for p, r in missing.items() if p not in tolerated}, name=self.name,
                           data_root=self.data_root, layout=self._layout_hint(), total=len(set(needed)))
        dropped_gallery = {g for g, p in zip(gallery_ids, gallery_paths) if p in missing}
        log_dropped(self.name, 'gallery images', [g for g in gallery_ids if g in dropped_gallery],
                    len(gallery_ids), 'image file missing/unreadable')
        kept_gallery = [(g, p) for g, p in zip(gallery_ids, gallery_paths) if g not in dropped_gallery]
        n_gallery = len(gallery_ids)
        gallery_ids, gallery_paths = [g for g, _ in kept_gallery], [p for _, p in kept_gallery]
        kept, dropped = [], []
        for q in queries:
            targets = q.get('tgt_ids', (q['tgt_id'], ))
            bad = any(q[k] in missing for k in keys) or all(t in dropped_gallery for t in targets)
            (dropped if bad else kept).append(q)
        log_dropped(self.name, 'queries', [self._query_label(q) for q in dropped], len(queries),
                    'reference/target image missing or target dropped from the gallery')
        MMLogger.get_current_instance().warning(
            f'{self.name}: skip_missing: {len(missing)} image file(s) missing/unreadable; this protocol lost '
            f'{len(dropped)} of {len(queries)} queries' +
            (f' and {n_gallery - len(gallery_ids)} of {n_gallery} gallery images' if self.is_eval else ''))
        if queries and not kept:
            raise ValueError(f'{self.name}: no queries left in {self.query_source} after skip_missing dropped '
                             f'all {len(queries)} (their {len(missing)} image file(s) are missing/unreadable, '
                             f'first: {_examples(list(missing))}); check data_root {self.data_root!r}')
        if self.is_eval and n_gallery and not gallery_ids:
            raise ValueError(f'{self.name}: no gallery images left after skip_missing dropped all {n_gallery}')
        return kept, gallery_ids, gallery_paths

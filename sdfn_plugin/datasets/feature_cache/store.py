"""On-disk format of one feature cache, its atomic writing and its validation.

Layout of ``<feature_cache.dir>/<key digest>/``::

    tokens.npy     (N, T, C) ImageFeatures.tokens, one row per image (sorted absolute paths)
    pooled.npy     (N, C)    ImageFeatures.pooled
    manifest.json  key, paths, image (size, mtime_ns) at build time, shapes, sha256 of both
                   arrays, and the sha256 of the manifest itself; written last

A cache is written into a temporary sibling folder and renamed into place only once the
manifest is on disk, so an interrupted build never looks complete; a folder whose manifest
is missing, unparsable or fails a checksum is rebuilt.
"""
import hashlib
import json
import os
import shutil
import uuid
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from sdfn_plugin.structures import ImageFeatures

from .key import CacheKey, canonical_json, sha256_text

TOKENS, POOLED, MANIFEST = 'tokens.npy', 'pooled.npy', 'manifest.json'
_ARRAYS = (TOKENS, POOLED)


def file_stat(path: str) -> Optional[List[int]]:
    """``[size, mtime_ns]`` of a file, ``None`` when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 22), b''):
            digest.update(block)
    return digest.hexdigest()


def store_dir(root: str, key: CacheKey) -> str:
    return os.path.join(root, key.digest[:32])


def _manifest_checksum(body: dict) -> str:
    return sha256_text(canonical_json({k: v for k, v in body.items() if k != 'checksum'}))


def read_manifest(folder: str) -> dict:
    """The manifest of a cache folder; ``ValueError`` with the reason if it is not intact."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        raise ValueError(f'no {MANIFEST} (interrupted or partial write)')
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f'{MANIFEST} is not valid JSON ({err})') from None
    if not isinstance(manifest, dict) or manifest.get('checksum') != _manifest_checksum(manifest):
        raise ValueError(f'{MANIFEST} checksum mismatch')
    return manifest


def check_store(folder: str, key: CacheKey, verify_images: bool = True) -> Tuple[Optional[str], int]:
    """``(reason the cache cannot be used or None, number of images no longer on disk)``.

    Images that still exist must have the size and mtime recorded at build time; missing
    ones are fine (their features are what the cache is for).
    """
    if not os.path.isdir(folder):
        return 'not built yet', 0
    try:
        manifest = read_manifest(folder)
    except ValueError as err:
        return str(err), 0
    if manifest.get('key') != key.to_dict():
        return 'key differs from the manifest', 0
    for name in _ARRAYS:
        path, expected = os.path.join(folder, name), manifest['files'][name]
        if file_stat(path) is None or os.path.getsize(path) != expected['bytes']:
            return f'{name} is missing or truncated', 0
        if file_sha256(path) != expected['sha256']:
            return f'{name} checksum mismatch', 0
    missing = 0
    if verify_images:
        for path, recorded in zip(manifest['paths'], manifest['stats']):
            now = file_stat(path)
            if now is None:
                missing += 1
            elif now != recorded:
                return f'image {path!r} changed since the cache was built (size/mtime)', 0
    return None, missing


def write_store(root: str, key: CacheKey, paths: Sequence[str],
                batches: Iterable[Tuple[torch.Tensor, torch.Tensor]], dtype: np.dtype) -> str:
    """Write the features ``batches`` yields (``(tokens, pooled)`` for consecutive ``paths``)
    into ``store_dir(root, key)`` atomically; returns that folder."""
    os.makedirs(root, exist_ok=True)
    final = store_dir(root, key)
    tmp = os.path.join(root, f'.tmp-{os.path.basename(final)}-{os.getpid()}-{uuid.uuid4().hex[:8]}')
    os.makedirs(tmp)
    try:
        # stat before reading: an image rewritten during the build is seen as changed next time
        stats = [file_stat(p) for p in paths]
        shapes = _stream_arrays(tmp, batches, len(paths), dtype)
        manifest = {'key': key.to_dict(), 'digest': key.digest, 'paths': list(paths), 'stats': stats,
                    'shapes': shapes, 'dtype': np.dtype(dtype).name,
                    'files': {n: {'bytes': os.path.getsize(os.path.join(tmp, n)),
                                  'sha256': file_sha256(os.path.join(tmp, n))} for n in _ARRAYS}}
        manifest['checksum'] = _manifest_checksum(manifest)
        with open(os.path.join(tmp, MANIFEST), 'w') as f:
            json.dump(manifest, f)
            f.flush()
            os.fsync(f.fileno())
        _replace_dir(tmp, final, key)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _stream_arrays(folder: str, batches: Iterable[Tuple[torch.Tensor, torch.Tensor]], n: int,
                   dtype: np.dtype) -> Dict[str, List[int]]:
    """Write batches straight into memory-mapped ``.npy`` files (the cache may not fit in RAM)."""
    tokens = pooled = None
    row = 0
    for tok, pool in batches:
        if tokens is None:
            tokens = np.lib.format.open_memmap(os.path.join(folder, TOKENS), 'w+', dtype, (n, ) + tuple(tok.shape[1:]))
            pooled = np.lib.format.open_memmap(os.path.join(folder, POOLED), 'w+', dtype, (n, ) + tuple(pool.shape[1:]))
        b = tok.shape[0]
        tokens[row:row + b] = tok.detach().cpu().float().numpy()
        pooled[row:row + b] = pool.detach().cpu().float().numpy()
        row += b
    if tokens is None or row != n:
        raise RuntimeError(f'feature cache: the encoder produced {row} feature rows for {n} images')
    shapes = {TOKENS: list(tokens.shape), POOLED: list(pooled.shape)}
    tokens.flush()
    pooled.flush()
    del tokens, pooled
    return shapes


def _replace_dir(tmp: str, final: str, key: CacheKey) -> None:
    if os.path.isdir(final):
        # a stale/corrupt copy: move it aside first so that ``final`` is never half-deleted
        trash = f'{tmp}.old'
        os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:
        # another process finished the same cache first; keep it if it is intact
        if check_store(final, key, verify_images=False)[0] is not None:
            raise


class FeatureStore:
    """Read access to a built cache: memory-mapped arrays and a path -> row index.

    Opened lazily and re-opened after pickling, so dataloader workers (forked or
    spawned) each map the files themselves.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._rows: Optional[Dict[str, int]] = None
        self._tokens = self._pooled = None

    def _open(self) -> None:
        manifest = read_manifest(self.folder)
        self._rows = {p: i for i, p in enumerate(manifest['paths'])}
        self._tokens = np.load(os.path.join(self.folder, TOKENS), mmap_mode='r')
        self._pooled = np.load(os.path.join(self.folder, POOLED), mmap_mode='r')

    def __getstate__(self) -> dict:
        return {'folder': self.folder, '_rows': None, '_tokens': None, '_pooled': None}

    def __len__(self) -> int:
        if self._rows is None:
            self._open()
        return len(self._rows)

    def row(self, path: str) -> int:
        if self._rows is None:
            self._open()
        try:
            return self._rows[path]
        except KeyError:
            raise KeyError(f'feature cache {self.folder!r} has no features for image {path!r}') from None

    def features(self, path: str) -> ImageFeatures:
        """Unbatched features of one image: tokens ``(T, C)``, pooled ``(C,)``, stored dtype."""
        i = self.row(path)
        return ImageFeatures(tokens=torch.from_numpy(np.array(self._tokens[i])),
                             pooled=torch.from_numpy(np.array(self._pooled[i])))

"""A gallery index: embeddings, their keys and the model that produced them.

One object serves evaluation (the retriever installs one before each
evaluation), inference (built from a folder of images, saved, loaded) and
export. The embeddings are stored as the scorer consumes them
(``scorer.prepare_gallery`` applied, e.g. L2-normalised for cosine scoring), so
a search is one blocked product plus a top-k.

Search backends:

* ``'torch'``: the exact blocked top-k of :func:`~sdfn_plugin.evaluation.topk.chunked_topk`
  (any scorer; query-dependent scorers such as ARTEMIS are called on gallery chunks);
* ``'faiss'``: a faiss index owned by this object, built on first search and
  rebuilt after :meth:`GalleryIndex.add` (inner-product scorers only). Exact
  (``IndexFlatIP``) unless ``approximate`` asks for IVF or HNSW, which trade
  recall for speed on galleries of many millions of items (recall against exact
  search: ``benchmarks/index_speed.py``).

On disk (:meth:`GalleryIndex.save`) a folder holds ``embeddings.npy`` (read with
``allow_pickle=False``) and ``index.json`` (keys, fingerprint, dtype, shape and
the sha256 of the ``.npy``); nothing in it can execute code.
"""
import json
import os
import os.path as osp
import shutil
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from sdfn_plugin.datasets.feature_cache.store import file_sha256
from sdfn_plugin.evaluation.faiss_backend import FaissGallery
from sdfn_plugin.evaluation.topk import check_exclude, check_retrieval_backend, chunked_topk
from sdfn_plugin.structures import QueryBatch

from ..scorers.base import BaseScorer, DotScorer
from .fingerprint import fingerprint_differences

__all__ = ['GalleryIndex', 'GalleryIndexError', 'IndexFormatError', 'FingerprintMismatchError',
           'DuplicateKeyError', 'INDEX_DTYPES', 'INDEX_FORMAT_VERSION']

INDEX_DTYPES = {'float32': torch.float32, 'float16': torch.float16}
INDEX_FORMAT_VERSION = 1
EMBEDDINGS_FILE, META_FILE = 'embeddings.npy', 'index.json'
_FORMAT_NAME = 'sdfn_plugin.GalleryIndex'
ExcludeArg = Optional[Union[Tensor, Sequence[int]]]


_DOT = DotScorer()  # the plain inner product of searches without a model scorer


class GalleryIndexError(ValueError):
    """Base of the gallery-index errors."""


class IndexFormatError(GalleryIndexError):
    """A partial, corrupt or unknown index folder."""


class FingerprintMismatchError(GalleryIndexError):
    """The index was built by another model; ``parts`` names what differs."""

    def __init__(self, message: str, parts: Sequence[str]) -> None:
        super().__init__(message)
        self.parts = list(parts)


class DuplicateKeyError(GalleryIndexError):
    """A key given twice (each gallery item has one key)."""


def _check_dtype(dtype: str) -> torch.dtype:
    if dtype not in INDEX_DTYPES:
        raise ValueError(f'GalleryIndex dtype must be one of {tuple(INDEX_DTYPES)}, got {dtype!r}')
    return INDEX_DTYPES[dtype]


def _check_keys(keys: Sequence[str], count: int, known: Dict[str, int]) -> List[str]:
    keys = list(keys)
    if len(keys) != count:
        raise ValueError(f'GalleryIndex: {count} embeddings but {len(keys)} keys; give one key per row')
    for i, key in enumerate(keys):
        if not isinstance(key, str):
            raise TypeError(f'GalleryIndex keys must be str, got {type(key).__name__} at position {i}: {key!r}')
    seen = dict(known)
    for i, key in enumerate(keys):
        if key in seen:
            where = 'already in the index' if key in known else f'also at position {seen[key]}'
            raise DuplicateKeyError(f'GalleryIndex: duplicate key {key!r} at position {i} ({where}); '
                                    'every gallery item needs its own key')
        seen[key] = i
    return keys


class GalleryIndex:
    """Gallery embeddings with one key per item and the producing model's fingerprint.

    Args:
        embeddings: ``(N, D)`` embeddings, already prepared by the scorer
            (``scorer.prepare_gallery``); kept on their device.
        keys: one unique string per row (an image path or a dataset id).
        fingerprint: :func:`~sdfn_plugin.models.retrievers.fingerprint.gallery_fingerprint`
            of the model (``None``: unknown producer; :meth:`load` then cannot check it).
        dtype: storage dtype, ``'float32'`` or ``'float16'`` (half the memory and
            disk; scores are then computed in float16 on the torch path).
        backend: ``'torch'`` or ``'faiss'`` (see the module docstring).
        approximate: faiss only: ``dict(type='ivf', nlist=..., nprobe=...)`` or
            ``dict(type='hnsw', m=..., ef_search=...)``; ``None`` = exact search.
        gallery_chunk: gallery items scored at once on the torch path (``None``: automatic).
        skipped: keys of items that could not be encoded (kept for the record).
    """

    def __init__(self, embeddings: Tensor, keys: Sequence[str], fingerprint: Optional[Dict[str, Any]] = None,
                 dtype: str = 'float32', backend: str = 'torch', approximate: Optional[dict] = None,
                 gallery_chunk: Optional[int] = None, skipped: Sequence[str] = ()) -> None:
        if not isinstance(embeddings, Tensor) or embeddings.dim() != 2:
            shape = tuple(embeddings.shape) if isinstance(embeddings, Tensor) else type(embeddings).__name__
            raise ValueError(f'GalleryIndex embeddings must be a 2-D (N, D) tensor, got {shape}')
        check_retrieval_backend(backend, _DOT)
        if approximate is not None and backend != 'faiss':
            raise ValueError("GalleryIndex approximate search needs backend='faiss'")
        self.dtype = dtype
        self.embeddings = embeddings.detach().to(_check_dtype(dtype))
        self.keys = _check_keys(keys, embeddings.shape[0], {})
        self._positions = {key: i for i, key in enumerate(self.keys)}
        self.fingerprint = fingerprint
        self.backend = backend
        self.approximate = dict(approximate) if approximate is not None else None
        self.gallery_chunk = gallery_chunk
        self.skipped = list(skipped)
        self._faiss: Optional[FaissGallery] = None  # built on first faiss search, dropped by add()

    # ------------------------------------------------------------------ contents
    def __len__(self) -> int:
        return self.embeddings.shape[0]

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({len(self)} x {self.dim} {self.dtype}, backend={self.backend!r}'
                + (f', approximate={self.approximate}' if self.approximate else '') + ')')

    def lookup(self, keys: Sequence[str], missing: int = -1) -> Tensor:
        """Row of each key (``missing`` for keys not in the index), as a long tensor."""
        return torch.tensor([self._positions.get(k, missing) for k in keys], dtype=torch.long)

    def to(self, device: Union[str, torch.device]) -> 'GalleryIndex':
        """Move the embeddings (in place; returns ``self``)."""
        self.embeddings = self.embeddings.to(device)
        return self

    def add(self, embeddings: Tensor, keys: Sequence[str]) -> None:
        """Append items (prepared like the existing ones); a key already present is an error."""
        if not isinstance(embeddings, Tensor) or embeddings.dim() != 2 or embeddings.shape[1] != self.dim:
            shape = tuple(embeddings.shape) if isinstance(embeddings, Tensor) else type(embeddings).__name__
            raise ValueError(f'GalleryIndex.add: embeddings must be (M, {self.dim}), got {shape}')
        keys = _check_keys(keys, embeddings.shape[0], self._positions)
        new = embeddings.detach().to(self.embeddings.device, self.embeddings.dtype)
        self.embeddings = torch.cat([self.embeddings, new])
        for key in keys:
            self._positions[key] = len(self.keys)
            self.keys.append(key)
        self._faiss = None

    @classmethod
    def merge(cls, parts: Sequence['GalleryIndex'], **kwargs) -> 'GalleryIndex':
        """One index holding ``parts`` in order (same fingerprint, dim and dtype; disjoint keys)."""
        if not parts:
            raise ValueError('GalleryIndex.merge needs at least one index')
        first = parts[0]
        for i, part in enumerate(parts[1:], 1):
            if part.fingerprint != first.fingerprint:
                diff = fingerprint_differences(first.fingerprint or {}, part.fingerprint or {})
                raise FingerprintMismatchError(f'GalleryIndex.merge: part {i} was built by another model '
                                               f'(differs in {diff}) than part 0', diff)
            if (part.dim, part.dtype) != (first.dim, first.dtype):
                raise ValueError(f'GalleryIndex.merge: part {i} is {part.dim}-d {part.dtype}, part 0 is '
                                 f'{first.dim}-d {first.dtype}')
        kwargs.setdefault('dtype', first.dtype)
        kwargs.setdefault('backend', first.backend)
        return cls(torch.cat([p.embeddings.cpu() for p in parts]), [k for p in parts for k in p.keys],
                   first.fingerprint, skipped=[k for p in parts for k in p.skipped], **kwargs)

    # ------------------------------------------------------------------ search
    @torch.no_grad()
    def search(self, queries: Union[Tensor, QueryBatch], k: int, exclude: ExcludeArg = None,
               scorer: Optional[BaseScorer] = None) -> Tuple[Tensor, Tensor]:
        """Top-``min(k, N)`` items per query: ``(scores, indices)``, both ``(Q, min(k, N))``, best first.

        Args:
            queries: ``(Q, D)`` query embeddings or a :class:`QueryBatch`, already
                prepared by the scorer (``scorer.prepare_query``).
            k: results per query (``>= 1``).
            exclude: ``(Q,)`` row per query to leave out (``-1``: none), e.g. the
                reference image's row from :meth:`lookup`. Excluded rows score
                ``-inf`` and only appear, last, when ``k >= N``.
            scorer: the model's scorer; ``None`` = plain inner product. Query-dependent
                scorers (``inner_product = False``) need ``backend='torch'``.

        Scores are float32 (float16 storage scores in float16 on the torch path).
        The contract (ties, exclusion) is :func:`~sdfn_plugin.evaluation.topk.chunked_topk`'s.
        """
        query = queries if isinstance(queries, QueryBatch) else QueryBatch(queries)
        scorer = scorer if scorer is not None else _DOT
        check_retrieval_backend(self.backend, scorer)
        if query.query.dim() != 2 or query.query.shape[1] != self.dim:
            raise ValueError(f'GalleryIndex.search: queries must be (Q, {self.dim}), got {tuple(query.query.shape)}')
        device = query.query.device
        if self.backend == 'faiss':
            if exclude is not None:
                exclude = check_exclude(exclude, query.query.shape[0], len(self), device)
            values, indices = self._faiss_index().search(query.query, k, exclude)
            return values.to(device, torch.float32), indices.to(device)
        gallery = self.embeddings.to(device)
        if scorer.inner_product and query.query.dtype != gallery.dtype:
            # score in the storage dtype: converting a float16 gallery to float32 would copy all of it per call
            query = QueryBatch(query.query.to(gallery.dtype), query.aux)
        values, indices = chunked_topk(query, gallery, scorer, k, exclude, self.gallery_chunk)
        return values.float(), indices

    @torch.no_grad()
    def score_rows(self, queries: Union[Tensor, QueryBatch], rows: Tensor,
                   scorer: Optional[BaseScorer] = None) -> Tensor:
        """Exact scores of chosen gallery rows, per query: ``scores[i, j]`` = score of query ``i`` and
        row ``rows[i, j]`` (CIRR's Recall_subset ranks the five other members of each query's image set).

        Whatever the search backend, the stored embeddings are scored through ``scorer`` (``None``: the
        inner product), so the result never depends on an approximate index or on a top-k cut-off.

        Args:
            queries: ``(Q, D)`` embeddings or a :class:`QueryBatch`, prepared by the scorer.
            rows: ``(Q, S)`` integer tensor of gallery rows; ``-1`` pads rows of queries with fewer
                items and scores ``-inf``.
            scorer: the model's scorer; query-dependent scorers are called once per query on its rows.

        Returns:
            ``(Q, S)`` float32 scores on the queries' device.
        """
        query = queries if isinstance(queries, QueryBatch) else QueryBatch(queries)
        scorer = scorer if scorer is not None else _DOT
        rows = torch.as_tensor(rows)
        num_queries = query.query.shape[0]
        if rows.dim() != 2 or rows.shape[0] != num_queries or rows.dtype.is_floating_point:
            raise ValueError(f'GalleryIndex.score_rows: rows must be an integer ({num_queries}, S) tensor, got '
                             f'{rows.dtype} of shape {tuple(rows.shape)}')
        if query.query.dim() != 2 or query.query.shape[1] != self.dim:
            raise ValueError(f'GalleryIndex.score_rows: queries must be (Q, {self.dim}), got '
                             f'{tuple(query.query.shape)}')
        bad = (rows < -1) | (rows >= len(self))
        if bad.any():
            raise IndexError(f'GalleryIndex.score_rows: row {int(rows[bad][0])} outside the gallery of '
                             f'{len(self)} items')
        device = query.query.device
        rows = rows.to(device, torch.long)
        valid = rows >= 0
        picked = self.embeddings.to(device)[rows.clamp(min=0)]  # (Q, S, D)
        if scorer.inner_product:
            scores = torch.einsum('qd,qsd->qs', query.query.float(), picked.float())  # float16 storage: float32 sums
        else:
            scores = torch.stack([scorer(query.slice(i, i + 1), picked[i]).reshape(-1).float()
                                  for i in range(num_queries)]) if num_queries else picked.new_empty(0, rows.shape[1])
        return scores.masked_fill(~valid, float('-inf'))

    def _faiss_index(self) -> FaissGallery:
        if self._faiss is None:
            self._faiss = FaissGallery(self.embeddings, approximate=self.approximate)
        return self._faiss

    # ------------------------------------------------------------------ disk
    def save(self, directory: str) -> None:
        """Write ``embeddings.npy`` + ``index.json`` to ``directory`` atomically (replacing it).

        The files are written to a temporary sibling folder that is renamed into
        place, so ``directory`` never holds a half-written index (a crash leaves a
        ``.<name>.tmp-*`` sibling behind instead)."""
        directory = osp.abspath(directory)
        parent = osp.dirname(directory)
        os.makedirs(parent, exist_ok=True)
        tmp = osp.join(parent, f'.{osp.basename(directory)}.tmp-{uuid.uuid4().hex[:8]}')
        os.makedirs(tmp)
        try:
            array = self.embeddings.detach().cpu().contiguous().numpy()
            npy = osp.join(tmp, EMBEDDINGS_FILE)
            with open(npy, 'wb') as f:
                np.save(f, array, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            prefix = osp.commonprefix(self.keys) if len(self.keys) > 1 else ''
            meta = {'format': _FORMAT_NAME, 'format_version': INDEX_FORMAT_VERSION, 'count': len(self),
                    'dim': self.dim, 'dtype': self.dtype, 'sha256': file_sha256(npy),
                    'fingerprint': self.fingerprint, 'skipped': self.skipped,
                    # keys share long folder prefixes: storing it once keeps the JSON small next to the npy
                    'key_prefix': prefix, 'keys': [k[len(prefix):] for k in self.keys]}
            with open(osp.join(tmp, META_FILE), 'w', encoding='utf-8') as f:
                json.dump(meta, f, separators=(',', ':'))
                f.flush()
                os.fsync(f.fileno())
            old = None
            if osp.lexists(directory):
                old = osp.join(parent, f'.{osp.basename(directory)}.old-{uuid.uuid4().hex[:8]}')
                os.rename(directory, old)
            os.rename(tmp, directory)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, directory: str, expected_fingerprint: Optional[Dict[str, Any]] = None, verify: bool = True,
             map_location: Union[str, torch.device] = 'cpu', **kwargs) -> 'GalleryIndex':
        """Read an index folder written by :meth:`save`.

        Args:
            directory: the folder.
            expected_fingerprint: the fingerprint of the model that will search the
                index; a difference raises :class:`FingerprintMismatchError` naming the parts.
            verify: check the sha256 of ``embeddings.npy`` against ``index.json``.
            map_location: device of the embeddings.
            **kwargs: ``backend``, ``approximate``, ``gallery_chunk`` of the new object.

        Raises:
            IndexFormatError: missing file, unreadable JSON, wrong format, count,
                shape, dtype or checksum (the message names the file).
            FingerprintMismatchError: see ``expected_fingerprint``.
        """
        if not osp.isdir(directory):
            raise IndexFormatError(f'gallery index folder not found: {directory!r}')
        meta_path, npy_path = osp.join(directory, META_FILE), osp.join(directory, EMBEDDINGS_FILE)
        for path in (meta_path, npy_path):
            if not osp.isfile(path):
                raise IndexFormatError(f'gallery index {directory!r} is incomplete: {osp.basename(path)} is missing '
                                       '(interrupted build? rebuild it with tools/build_index.py)')
        try:
            with open(meta_path, encoding='utf-8') as f:
                meta = json.load(f)
        except (ValueError, UnicodeDecodeError) as err:
            raise IndexFormatError(f'gallery index file {meta_path!r} is not valid JSON: {err}') from None
        if not isinstance(meta, dict) or meta.get('format') != _FORMAT_NAME:
            raise IndexFormatError(f'{meta_path!r} is not a {_FORMAT_NAME} file')
        if meta.get('format_version') != INDEX_FORMAT_VERSION:
            raise IndexFormatError(f'{meta_path!r} has format_version {meta.get("format_version")!r}; this version '
                                   f'reads {INDEX_FORMAT_VERSION}: rebuild the index')
        missing = [f for f in ('count', 'dim', 'dtype', 'sha256', 'keys', 'key_prefix') if f not in meta]
        if missing:
            raise IndexFormatError(f'{meta_path!r} lacks the field(s) {missing}')
        if verify and file_sha256(npy_path) != meta['sha256']:
            raise IndexFormatError(f'{npy_path!r} does not match the sha256 recorded in {META_FILE} '
                                   '(corrupt or replaced file): rebuild the index')
        try:
            array = np.load(npy_path, allow_pickle=False)
        except ValueError as err:
            raise IndexFormatError(f'cannot read {npy_path!r}: {err}') from None
        expected_shape = (meta['count'], meta['dim'])
        if array.shape != expected_shape or str(array.dtype) != meta['dtype']:
            raise IndexFormatError(f'{npy_path!r} holds a {array.shape} {array.dtype} array, {META_FILE} says '
                                   f'{expected_shape} {meta["dtype"]}')
        if len(meta['keys']) != meta['count']:
            raise IndexFormatError(f'{meta_path!r} lists {len(meta["keys"])} keys for {meta["count"]} embeddings')
        fingerprint = meta.get('fingerprint')
        if expected_fingerprint is not None:
            if fingerprint is None:
                raise FingerprintMismatchError(f'gallery index {directory!r} records no model fingerprint; it cannot '
                                               'be checked against this model: rebuild it', ['version'])
            diff = fingerprint_differences(expected_fingerprint, fingerprint)
            if diff:
                raise FingerprintMismatchError(
                    f'gallery index {directory!r} was built by another model: it differs in {", ".join(diff)} '
                    '(gallery_branch: encoder/target-head/scorer config; weights: checkpoint; preprocessor: '
                    'mean/std; transform: image pipeline); rebuild it with this config and checkpoint', diff)
        prefix = meta['key_prefix']
        return cls(torch.from_numpy(array).to(map_location), [prefix + k for k in meta['keys']], fingerprint,
                   dtype=meta['dtype'], skipped=meta.get('skipped', ()), **kwargs)


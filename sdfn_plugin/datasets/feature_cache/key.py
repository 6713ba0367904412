"""What identifies a feature cache: encoder, weights, image transform, image list, storage dtype.

Images are identified by (absolute path, dataset ids) in the key; their file size and
modification time are recorded in the manifest and checked when a cache is reused (see
:mod:`.store`). Content hashes are not used: hashing every image costs as much I/O as
decoding it, which is what the cache avoids, and is impossible once the images are gone
(training on cached features must not need them).
"""
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Mapping, Sequence

import torch
from torch import nn

#: Bump when the on-disk layout or the meaning of stored features changes.
FORMAT_VERSION = 1


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys; tuples as lists; anything else by ``repr``)."""
    return json.dumps(value, sort_keys=True, separators=(',', ':'), default=repr)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def _hash_tensors(named: Sequence) -> str:
    digest = hashlib.sha256()
    for name, tensor in named:
        t = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f'{name}|{t.dtype}|{tuple(tensor.shape)}|'.encode())
        # raw bytes of any dtype (bfloat16 has no numpy equivalent)
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b'')
    return digest.hexdigest()


def weights_checksum(module: nn.Module) -> str:
    """sha256 over every ``state_dict`` tensor (names, dtypes, shapes, bytes), in order.

    Includes BatchNorm running statistics, which change features as much as weights do."""
    return _hash_tensors(list(module.state_dict().items()))


def describe_preprocessor(module: nn.Module) -> Dict[str, Any]:
    """Type and all buffers (normalisation mean/std are non-persistent, so not in ``state_dict``)."""
    return {'type': f'{type(module).__module__}.{type(module).__qualname__}',
            'buffers': _hash_tensors(list(module.named_buffers()))}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def describe_transform(transform: Callable) -> Dict[str, Any]:
    """Class and constructor state of a transform, without its ``keys`` (the same
    transform applied to a reference, a target or a gallery image gives one feature)."""
    state = {k: _plain(v) for k, v in sorted(vars(transform).items())
             if k != 'keys' and not k.startswith('_')} if hasattr(transform, '__dict__') else {}
    return {'type': f'{type(transform).__module__}.{type(transform).__qualname__}', 'state': state}


def normalize_path(path: str) -> str:
    return os.path.abspath(os.path.normpath(path))


def image_list_digest(paths: Sequence[str], ids: Mapping[str, Sequence[str]]) -> str:
    """sha256 of the sorted ``(path, sorted ids)`` list."""
    return sha256_text(canonical_json([[p, sorted(set(ids.get(p, ())))] for p in paths]))


@dataclass(frozen=True)
class CacheKey:
    """Every input the cached features depend on; :attr:`digest` names the cache folder."""

    encoder: Dict[str, Any]      # encoder class and its config dict
    weights: str                 # :func:`weights_checksum` of the encoder
    preprocessor: Dict[str, Any]  # :func:`describe_preprocessor` (normalisation)
    transform: List[Dict[str, Any]]  # :func:`describe_transform` of each image transform, in order
    images: str                  # :func:`image_list_digest`
    dtype: str                   # storage dtype
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> Dict[str, Any]:
        return _plain(asdict(self))

    @property
    def digest(self) -> str:
        return sha256_text(canonical_json(self.to_dict()))


def encoder_description(encoder: nn.Module, encoder_cfg: Mapping) -> Dict[str, Any]:
    return {'type': f'{type(encoder).__module__}.{type(encoder).__qualname__}', 'cfg': _plain(encoder_cfg)}


def build_key(encoder: nn.Module, encoder_cfg: Mapping, preprocessor: nn.Module,
              transform: List[Dict[str, Any]], paths: Sequence[str], ids: Mapping[str, Sequence[str]],
              dtype: str) -> CacheKey:
    return CacheKey(encoder=encoder_description(encoder, encoder_cfg), weights=weights_checksum(encoder),
                    preprocessor=describe_preprocessor(preprocessor), transform=list(transform),
                    images=image_list_digest(paths, ids), dtype=dtype)

"""The ``model.feature_cache`` switch, validated where the config enters."""
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

_DTYPES = {'float32': np.float32, 'float16': np.float16}


@dataclass(frozen=True)
class FeatureCacheConfig:
    """Where and how the features of a frozen image tower are stored.

    Args:
        dir: root folder; each distinct cache key gets its own sub-folder, so
            several encoders, transforms and datasets can share one root.
        dtype: ``'float32'`` (features bit-identical to the live tower) or
            ``'float16'`` (half the disk and read bandwidth; ~1e-3 relative error).
    """

    dir: str
    dtype: str = 'float32'

    @classmethod
    def from_dict(cls, cfg: Optional[Mapping]) -> Optional['FeatureCacheConfig']:
        if cfg is None:
            return None
        if not isinstance(cfg, Mapping):
            raise TypeError(f"model.feature_cache must be a dict like dict(dir='work_dirs/feature_cache', "
                            f"dtype='float16'), got {type(cfg).__name__}")
        unknown = sorted(set(cfg) - {'dir', 'dtype'})
        if unknown:
            raise ValueError(f'model.feature_cache has unknown keys {unknown}; expected dir and dtype')
        folder = cfg.get('dir')
        if not isinstance(folder, str) or not folder.strip():
            raise ValueError(f'model.feature_cache.dir must be a non-empty folder path, got {folder!r}')
        dtype = cfg.get('dtype', 'float32')
        if dtype not in _DTYPES:
            raise ValueError(f'model.feature_cache.dtype must be one of {sorted(_DTYPES)}, got {dtype!r}')
        return cls(dir=folder, dtype=dtype)

    @property
    def numpy_dtype(self) -> type:
        return _DTYPES[self.dtype]

"""Disk cache of frozen image-tower features (see docs/feature_cache.md).

``builder`` and ``pipeline`` are imported by their module paths: they depend on the
transforms package, which itself reads caches through ``store``.
"""
from .config import FeatureCacheConfig
from .key import CacheKey, build_key, describe_transform, normalize_path, weights_checksum
from .store import FeatureStore, check_store, store_dir, write_store

__all__ = ['FeatureCacheConfig', 'CacheKey', 'build_key', 'describe_transform', 'normalize_path',
           'weights_checksum', 'FeatureStore', 'check_store', 'store_dir', 'write_store']

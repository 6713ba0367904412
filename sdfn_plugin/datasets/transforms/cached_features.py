"""Loading precomputed image-tower features instead of images."""
from typing import Sequence

from sdfn_plugin.registry import TRANSFORMS

from ..feature_cache.key import normalize_path
from ..feature_cache.store import FeatureStore
from .loading import image_path


@TRANSFORMS.register_module()
class LoadCachedFeatures:
    """Puts the cached :class:`~sdfn_plugin.structures.ImageFeatures` of
    ``results[f'{key}_path']`` into ``results[key]`` (unbatched: tokens ``(T, C)``,
    pooled ``(C,)``), where an image pipeline would put the image.

    :class:`~sdfn_plugin.engine.hooks.FeatureCacheHook` builds the cache and puts this
    transform in place of a pipeline's image transforms; ``store_dir`` is one cache
    folder (named by its key), so configs normally do not list it themselves.

    Args:
        store_dir: a built cache folder (see :mod:`sdfn_plugin.datasets.feature_cache.store`).
        keys: image roles to load: ``'ref'``/``'tgt'`` for queries, ``'img'`` for gallery items.
    """

    def __init__(self, store_dir: str, keys: Sequence[str] = ('ref', 'tgt')) -> None:
        self.store = FeatureStore(store_dir)
        self.keys = tuple(keys)

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            results[key] = self.store.features(normalize_path(image_path(results, key, 'LoadCachedFeatures')))
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(store_dir={self.store.folder!r}, keys={self.keys})'

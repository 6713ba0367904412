from .feature_cache_hook import FeatureCacheHook
from .optimizer_state_hook import LoadOptimizerStateHook
from .path_memory_hook import PathMemoryHook
from .prepare_gallery_hook import PrepareGalleryHook, encode_gallery
from .reseed_hook import EpochReseedHook

__all__ = ['FeatureCacheHook', 'LoadOptimizerStateHook', 'PathMemoryHook', 'PrepareGalleryHook', 'encode_gallery', 'EpochReseedHook']

from .path_memory_hook import PathMemoryHook
from .prepare_gallery_hook import PrepareGalleryHook, encode_gallery
from .reseed_hook import EpochReseedHook

__all__ = ['PathMemoryHook', 'PrepareGalleryHook', 'encode_gallery', 'EpochReseedHook']

from .prepare_gallery_hook import PrepareGalleryHook, encode_gallery
from .reseed_hook import EpochReseedHook

__all__ = ['PrepareGalleryHook', 'encode_gallery', 'EpochReseedHook']

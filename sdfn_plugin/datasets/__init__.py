from .base_cir_dataset import BaseCIRDataset, CIRGalleryDataset
from .css_dataset import CSSDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['BaseCIRDataset', 'CIRGalleryDataset', 'CSSDataset']

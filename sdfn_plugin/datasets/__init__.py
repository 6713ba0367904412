from .base_cir_dataset import BaseCIRDataset, CIRGalleryDataset
from .circo import CIRCODataset
from .cirr import CIRRDataset
from .css_dataset import CSSDataset
from .fashion200k import Fashion200kDataset
from .fashioniq import FashionIQDataset
from .image_list import EmptyImageFolderError, ImageDecodeError, ImageListDataset
from .shoes import ShoesDataset
from .triplets import CIRTripletDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['BaseCIRDataset', 'CIRGalleryDataset', 'CIRCODataset', 'CIRRDataset', 'CSSDataset', 'FashionIQDataset',
           'ShoesDataset', 'Fashion200kDataset', 'ImageListDataset', 'EmptyImageFolderError', 'ImageDecodeError', 'CIRTripletDataset']

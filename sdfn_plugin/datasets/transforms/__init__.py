from .cached_features import LoadCachedFeatures
from .formatting import PackCIRInputs
from .geometric import CenterCropImages, RandomCropImages, RandomFlipImages, ResizeImages
from .loading import LoadCIRImages, read_image

__all__ = ['PackCIRInputs', 'CenterCropImages', 'RandomCropImages', 'RandomFlipImages', 'ResizeImages',
           'LoadCIRImages', 'read_image', 'LoadCachedFeatures']

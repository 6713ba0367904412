from .base import MapImageEncoder
from .open_clip_visual import OpenCLIPVisual
from .small_cnn import SmallCNN
from .timm_encoder import TimmEncoder
from .torchvision_resnet import TorchvisionResNet
from .tower import ImageTower

__all__ = ['ImageTower', 'MapImageEncoder', 'OpenCLIPVisual', 'SmallCNN', 'TimmEncoder', 'TorchvisionResNet']

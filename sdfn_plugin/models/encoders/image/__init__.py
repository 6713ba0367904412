from .base import MapImageEncoder
from .small_cnn import SmallCNN
from .torchvision_resnet import TorchvisionResNet

__all__ = ['MapImageEncoder', 'SmallCNN', 'TorchvisionResNet']

from .image import ImageTower, MapImageEncoder, OpenCLIPVisual, SmallCNN, TimmEncoder, TorchvisionResNet
from .text import HFTextEncoder, LSTMTextEncoder, OpenCLIPText, TextTower, Vocabulary, tokenize

__all__ = ['ImageTower', 'MapImageEncoder', 'OpenCLIPVisual', 'SmallCNN', 'TimmEncoder', 'TorchvisionResNet',
           'HFTextEncoder', 'LSTMTextEncoder', 'OpenCLIPText', 'TextTower', 'Vocabulary', 'tokenize']

from .image import MapImageEncoder, SmallCNN, TorchvisionResNet
from .text import LSTMTextEncoder, Vocabulary, tokenize

__all__ = ['MapImageEncoder', 'SmallCNN', 'TorchvisionResNet', 'LSTMTextEncoder', 'Vocabulary', 'tokenize']

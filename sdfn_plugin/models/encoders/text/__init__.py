from .glove import load_glove
from .lstm import LSTMTextEncoder, build_vocabulary
from .vocabulary import Vocabulary, tokenize

__all__ = ['load_glove', 'LSTMTextEncoder', 'build_vocabulary', 'Vocabulary', 'tokenize']

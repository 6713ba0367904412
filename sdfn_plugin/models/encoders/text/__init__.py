from .glove import load_glove
from .hf_text import HFTextEncoder
from .lstm import LSTMTextEncoder, build_vocabulary
from .open_clip_text import OpenCLIPText
from .tower import TextTower
from .vocabulary import Vocabulary, tokenize

__all__ = ['load_glove', 'HFTextEncoder', 'LSTMTextEncoder', 'build_vocabulary', 'OpenCLIPText', 'TextTower',
           'Vocabulary', 'tokenize']

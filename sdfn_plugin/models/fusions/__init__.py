from .base import BaseFusion
from .baselines import Concat, ImageOnly, TextOnly
from .sdfn import SDFN
from .tirg import TIRG

__all__ = ['BaseFusion', 'Concat', 'ImageOnly', 'TextOnly', 'SDFN', 'TIRG']

from .base import BaseFusion
from .baselines import Concat, ImageOnly, TextOnly
from .tirg import TIRG

__all__ = ['BaseFusion', 'Concat', 'ImageOnly', 'TextOnly', 'TIRG']

from .amc import AMC, AMCRouter
from .artemis import ARTEMIS
from .base import BaseFusion
from .baselines import Concat, ImageOnly, TextOnly
from .combiner import Combiner
from .film import FiLM
from .sdfn import SDFN
from .tirg import TIRG
from .zeroshot import ZeroShotSum

__all__ = ['AMC', 'AMCRouter', 'ARTEMIS', 'BaseFusion', 'Combiner', 'Concat', 'FiLM', 'ImageOnly', 'TextOnly', 'SDFN',
           'TIRG', 'ZeroShotSum']

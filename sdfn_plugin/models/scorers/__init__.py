from .artemis import ARTEMISScorer
from .base import BaseScorer, CosineScorer, DotScorer

__all__ = ['ARTEMISScorer', 'BaseScorer', 'CosineScorer', 'DotScorer']

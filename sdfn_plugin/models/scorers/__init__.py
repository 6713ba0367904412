from .base import BaseScorer, CosineScorer, DotScorer

__all__ = ['BaseScorer', 'CosineScorer', 'DotScorer']

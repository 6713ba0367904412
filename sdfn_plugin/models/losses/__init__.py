from .base import BaseCIRLoss
from .batch_classification import BatchClassificationLoss, gather_with_grad

__all__ = ['BaseCIRLoss', 'BatchClassificationLoss', 'gather_with_grad']

from .base import BaseCIRLoss
from .batch_classification import BatchClassificationLoss, gather_with_grad
from .consistency import GramConsistencyLoss
from .path_memory import PathMemory
from .spd import SelfPathDistillationLoss

__all__ = ['BaseCIRLoss', 'BatchClassificationLoss', 'gather_with_grad', 'GramConsistencyLoss', 'PathMemory',
           'SelfPathDistillationLoss']

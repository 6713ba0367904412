from .metrics import RecallAtK
from .topk import chunked_topk

__all__ = ['RecallAtK', 'chunked_topk']

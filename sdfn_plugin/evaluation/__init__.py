from .metrics import RecallAtK
from .submissions import SubmissionError, SubmissionMetric
from .topk import chunked_topk

__all__ = ['RecallAtK', 'chunked_topk', 'SubmissionError', 'SubmissionMetric']

from .circo import CIRCOmAP
from .cirr import CIRRRecall
from .rankings import DumpRankings
from .recall import RecallAtK

__all__ = ['RecallAtK', 'DumpRankings', 'CIRRRecall', 'CIRCOmAP']

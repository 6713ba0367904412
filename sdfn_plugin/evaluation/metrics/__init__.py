from .circo import CIRCOmAP
from .rankings import DumpRankings
from .recall import RecallAtK

__all__ = ['RecallAtK', 'DumpRankings', 'CIRCOmAP']

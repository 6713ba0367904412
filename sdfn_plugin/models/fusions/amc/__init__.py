"""AMC (Zhu et al., ACM TOMM 2023): sigmoid-gated router and the two-layer dynamic network.

The three cells are SDFN's RCM/JRM/GTM modules (the same operations as AMC's Rescell/GlobalCell/StyleCell)."""
from .network import AMC, AMCLayer, AUX_LAST_INPUT, CELL_NAMES
from .router import AMCRouter

__all__ = ['AMC', 'AMCLayer', 'AMCRouter', 'AUX_LAST_INPUT', 'CELL_NAMES']

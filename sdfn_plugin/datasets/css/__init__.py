"""Deterministic CSS-style synthetic benchmark for composed image retrieval.

In the spirit of the CSS dataset of TIRG (Vo et al., CVPR 2019): scenes of
1-5 objects (shape x colour x size) on a 3x3 grid, queries
``(reference image, modification text, target image)`` of kinds add / remove /
change, and held-out (colour, shape) combinations that are only modified in
the test split.  See :mod:`.sampling` for the exact split rules,
:mod:`.annotations` for the file format and :mod:`.generator` for caching.
"""
from .annotations import load_css_annotations
from .config import CSSGenerationConfig
from .generator import ensure_css

__all__ = ['ensure_css', 'CSSGenerationConfig', 'load_css_annotations']

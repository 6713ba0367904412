"""Inference API: build trained models and retrieve with them (mmpretrain's ``apis`` layout).

* :func:`list_models` / :func:`get_model`: shipped config names; a ready eval-mode model from a config
  and a checkpoint alone (the text vocabulary comes from the checkpoint);
* :class:`CIRInferencer`: (reference image, modification text) queries against a gallery folder,
  image list or saved index, with grid pictures of the rankings.
"""
from .inferencer import CIRInferencer
from .model import get_model, list_models

__all__ = ['CIRInferencer', 'get_model', 'list_models']

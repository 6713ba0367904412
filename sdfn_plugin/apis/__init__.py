"""Inference API: build trained models and retrieve with them (mmpretrain's ``apis`` layout).

* :func:`list_models` / :func:`get_model`: shipped config names; a ready eval-mode model from a config
  and a checkpoint alone (the text vocabulary comes from the checkpoint).
"""
from .model import get_model, list_models

__all__ = ['get_model', 'list_models']

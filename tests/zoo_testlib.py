"""Test helpers for the comparison-zoo methods (FiLM, Combiner, ARTEMIS, AMC).

A module with a unique name (not conftest) so test files can import it unambiguously."""
import os.path as osp
from typing import Dict, Tuple

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from sdfn_plugin.registry import DATASETS, MODELS
from sdfn_plugin.structures import ImageFeatures, TextFeatures

from cir_testlib import CONFIGS, TINY


def features(batch: int = 3, num_tokens: int = 2, image_dim: int = 4, text_dim: int = 4, seed: int = 0,
             dtype: torch.dtype = torch.float64) -> Tuple[ImageFeatures, TextFeatures]:
    """Random region tokens (pooled = their mean) and sentence features."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, num_tokens, image_dim, generator=g, dtype=dtype)
    s = torch.randn(batch, text_dim, generator=g, dtype=dtype)
    img = ImageFeatures(tokens=x, pooled=x.mean(dim=1))
    txt = TextFeatures(tokens=s.unsqueeze(1), mask=torch.ones(batch, 1, dtype=torch.bool), pooled=s)
    return img, txt


def tiny_css_config(name: str, css_root: str) -> Config:
    """A shipped config whose datasets and vocabulary point at the tiny benchmark."""
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    data = dict(data_root=css_root, **TINY)
    cfg.model.text_encoder.vocab_dataset = dict(type='CSSDataset', split='train', **data)
    cfg.train_dataloader.dataset.update(data)
    cfg.val_dataloader.dataset.update(data)
    cfg.test_dataloader = cfg.val_dataloader
    return cfg


def train_one_iteration(name: str, css_root: str, batch: int = 4) -> Tuple[torch.nn.Module, Dict[str, torch.Tensor]]:
    """Build the config's model and optimiser and run one ``train_step`` on real tiny-benchmark samples."""
    cfg = tiny_css_config(name, css_root)
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):  # the dataset pipeline's transforms
        model = MODELS.build(cfg.model)
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    before = {k: v.detach().clone() for k, v in model.fusion.state_dict().items()}
    losses = model.train_step(pseudo_collate([dataset[i] for i in range(batch)]), optim)
    changed = any(not torch.equal(before[k], v) for k, v in model.fusion.state_dict().items())
    assert changed, f'{name}: one optimiser step left every fusion parameter unchanged'
    return model, losses


def build_offline(name: str, css_root: str) -> Tuple[torch.nn.Module, Config]:
    """A real-dataset config's model built offline: random CNN weights, no GloVe, tiny-benchmark vocabulary."""
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    cfg.model.image_encoder.weights = None
    if 'glove_file' in cfg.model.text_encoder:
        cfg.model.text_encoder.glove_file = None
    cfg.model.text_encoder.vocab_dataset = dict(type='CSSDataset', data_root=css_root, split='train', **TINY)
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        return MODELS.build(cfg.model), cfg

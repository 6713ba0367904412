"""Any timm model as a region/patch-token image encoder."""
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from sdfn_plugin.registry import MODELS

from ..weights import load_weights
from .tower import ImageTower

_POOLING = ('head', 'mean')


@MODELS.register_module()
class TimmEncoder(ImageTower):
    """A ``timm`` model by name (Wightman, pytorch-image-models), classifier removed.

    * ``tokens``: the last feature map of ``forward_features`` flattened row-major
      (CNNs; NHWC maps such as Swin's are permuted first), or the patch tokens of
      a transformer with its class/register tokens (``num_prefix_tokens``) dropped.
    * ``pooled``: ``'head'`` = ``forward_head(features, pre_logits=True)``, the
      model's own global pooling (average pool, class token, head norm...);
      ``'mean'`` = the mean of the tokens (TIRG's GAP). The two coincide on
      ResNets.

    Weights through timm's own mechanism (``pretrained=True``, from the Hugging
    Face hub / the local cache; ``pretrained_cfg_overlay=dict(file='/path.pth')``
    for a local file), or ``checkpoint='/path'`` (a state dict of the same
    architecture; classifier keys ignored). With neither the model is randomly
    initialised and builds offline.

    Args:
        model_name: any name of ``timm.list_models()``, e.g. ``'resnet50'``.
        pretrained: load timm's pretrained weights.
        pretrained_cfg_overlay: timm's overrides of the pretrained config
            (``file=``, ``hf_hub_id=``...); needs ``pretrained=True``.
        checkpoint: local weight file (``.pth`` or ``.safetensors``).
        model_args: extra ``timm.create_model`` arguments of the architecture,
            e.g. ``dict(img_size=64)`` for a ViT at 64 px.
        out_dim: Linear adapter width (= a 1x1 conv on maps); ``None``: native.
        pooling: ``'head'`` or ``'mean'``.
        frozen: freeze the whole backbone (eval mode kept under ``train()``).
        frozen_stages: freeze everything up to and including feature level
            ``frozen_stages`` of timm's ``feature_info`` (ResNets: 0 = stem,
            1 = stem + layer1 as in torchvision/mmdet; ViTs: patch embedding and
            blocks ``0..frozen_stages``); frozen stages keep BatchNorm statistics.
            -1: none.
        frozen_bn: freeze all BatchNorm layers (affine and statistics).
    """
    # initial weights only: reset by sdfn_plugin.apis.get_model when a checkpoint restores the model
    INIT_WEIGHT_ARGS = {'pretrained': False, 'pretrained_cfg_overlay': None, 'checkpoint': None}

    def __init__(self, model_name: str, pretrained: bool = False, pretrained_cfg_overlay: Optional[dict] = None,
                 checkpoint: Optional[str] = None, model_args: Optional[dict] = None,
                 out_dim: Optional[int] = None, pooling: str = 'head', frozen: bool = False,
                 frozen_stages: int = -1, frozen_bn: bool = False) -> None:
        import timm
        if pooling not in _POOLING:
            raise ValueError(f'TimmEncoder.pooling must be one of {_POOLING}, got {pooling!r}')
        if pretrained and checkpoint is not None:
            raise ValueError('TimmEncoder: give either pretrained=True (timm weights) or checkpoint (file), not both')
        if pretrained_cfg_overlay is not None and not pretrained:
            raise ValueError('TimmEncoder.pretrained_cfg_overlay needs pretrained=True')
        if frozen and frozen_stages != -1:
            raise ValueError('TimmEncoder: frozen=True already freezes every stage; leave frozen_stages at -1')
        if not timm.is_model(model_name):
            raise ValueError(f'TimmEncoder.model_name {model_name!r} is not a timm model (see timm.list_models())')
        net = timm.create_model(model_name, pretrained=pretrained, num_classes=0,
                                pretrained_cfg_overlay=pretrained_cfg_overlay, **dict(model_args or {}))
        if checkpoint is not None:
            head = net.pretrained_cfg.get('classifier') or ()
            head = (head, ) if isinstance(head, str) else tuple(head)
            load_weights(net, checkpoint, 'TimmEncoder', ignore_prefixes=tuple(h + '.' for h in head))
        width = net.num_features
        if pooling == 'head' and getattr(net, 'head_hidden_size', width) != width:
            raise ValueError(f'TimmEncoder: {model_name} pools to {net.head_hidden_size} channels but its tokens '
                             f'have {width}; use pooling=\'mean\'')
        super().__init__(native_dim=width, out_dim=out_dim, frozen=frozen, frozen_bn=frozen_bn)
        self.model_name = model_name
        self.backbone = net
        self.pooling = pooling
        self.frozen_stages = frozen_stages
        self._stage_modules = self._modules_up_to_stage(frozen_stages)
        self.apply_freezing()

    def _modules_up_to_stage(self, stage: int) -> List[str]:
        """Names of the backbone modules registered up to the end of feature level ``stage``."""
        levels = [info['module'] for info in getattr(self.backbone, 'feature_info', None) or []]
        if not -1 <= stage < len(levels):
            raise ValueError(f'TimmEncoder.frozen_stages must be in [-1, {len(levels) - 1}] for {self.model_name} '
                             f'(feature levels {levels}), got {stage}')
        if stage < 0:
            return []
        names = [name for name, _ in self.backbone.named_modules()]
        last = levels[stage]
        cutoff = max(i for i, n in enumerate(names) if n == last or n.startswith(last + '.'))
        return names[:cutoff + 1]

    def _stage_lookup(self) -> Dict[str, nn.Module]:
        return dict(self.backbone.named_modules())

    def frozen_modules(self) -> List[nn.Module]:
        if self.frozen:
            return [self.backbone]
        # leaves only: a container (or the root) also holds later, trainable stages
        lookup = self._stage_lookup()
        return [lookup[n] for n in self._stage_modules if next(lookup[n].children(), None) is None]

    def apply_freezing(self) -> None:
        super().apply_freezing()
        lookup = self._stage_lookup()
        # parameters owned directly by containers before the cutoff (a ViT's cls_token and pos_embed)
        for name in self._stage_modules:
            for p in lookup[name].parameters(recurse=False):
                p.requires_grad_(False)

    def forward_native(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        feats = self.backbone.forward_features(images)
        if feats.ndim == 4:
            grid = feats if getattr(self.backbone, 'output_fmt', 'NCHW') == 'NCHW' else feats.permute(0, 3, 1, 2)
            tokens = grid.flatten(2).transpose(1, 2)
        elif feats.ndim == 3:
            tokens = feats[:, getattr(self.backbone, 'num_prefix_tokens', 0):]
        else:
            raise RuntimeError(f'TimmEncoder: {self.model_name}.forward_features returned shape {tuple(feats.shape)}, '
                               'expected a (B, C, H, W) map or (B, N, C) tokens')
        pooled = tokens.mean(dim=1) if self.pooling == 'mean' else self.backbone.forward_head(feats, pre_logits=True)
        return tokens, pooled

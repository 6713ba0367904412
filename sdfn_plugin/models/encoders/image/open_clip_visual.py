"""The image tower of an open_clip CLIP model (ResNet or ViT) as a token encoder."""
from typing import Optional, Tuple

import torch

from sdfn_plugin.registry import MODELS

from ..open_clip_loader import create_open_clip_tower
from .tower import ImageTower


@MODELS.register_module()
class OpenCLIPVisual(ImageTower):
    """CLIP image tower (Radford et al., "Learning Transferable Visual Models From
    Natural Language Supervision", ICML 2021) from ``open_clip`` (Ilharco et al.).

    ``pooled`` is the CLIP image embedding (what ``model.encode_image`` returns).
    ``tokens`` live in the same embedding space:

    * ViT (e.g. ``'ViT-B-32'``): the patch tokens after ``ln_post``, multiplied by
      the same projection as the class token (open_clip's ``output_tokens``
      returns them unprojected; we project so tokens and pooled share a width).
    * ResNet (e.g. ``'RN50'``): each position of the last map (plus its positional
      embedding) through the attention pool's value and output projections, the
      dense CLIP features of MaskCLIP (Zhou et al., ECCV 2022). The pooled
      embedding is an attention-weighted mix of exactly these values.

    Args:
        model_name: an open_clip config name (``open_clip.list_models()``).
        pretrained: open_clip tag (downloaded by open_clip on first use) or a local
            weight file; ``None`` = random init (offline).
        image_size: build for this input size instead of the config's (224);
            positional embeddings are sized accordingly.
        out_dim: Linear adapter width; ``None`` keeps the CLIP embedding width.
        frozen: freeze the tower (the usual regime for CLIP features).
        frozen_bn: freeze BatchNorm layers (ResNet towers).
    """

    def __init__(self, model_name: str = 'ViT-B-32', pretrained: Optional[str] = None,
                 image_size: Optional[int] = None, out_dim: Optional[int] = None, frozen: bool = False,
                 frozen_bn: bool = False) -> None:
        from open_clip.modified_resnet import ModifiedResNet
        from open_clip.transformer import VisionTransformer
        visual = create_open_clip_tower('OpenCLIPVisual', model_name, pretrained, 'visual', image_size)
        if isinstance(visual, ModifiedResNet):
            kind = 'resnet'
        elif isinstance(visual, VisionTransformer) and visual.attn_pool is None and visual.proj is not None:
            kind = 'vit'
            visual.output_tokens = True  # forward returns (pooled, tokens)
        else:
            raise ValueError(f'OpenCLIPVisual.model_name {model_name!r}: its image tower ({type(visual).__name__}) '
                             'is not a CLIP ResNet or a projected ViT; use TimmEncoder for timm-based towers')
        super().__init__(native_dim=int(visual.output_dim), out_dim=out_dim, frozen=frozen, frozen_bn=frozen_bn)
        self.model_name = model_name
        self.kind = kind
        self.backbone = visual
        self.apply_freezing()

    def forward_native(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        net = self.backbone
        if self.kind == 'vit':
            pooled, tokens = net(images)
            return tokens @ net.proj, pooled
        x = net.stem(images)
        x = net.layer4(net.layer3(net.layer2(net.layer1(x))))
        pooled = net.attnpool(x)
        pool = net.attnpool
        flat = x.flatten(2).transpose(1, 2) + pool.positional_embedding[1:].to(x.dtype)
        return pool.c_proj(pool.v_proj(flat)), pooled

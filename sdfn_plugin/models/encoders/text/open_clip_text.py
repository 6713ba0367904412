"""The text tower of an open_clip CLIP model as a text encoder."""
from typing import List, Optional, Tuple

import torch
from torch import nn

from sdfn_plugin.registry import MODELS

from ..open_clip_loader import create_open_clip_tower
from .tower import TextTower


@MODELS.register_module()
class OpenCLIPText(TextTower):
    """CLIP text transformer (Radford et al., ICML 2021) from ``open_clip``, with its own BPE tokenizer.

    Same computation as open_clip's ``CLIP.encode_text``, keeping every position:
    token embedding + positional embedding -> causal transformer -> ``ln_final``
    -> text projection. ``tokens`` are all projected positions, ``mask`` marks
    positions up to and including the end-of-text token, ``pooled`` is the
    end-of-text feature (the CLIP text embedding).

    Deviation: ``max_length`` may be shorter than the model's context (77): texts
    are tokenised to that length (the end-of-text token kept last) and the
    positional embeddings and causal mask are sliced. Under a causal mask the
    features of positions ``< max_length`` do not depend on later ones, so this
    equals the full-context result for texts that fit.

    Args:
        model_name: an open_clip config name with a built-in text tower
            (e.g. ``'RN50'``, ``'ViT-B-32'``).
        pretrained: open_clip tag or local weight file; ``None`` = random init.
        max_length: tokens per text (<= the model's context length).
        out_dim: Linear adapter width; ``None`` keeps the CLIP embedding width.
        frozen: freeze the tower.
    """

    def __init__(self, model_name: str = 'ViT-B-32', pretrained: Optional[str] = None, max_length: int = 77,
                 out_dim: Optional[int] = None, frozen: bool = False) -> None:
        import open_clip
        # a CLIP model (pretrained) or a TextTransformer (random init): same attribute names
        clip = create_open_clip_tower('OpenCLIPText', model_name, pretrained, 'text')
        pool_type = getattr(clip, 'text_pool_type', getattr(clip, 'pool_type', None))
        if (not hasattr(clip, 'token_embedding') or pool_type != 'argmax'
                or getattr(clip, 'cls_emb', None) is not None):
            raise ValueError(f'OpenCLIPText.model_name {model_name!r} has no built-in CLIP text transformer '
                             'with end-of-text pooling (hf-text towers: use HFTextEncoder)')
        context = clip.context_length
        if isinstance(max_length, bool) or not isinstance(max_length, int) or not 2 <= max_length <= context:
            raise ValueError(f'OpenCLIPText.max_length must be an int in [2, {context}], got {max_length!r}')
        proj = clip.text_projection
        native = proj.out_features if isinstance(proj, nn.Linear) else proj.shape[1]
        super().__init__(native_dim=int(native), out_dim=out_dim, frozen=frozen)
        tower = nn.Module()
        tower.token_embedding = clip.token_embedding
        tower.positional_embedding = clip.positional_embedding
        tower.transformer = clip.transformer
        tower.ln_final = clip.ln_final
        tower.text_projection = proj
        self.backbone = tower
        self.register_buffer('attn_mask', clip.attn_mask[:max_length, :max_length].clone(), persistent=False)
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.model_name = model_name
        self.max_length = max_length
        self.apply_freezing()

    def forward_native(self, texts: List[str]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        net = self.backbone
        ids = self.tokenizer(texts, context_length=self.max_length).to(self.attn_mask.device)
        x = net.token_embedding(ids) + net.positional_embedding[:self.max_length]
        x = net.ln_final(net.transformer(x, attn_mask=self.attn_mask))
        proj = net.text_projection
        tokens = proj(x) if isinstance(proj, nn.Linear) else x @ proj
        # the end-of-text token has the largest id of the vocabulary (open_clip's 'argmax' pooling)
        eot = ids.argmax(dim=-1)
        pooled = tokens[torch.arange(len(texts), device=ids.device), eot]
        mask = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0) <= eot.unsqueeze(1)
        return tokens, mask, pooled

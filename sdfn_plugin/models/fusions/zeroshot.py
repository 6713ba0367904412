"""Training-free composition of CLIP-style features."""
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import FusionOutput, ImageFeatures, TextFeatures

from .base import BaseFusion


@MODELS.register_module()
class ZeroShotSum(BaseFusion):
    """``q = x / ||x|| + w * t / ||t||`` on pooled image and text features, no trainable parameters.

    The "image + text" feature-sum baseline used with CLIP features in composed
    retrieval (e.g. Baldrati et al., "Conditioned and composed image retrieval
    combining and partially fine-tuning CLIP-based features", CVPR 2022
    Workshops). It is meaningful only when both encoders embed into one space
    (the two towers of one CLIP model), hence ``image_dim == text_dim ==
    embed_dim``. Evaluate it without a checkpoint:
    ``tools/test.py CONFIG --no-checkpoint``.

    Args:
        image_dim, text_dim, embed_dim: the shared embedding width.
        text_weight: ``w``, weight of the normalised text feature (1 = plain sum).
    """

    def __init__(self, image_dim: int = 512, text_dim: int = 512, embed_dim: int = 512,
                 text_weight: float = 1.0) -> None:
        super().__init__(image_dim, text_dim, embed_dim)
        if not image_dim == text_dim == embed_dim:
            raise ValueError('ZeroShotSum needs image_dim == text_dim == embed_dim (features of one joint space), '
                             f'got {image_dim}, {text_dim}, {embed_dim}')
        if isinstance(text_weight, bool) or not isinstance(text_weight, (int, float)) or text_weight < 0:
            raise ValueError(f'ZeroShotSum.text_weight must be a number >= 0, got {text_weight!r}')
        self.text_weight = float(text_weight)

    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        query = nn.functional.normalize(img.pooled, dim=-1) + \
            self.text_weight * nn.functional.normalize(txt.pooled, dim=-1)
        return FusionOutput(query=query)

"""ARTEMIS: the query side of the Explicit Matching + Implicit Similarity score.

Delmas et al., "ARTEMIS: Attention-based Retrieval with Text-Explicit Matching
and Implicit Similarity", ICLR 2022 (official code ``naver/artemis``
``artemis_model.py``). ARTEMIS has no single composed query vector: its score
(:class:`~sdfn_plugin.models.scorers.ARTEMISScorer`) re-weights each target by
text-derived attention. This block computes everything that depends on the
query only, once per query:

    m = normalize(phi_t),  r = normalize(phi_x)       # the official encoders end with l2norm
    T(m)    = normalize(Linear(m))                     # query (Transform_m)
    A_EM(m) = softmax(Linear(ReLU(Linear(m))))         # softmax over the D channels
    A_IS(m) = softmax(Linear(ReLU(Linear(m))))
    normalize(A_IS(m) * r)                             # the IS reference term

Deviation: the official model has one ``embed_dim`` for image and text; here
``text_dim`` may differ from ``embed_dim`` (the first Linear of each text branch
maps ``text_dim -> embed_dim``), while the image side must already be
``embed_dim`` (the attention multiplies it channel-wise).
"""
import torch.nn.functional as F
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import FusionOutput, ImageFeatures, TextFeatures

from ..scorers.artemis import AUX_A_EM, AUX_A_IS, AUX_IS_REF
from .base import BaseFusion


def _attention(text_dim: int, embed_dim: int) -> nn.Sequential:
    """The official ``AttentionMechanism``: Linear -> ReLU -> Linear -> softmax over channels."""
    return nn.Sequential(nn.Linear(text_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim),
                         nn.Softmax(dim=-1))


@MODELS.register_module()
class ARTEMIS(BaseFusion):
    """Args:
        image_dim: pooled image feature size (= ``embed_dim``, the gallery size).
        text_dim: sentence feature size.
        embed_dim: D.

    Output: ``query = T(m)`` and ``aux`` with the keys :class:`ARTEMISScorer` reads.
    """

    def __init__(self, image_dim: int = 512, text_dim: int = 512, embed_dim: int = 512) -> None:
        super().__init__(image_dim, text_dim, embed_dim)
        if image_dim != embed_dim:
            raise ValueError(f'ARTEMIS needs embed_dim == image_dim (the attention re-weights image features '
                             f'channel-wise), got embed_dim={embed_dim}, image_dim={image_dim}')
        self.transform_m = nn.Linear(text_dim, embed_dim)
        self.attention_em = _attention(text_dim, embed_dim)
        self.attention_is = _attention(text_dim, embed_dim)

    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        m = F.normalize(txt.pooled, dim=-1)
        r = F.normalize(img.pooled, dim=-1)
        a_em, a_is = self.attention_em(m), self.attention_is(m)
        return FusionOutput(query=F.normalize(self.transform_m(m), dim=-1),
                            aux={AUX_A_EM: a_em, AUX_A_IS: a_is, AUX_IS_REF: F.normalize(a_is * r, dim=-1)})

"""ARTEMIS score: Explicit Matching + Implicit Similarity, query-dependent.

Delmas et al., "ARTEMIS: Attention-based Retrieval with Text-Explicit Matching
and Implicit Similarity", ICLR 2022, Eq. 1-3 (official code ``naver/artemis``
``artemis_model.py``, ``compute_score_broadcast_artemis``). For reference ``r``,
text ``m`` and target ``t``::

    EM(r, m, t) = < T(m), normalize(A_EM(m) * t) >
    IS(r, m, t) = < normalize(A_IS(m) * r), normalize(A_IS(m) * t) >
    s = EM + IS

The text-derived attention re-weights every gallery vector differently for
each query, so there is no single query vector and the score is not an inner
product (``inner_product = False``: matrix-product-only backends such as
faiss must refuse it). The fusion (:class:`~sdfn_plugin.models.fusions.ARTEMIS`)
computes the query-side tensors and puts them in ``QueryBatch.aux``; this scorer
has no parameters and scores a gallery chunk ``(G, D)`` without building the
``(Bq, G, D)`` tensor of the official broadcast version, using
``<u, normalize(a * t)> = ((u * a) @ t^T) / sqrt(a^2 @ (t^2)^T)``.

Deviation: the official ``l2norm`` divides by the norm without an epsilon;
we clamp the norm at 1e-12 (as ``F.normalize`` does) so an all-zero vector
scores 0 instead of NaN.
"""
from typing import Tuple

import torch
import torch.nn.functional as F

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import QueryBatch

from .base import BaseScorer

__all__ = ['ARTEMISScorer', 'AUX_A_EM', 'AUX_A_IS', 'AUX_IS_REF', 'SCORE_VERSIONS', 'attended_cosine']

#: aux keys written by the ARTEMIS fusion: the attention vectors A_EM(m), A_IS(m)
#: and the attended, normalised reference normalize(A_IS(m) * r). ``query`` is T(m).
AUX_A_EM = 'artemis_a_em'
AUX_A_IS = 'artemis_a_is'
AUX_IS_REF = 'artemis_is_ref'
#: the paper's model and its two single-term ablations (official ``--model_version``)
SCORE_VERSIONS: Tuple[str, ...] = ('artemis', 'em-only', 'is-only')
_EPS = 1e-12


def attended_cosine(u: torch.Tensor, a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``out[i, j] = <u_i, normalize(a_i * t_j)>`` for ``u, a: (Bq, D)`` and ``t: (G, D)``."""
    num = (u * a) @ t.t()
    norm = ((a * a) @ (t * t).t()).clamp_min(0).sqrt().clamp_min(_EPS)
    return num / norm


@MODELS.register_module()
class ARTEMISScorer(BaseScorer):
    """Args:
        version: ``'artemis'`` (EM + IS), ``'em-only'`` or ``'is-only'``.
    """

    inner_product = False

    def __init__(self, version: str = 'artemis') -> None:
        super().__init__()
        if version not in SCORE_VERSIONS:
            raise ValueError(f'ARTEMISScorer.version must be one of {SCORE_VERSIONS}, got {version!r}')
        self.version = version

    def prepare_gallery(self, gallery: torch.Tensor) -> torch.Tensor:
        # the official image encoder ends with an L2 normalisation (the score is scale-invariant in t anyway)
        return F.normalize(gallery, dim=-1)

    def prepare_query(self, query: QueryBatch) -> QueryBatch:
        missing = [k for k in (AUX_A_EM, AUX_A_IS, AUX_IS_REF) if k not in query.aux]
        if missing:
            raise KeyError(f'ARTEMISScorer needs the query aux entries {missing} written by the ARTEMIS fusion; '
                           f'this fusion gave {sorted(query.aux)} (use fusion type ARTEMIS with this scorer)')
        return query

    def forward(self, query: QueryBatch, gallery: torch.Tensor) -> torch.Tensor:
        t = gallery.to(query.query.dtype)
        scores = query.query.new_zeros(query.query.shape[0], t.shape[0])
        if self.version != 'is-only':
            scores = scores + attended_cosine(query.query, query.aux[AUX_A_EM], t)
        if self.version != 'em-only':
            scores = scores + attended_cosine(query.aux[AUX_IS_REF], query.aux[AUX_A_IS], t)
        return scores

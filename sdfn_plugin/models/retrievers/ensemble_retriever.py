"""Test-time ensemble of trained retrievers (AMC's two-model ensemble).

AMC (Zhu et al., ACM TOMM 2023; ``KevinLight831/AMC`` ``test_ensemble.py``)
reports an ensemble of two trained models: each model's query and gallery
embeddings are L2-normalised and the two are concatenated, so the ensemble
score is the sum of the members' cosine similarities::

    q = [normalize(q_1); normalize(q_2)],  g = [normalize(g_1); normalize(g_2)]
    <q, g> = cos(q_1, g_1) + cos(q_2, g_2)

The concatenation only means this when every member scores by an inner
product of one query vector and one gallery vector, and the members are meant
to be interchangeable models of one embedding space size: a member with a
query-dependent scorer (``inner_product = False``, e.g. ARTEMIS) or members of
different embedding sizes are refused with a clear error.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import nn

from sdfn_plugin.cli.config_file import load_config_file
from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import CIRDataSample, QueryBatch

from ..from_checkpoint import build_from_checkpoint
from ..scorers.base import DotScorer
from .gallery_mixin import GalleryRetrieverMixin

__all__ = ['EnsembleRetriever', 'build_member']


def build_member(index: int, member: dict) -> nn.Module:
    """Build ``member['config']``'s model from ``member['checkpoint']`` (safely; strictly unless the run
    allows partial loads). As for ``get_model``, the checkpoint alone restores the model: an LSTM member's
    vocabulary comes from it, so the member's training annotations need not be on disk."""
    if not isinstance(member, dict) or set(member) != {'config', 'checkpoint'}:
        got = sorted(member) if isinstance(member, dict) else type(member).__name__
        raise ValueError(f'model.members[{index}] must be dict(config=<config file>, checkpoint=<checkpoint file>), '
                         f'got {got}')
    return build_from_checkpoint(load_config_file(member['config']), member['checkpoint'])


@MODELS.register_module()
class EnsembleRetriever(GalleryRetrieverMixin, BaseModel):
    """Args:
        members: at least two ``dict(config=..., checkpoint=...)``, each a trained
            :class:`ComposedRetriever` (for AMC: the EMA weights its checkpoints hold).
        topk, exclude_reference, gallery_chunk: as in :class:`ComposedRetriever` (``None``: automatic blocks).

    The data preprocessor is the first member's; all members must use the same
    one (their images are normalised once). Evaluation only: ``mode='loss'`` raises.
    """

    def __init__(self, members: Sequence[dict], topk: int = 50, exclude_reference: bool = True,
                 gallery_chunk: Optional[int] = None, init_cfg: Optional[dict] = None) -> None:
        if not isinstance(members, (list, tuple)) or len(members) < 2:
            raise ValueError(f'model.members must list at least two trained models, got {members!r}')
        if topk < 1:
            raise ValueError(f'model.topk must be >= 1, got {topk}')
        models = [build_member(i, m) for i, m in enumerate(members)]
        self._check_members(models, members)
        super().__init__(data_preprocessor=models[0].data_preprocessor, init_cfg=init_cfg)
        self.members = nn.ModuleList(models)
        self.scorer = DotScorer()  # inner product of concatenated unit vectors = sum of member cosines
        self.topk = topk
        self.exclude_reference = exclude_reference
        self.gallery_chunk = gallery_chunk
        self.retrieval_backend = 'torch'
        self.member_configs = [m['config'] for m in members]

    @staticmethod
    def _check_members(models: List[nn.Module], members: Sequence[dict]) -> None:
        sizes = []
        for i, model in enumerate(models):
            name = members[i]['config']
            scorer = getattr(model, 'scorer', None)
            if scorer is None or not scorer.inner_product:
                raise ValueError(f'model.members[{i}] ({name}) uses {type(scorer).__name__}, whose scores are not an '
                                 'inner product of one query and one gallery vector; concatenating normalised '
                                 'features cannot ensemble it')
            sizes.append(model.fusion.embed_dim)
            pre, first = model.data_preprocessor, models[0].data_preprocessor
            if type(pre) is not type(first) or any(not torch.equal(a, b) for a, b in
                                                   zip(pre.buffers(), first.buffers())):
                raise ValueError(f'model.members[{i}] ({name}) normalises images differently from members[0]')
        if len(set(sizes)) > 1:
            raise ValueError(f'model.members have different embedding sizes {sizes} (fusion.embed_dim); '
                             'the ensemble concatenates features of equally sized members')

    def extract_query(self, ref: torch.Tensor, texts: List[str]) -> QueryBatch:
        parts = [F.normalize(m.extract_query(ref, texts).query, dim=-1) for m in self.members]
        return QueryBatch(torch.cat(parts, dim=-1))

    def extract_gallery(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.normalize(m.extract_gallery(images), dim=-1) for m in self.members], dim=-1)

    def gallery_branch(self):
        """Every member's gallery branch (the ensemble's gallery concatenates them)."""
        modules, cfgs = {}, {'scorer': 'DotScorer over concatenated unit vectors'}
        for i, member in enumerate(self.members):
            parts, cfg = member.gallery_branch()
            modules.update({f'member{i}.{k}': v for k, v in parts.items()})
            cfgs[f'member{i}'] = cfg
        return modules, cfgs

    def forward(self, inputs: dict, data_samples: Optional[List[CIRDataSample]] = None,
                mode: str = 'tensor') -> object:
        if mode == 'loss':
            raise RuntimeError('EnsembleRetriever is evaluation-only: train each member with its own config')
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            out: Dict[str, torch.Tensor] = {'query': self.extract_query(inputs['ref'], inputs['text']).query}
            if 'tgt' in inputs:
                out['target'] = self.extract_gallery(inputs['tgt'])
            return out
        raise RuntimeError(f"Invalid mode {mode!r}: expected 'predict' or 'tensor'")

"""The model that every composition method plugs into."""
import copy
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from torch import nn

from sdfn_plugin.datasets.feature_cache.config import FeatureCacheConfig
from sdfn_plugin.evaluation.topk import check_retrieval_backend
from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import CIRDataSample, FusionOutput, ImageFeatures, QueryBatch

from ..fusions.base import BaseFusion
from ..losses.base import BaseCIRLoss
from ..scorers.base import BaseScorer
from .gallery_mixin import GalleryRetrieverMixin

ForwardResult = Union[Dict[str, torch.Tensor], List[dict], Dict[str, object]]
# images (B, 3, H, W), or the tower's features when the pipeline loaded them from a feature cache
ImageInput = Union[torch.Tensor, ImageFeatures]


@MODELS.register_module()
class ComposedRetriever(GalleryRetrieverMixin, BaseModel):
    """Composed image retrieval: ``q = fusion(E_img(ref), E_txt(text))``, gallery
    ``g = target_head(E_img(img))`` (the pooled image feature by default),
    ranked by ``scorer(q, g)``.

    ``forward(inputs, data_samples, mode)`` follows mmengine's contract:

    * ``'loss'``: ``inputs`` has ``ref``, ``tgt`` images and ``text``; returns the
      dict of every loss term (keys containing ``'loss'`` are optimised).
    * ``'predict'``: ``inputs`` has ``ref`` and ``text``; needs a gallery index
      installed by :meth:`prepare_gallery` / :meth:`set_gallery` (the
      ``PrepareGalleryHook`` does it before each evaluation); returns one dict
      per query with ``pred_topk`` (gallery indices, best first), ``pred_scores``,
      ``pred_keys``, ``gt_gallery_idx``, ``category`` and the fusion's
      ``predict_aux_keys`` (e.g. SDFN's routing ``paths``); see
      :class:`~sdfn_plugin.models.retrievers.gallery_mixin.GalleryRetrieverMixin`.
    * ``'tensor'``: returns ``{'query': ..., 'target': ...}`` embeddings.

    Args:
        image_encoder, text_encoder, fusion: configs of the three parts.
        losses: configs of the objective terms (summed by mmengine).
        target_head: optional module on the target :class:`ImageFeatures`
            returning the gallery embedding; default ``features.pooled``.
        scorer: how queries meet gallery items (cosine by default).
        topk: how many gallery indices ``predict`` returns (>= the metric's max K).
        exclude_reference: drop the reference image from its own ranking.
        gallery_chunk: gallery items scored at once in ``predict``; ``None``:
            whole gallery rows for inner-product scorers (fastest ``topk``),
            8192 items per scorer call for query-dependent scorers.
        retrieval_backend: ``'torch'`` (chunked exact top-k, any scorer) or
            ``'faiss'`` (exact inner-product index, GPU when faiss has one;
            inner-product scorers only; ``pip install faiss-cpu``).
        feature_cache: ``dict(dir=..., dtype='float32'|'float16')``: the image tower
            is frozen, so its features are computed once per image and stored
            (``FeatureCacheHook`` in ``custom_hooks`` builds the cache and makes the
            datasets load features; see docs/feature_cache.md). Needs every
            ``image_encoder`` parameter frozen; keeps the tower in eval mode.

    Wherever images are expected (``ref``, ``tgt``, ``img``), ``inputs`` may carry
    :class:`ImageFeatures` instead; the image encoder is then skipped.
    """

    def __init__(self, image_encoder: dict, text_encoder: dict, fusion: dict, losses: Sequence[dict],
                 target_head: Optional[dict] = None, scorer: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, topk: int = 50, exclude_reference: bool = True,
                 gallery_chunk: Optional[int] = None, init_cfg: Optional[dict] = None,
                 retrieval_backend: str = 'torch', feature_cache: Optional[dict] = None) -> None:
        data_preprocessor = dict(data_preprocessor or {})
        data_preprocessor.setdefault('type', 'sdfn_plugin.CIRDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if topk < 1:
            raise ValueError(f'model.topk must be >= 1, got {topk}')
        if not losses:
            raise ValueError('model.losses is empty: give at least one loss config')
        self.image_encoder = MODELS.build(image_encoder)
        self.image_encoder_cfg = copy.deepcopy(dict(image_encoder))  # part of the feature-cache key
        self.feature_cache = FeatureCacheConfig.from_dict(feature_cache)
        if self.feature_cache is not None:
            trainable = [n for n, p in self.image_encoder.named_parameters() if p.requires_grad]
            if trainable:
                raise ValueError(f'model.feature_cache needs a frozen image tower, but image_encoder parameter '
                                 f'{trainable[0]!r} is trainable ({len(trainable)} in all); freeze the whole '
                                 'image_encoder (no trainable adapter inside it) or unset model.feature_cache')
        self.text_encoder = MODELS.build(text_encoder)
        self.fusion: BaseFusion = MODELS.build(fusion)
        self.target_head = MODELS.build(target_head) if target_head else None
        self.target_head_cfg = copy.deepcopy(dict(target_head)) if target_head else None
        self.scorer: BaseScorer = MODELS.build(scorer or dict(type='CosineScorer'))
        self.scorer_cfg = copy.deepcopy(dict(scorer or dict(type='CosineScorer')))
        self.losses = nn.ModuleList([MODELS.build(cfg) for cfg in losses])
        for i, loss in enumerate(self.losses):
            if not isinstance(loss, BaseCIRLoss):
                raise TypeError(f'model.losses[{i}] is {type(loss).__name__}, expected a BaseCIRLoss')
        self._check_dims()
        self.topk = topk
        self.exclude_reference = exclude_reference
        self.gallery_chunk = gallery_chunk
        self.retrieval_backend = check_retrieval_backend(retrieval_backend, self.scorer, 'model.retrieval_backend')

    def _check_dims(self) -> None:
        pairs = [('image_encoder', getattr(self.image_encoder, 'out_dim', None), 'fusion.image_dim',
                  self.fusion.image_dim),
                 ('text_encoder', getattr(self.text_encoder, 'out_dim', None), 'fusion.text_dim',
                  self.fusion.text_dim)]
        if self.target_head is None and self.scorer.inner_product:
            pairs.append(('image_encoder (gallery embedding)', getattr(self.image_encoder, 'out_dim', None),
                          'fusion.embed_dim', self.fusion.embed_dim))
        for enc_name, enc_dim, fus_name, fus_dim in pairs:
            if enc_dim is not None and enc_dim != fus_dim:
                raise ValueError(f'dimension mismatch: {enc_name}.out_dim = {enc_dim} but {fus_name} = {fus_dim}')

    def train(self, mode: bool = True) -> 'ComposedRetriever':
        super().train(mode)
        if self.feature_cache is not None:
            self.image_encoder.eval()  # live features must equal the cached (eval-mode) ones
        return self

    # ------------------------------------------------------------------ features
    def image_features(self, images: ImageInput) -> ImageFeatures:
        """The tower's features of images; cached features pass through."""
        return images if isinstance(images, ImageFeatures) else self.image_encoder(images)

    def extract_query(self, ref: ImageInput, texts: List[str]) -> QueryBatch:
        """Composed query embeddings (+ fusion aux) for reference images and texts."""
        out: FusionOutput = self.fusion(self.image_features(ref), self.text_encoder(texts))
        return QueryBatch(out.query, out.aux)

    def gallery_embedding(self, feats: ImageFeatures) -> torch.Tensor:
        return self.target_head(feats) if self.target_head is not None else feats.pooled

    def extract_gallery(self, images: ImageInput) -> torch.Tensor:
        """Gallery/target embeddings ``(B, D)`` of images."""
        return self.gallery_embedding(self.image_features(images))

    def gallery_branch(self):
        """Image encoder and target head (weights and configs) and the scorer config."""
        return ({'image_encoder': self.image_encoder, 'target_head': self.target_head},
                {'image_encoder': self.image_encoder_cfg, 'target_head': self.target_head_cfg,
                 'scorer': self.scorer_cfg})

    # ------------------------------------------------------------------ forward
    def forward(self, inputs: dict, data_samples: Optional[List[CIRDataSample]] = None,
                mode: str = 'tensor') -> ForwardResult:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            out = {'query': self.extract_query(inputs['ref'], inputs['text']).query}
            if 'tgt' in inputs:
                out['target'] = self.extract_gallery(inputs['tgt'])
            return out
        raise RuntimeError(f"Invalid mode {mode!r}: expected 'loss', 'predict' or 'tensor'")

    def loss(self, inputs: dict, data_samples: Optional[List[CIRDataSample]]) -> Dict[str, torch.Tensor]:
        for key in ('ref', 'tgt', 'text'):
            if key not in inputs:
                raise KeyError(f"mode='loss' needs inputs[{key!r}] (training pipeline must load ref and tgt)")
        ref, tgt = inputs['ref'], inputs['tgt']
        if isinstance(ref, ImageFeatures) and isinstance(tgt, ImageFeatures):
            ref_feats, tgt_feats = ref, tgt
        elif self.feature_cache is not None:
            raise RuntimeError('model.feature_cache is set but the training batch holds images: add '
                               "dict(type='FeatureCacheHook') to custom_hooks")
        else:
            # One encoder pass over references and targets (BatchNorm sees both, as in a shared tower).
            feats = self.image_encoder(torch.cat([ref, tgt], dim=0))
            b = ref.shape[0]
            ref_feats = ImageFeatures(feats.tokens[:b], feats.pooled[:b])
            tgt_feats = ImageFeatures(feats.tokens[b:], feats.pooled[b:])
        out = self.fusion(ref_feats, self.text_encoder(inputs['text']))
        query, target = QueryBatch(out.query, out.aux), self.gallery_embedding(tgt_feats)
        losses: Dict[str, torch.Tensor] = {}
        for term in self.losses:
            for name, value in term(query, target, self.scorer, data_samples).items():
                if name in losses:
                    raise KeyError(f'two loss terms both return {name!r}; give them distinct names')
                losses[name] = value
        return losses

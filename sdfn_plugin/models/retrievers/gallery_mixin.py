"""The gallery side shared by every retriever: it owns its :class:`GalleryIndex`.

mmpretrain's retrievers own their prototype and a hook only calls
``model.prepare_prototype()``; here the retriever owns its gallery index
(:meth:`GalleryRetrieverMixin.prepare_gallery`), and evaluation
(``PrepareGalleryHook``, the multi-dataset loops), inference and
``tools/build_index.py`` all go through it. ``predict`` is this one code path
for :class:`ComposedRetriever` and :class:`EnsembleRetriever`.
"""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import MMLogger
from torch import Tensor, nn

from sdfn_plugin.structures import CIRDataSample, QueryBatch

from .fingerprint import gallery_fingerprint
from .gallery_encoding import encode_dataset
from .gallery_index import GalleryIndex

__all__ = ['GalleryRetrieverMixin', 'dataset_keys']


def dataset_keys(dataset) -> List[str]:
    """The dataset's ``gallery_keys()`` (image ids or paths), else the item positions as strings."""
    if hasattr(dataset, 'gallery_keys'):
        return [str(k) for k in dataset.gallery_keys()]
    return [str(i) for i in range(len(dataset))]


def _transforms(dataset) -> Optional[list]:
    pipeline = getattr(dataset, 'pipeline', None)
    return list(getattr(pipeline, 'transforms', pipeline)) if pipeline is not None else None


class GalleryRetrieverMixin:
    """Gallery ownership and ``mode='predict'`` of a retriever.

    The class using it (an mmengine ``BaseModel``) provides ``scorer``, ``topk``,
    ``exclude_reference``, ``gallery_chunk``, ``retrieval_backend``,
    ``data_preprocessor``, ``extract_query(ref, texts) -> QueryBatch``,
    ``extract_gallery(images) -> (B, D)`` and :meth:`gallery_branch` (the
    modules and configs the gallery embedding depends on).
    """

    _gallery_index: Optional[GalleryIndex] = None

    def gallery_branch(self) -> Tuple[Dict[str, nn.Module], Dict[str, Any]]:
        """``(modules, configs)`` that produce gallery embeddings (fingerprint input)."""
        raise NotImplementedError

    def gallery_fingerprint(self, transforms: Optional[Sequence[Callable]] = None) -> Dict[str, Any]:
        """Fingerprint of this model's gallery branch and of the image ``transforms``
        (:func:`~sdfn_plugin.models.retrievers.fingerprint.gallery_fingerprint`)."""
        modules, cfg = self.gallery_branch()
        return gallery_fingerprint(modules, cfg, self.data_preprocessor, transforms)

    @property
    def gallery(self) -> Optional[GalleryIndex]:
        """The installed gallery index (``None`` when none is prepared)."""
        return self._gallery_index

    def set_gallery(self, gallery: Union[GalleryIndex, Tensor, None]) -> None:
        """Install a :class:`GalleryIndex` for ``predict``/:meth:`retrieve`; a raw ``(N, D)``
        tensor is prepared by the scorer and keyed ``'0'..'N-1'``; ``None`` frees the gallery."""
        if gallery is None or isinstance(gallery, GalleryIndex):
            self._gallery_index = gallery
        elif isinstance(gallery, Tensor):
            self._gallery_index = GalleryIndex(self.scorer.prepare_gallery(gallery),
                                               [str(i) for i in range(gallery.shape[0])],
                                               backend=self.retrieval_backend, gallery_chunk=self.gallery_chunk)
        else:
            raise TypeError(f'set_gallery takes a GalleryIndex, a (N, D) tensor or None, got {type(gallery).__name__}')

    def prepare_gallery(self, dataset, batch_size: int = 32, num_workers: int = 0,
                        keys: Optional[Sequence[str]] = None, dtype: str = 'float32',
                        progress: bool = True, fingerprint: bool = True, distributed: bool = True) -> GalleryIndex:
        """Encode ``dataset`` (items ``{'inputs': {'img': ...}}``), install and return its index.

        Batched, in eval mode, split across ranks and gathered (every rank gets the
        whole index; :func:`~sdfn_plugin.models.retrievers.gallery_encoding.encode_dataset`).
        ``keys``: one per item; default ``dataset.gallery_keys()`` (ids or paths) or
        the positions. Items that could not be decoded (``ImageListDataset(skip_bad=True)``)
        get no row; their keys are in ``index.skipped``. ``progress``: rate/ETA log lines.
        ``fingerprint``: record :meth:`gallery_fingerprint` (hashes the gallery-branch
        weights; evaluation, which never saves its index, skips it). ``distributed=False``:
        this rank encodes all of ``dataset`` alone (one shard of a sharded build).
        """
        keys = list(keys) if keys is not None else dataset_keys(dataset)
        if len(keys) != len(dataset):
            raise ValueError(f'prepare_gallery: {len(keys)} keys for a dataset of {len(dataset)} items')
        embeddings, bad = encode_dataset(self, dataset, batch_size, num_workers, progress, distributed)
        kept = list(range(len(keys)))
        if bad:
            dropped = set(bad)
            kept = [i for i in kept if i not in dropped]
            embeddings = embeddings[torch.tensor(kept, dtype=torch.long, device=embeddings.device)]
            MMLogger.get_current_instance().warning(
                f'prepare_gallery: skipped {len(bad)} image(s) that could not be decoded, e.g. {keys[bad[0]]!r}')
        index = GalleryIndex(self.scorer.prepare_gallery(embeddings), [keys[i] for i in kept],
                             self.gallery_fingerprint(_transforms(dataset)) if fingerprint else None, dtype=dtype,
                             backend=self.retrieval_backend, gallery_chunk=self.gallery_chunk,
                             skipped=[keys[i] for i in bad])
        self.set_gallery(index)
        return index

    @torch.no_grad()
    def retrieve(self, query: QueryBatch, k: int, exclude=None) -> Tuple[Tensor, Tensor]:
        """Top-``k`` ``(scores, indices)`` of the installed gallery for raw queries
        (``extract_query`` output; the scorer prepares them)."""
        if self._gallery_index is None:
            raise RuntimeError('no gallery installed: call model.prepare_gallery(dataset) or model.set_gallery(index) '
                               '(evaluation: add PrepareGalleryHook to custom_hooks; default_runtime does)')
        return self._gallery_index.search(self.scorer.prepare_query(query), k, exclude, self.scorer)

    def _rank_subsets(self, query: QueryBatch,
                      data_samples: List[CIRDataSample]) -> Optional[List[Tuple[Tensor, Tensor]]]:
        """Per query with ``subset_gallery_idx`` (CIRR: the other members of its image set), those rows
        ranked by an exact score (:meth:`GalleryIndex.score_rows`): ``(rows best first, scores)``.

        The rows are scored explicitly rather than looked up in the global top-``k``: a member ranked
        beyond ``k`` in the whole gallery still has its place in the subset ranking. Ties keep the
        order of ``subset_gallery_idx`` (stable sort). ``None`` when no sample has a subset."""
        subsets = [s.metainfo.get('subset_gallery_idx') for s in data_samples]
        if all(s is None for s in subsets):
            return None
        width = max(len(s) for s in subsets if s is not None)
        rows = torch.full((len(subsets), width), -1, dtype=torch.long)
        for i, s in enumerate(subsets):
            if s:
                rows[i, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
        scores = self._gallery_index.score_rows(self.scorer.prepare_query(query), rows, self.scorer).cpu()
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices
        out = []
        for i, s in enumerate(subsets):
            n = len(s) if s else 0
            picked = order[i][:n]  # padding scores -inf: it sorts after the n real rows
            out.append((rows[i][picked], scores[i][picked]))
        return out

    def _predict_aux_keys(self) -> Sequence[str]:
        return getattr(getattr(self, 'fusion', None), 'predict_aux_keys', ())

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: Optional[List[CIRDataSample]]) -> List[dict]:
        """One dict per query: ``pred_topk`` (gallery rows, best first), ``pred_scores``,
        ``pred_keys``, ``gt_gallery_idx``, ``category``, ``sample_idx``, the fusion's
        ``predict_aux_keys`` (e.g. SDFN's routing ``paths``) and, for queries whose sample
        carries ``subset_gallery_idx`` (CIRR), ``subset_idx`` (those rows, best first),
        ``subset_scores`` and ``subset_gallery_idx`` (see :meth:`_rank_subsets`)."""
        if self._gallery_index is None:
            raise RuntimeError(f"{type(self).__name__} mode='predict' needs a gallery: add PrepareGalleryHook to "
                               'custom_hooks (default_runtime does) or call model.set_gallery(...)')
        if data_samples is None:
            raise ValueError("mode='predict' needs data_samples (they carry the ground truth)")
        query = self.extract_query(inputs['ref'], inputs['text'])
        exclude = None
        if self.exclude_reference:
            exclude = torch.tensor([int(s.metainfo.get('ref_gallery_idx', -1)) for s in data_samples],
                                   device=query.query.device)
        scores, topk = self.retrieve(query, self.topk, exclude)
        scores, topk, keys = scores.cpu(), topk.cpu(), self._gallery_index.keys
        subsets = self._rank_subsets(query, data_samples)
        results = []
        for i, sample in enumerate(data_samples):
            res = {'pred_topk': topk[i], 'pred_scores': scores[i], 'pred_keys': [keys[j] for j in topk[i].tolist()],
                   'gt_gallery_idx': list(sample.metainfo.get('gt_gallery_idx', [])),
                   'category': sample.metainfo.get('category', ''), 'sample_idx': sample.metainfo.get('sample_idx')}
            if subsets is not None and 'subset_gallery_idx' in sample.metainfo:
                res['subset_idx'], res['subset_scores'] = subsets[i]
                res['subset_gallery_idx'] = list(sample.metainfo['subset_gallery_idx'])
            for key in self._predict_aux_keys():
                if key in query.aux:
                    res[key] = query.aux[key][i].detach().cpu()
            results.append(res)
        return results

"""``CIRInferencer``: composed image retrieval on one's own images, mmengine's inferencer way.

It subclasses :class:`mmengine.infer.BaseInferencer` and keeps its contract
(``preprocess -> forward -> visualize -> postprocess``; keyword arguments of
``__call__`` dispatched by the ``*_kwargs`` sets; ``postprocess`` returns
``{'predictions', 'visualization'}``), like mmpretrain's
``ImageRetrievalInferencer``, whose gallery ("prototype") is likewise a folder,
a list of images or a saved cache. Two differences: the model is built by
:func:`get_model` (vocabulary from the checkpoint, no dataset files), and a
query is a pair (reference image, modification text).
"""
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.infer import BaseInferencer
from PIL import Image
from torch import nn

from sdfn_plugin.registry import TRANSFORMS
from sdfn_plugin.visualization.retrieval_grid import draw_retrieval_grid, to_pil

from .model import get_model, list_models, resolve_config
from .index_builder import gallery_pipeline
from .pipelines import query_pipeline_cfg

__all__ = ['CIRInferencer', 'Query', 'is_index_dir']

ImageLike = Union[str, np.ndarray, Image.Image]
Query = Tuple[ImageLike, str]
_INDEX_MARKER = 'index.json'


def is_index_dir(path: Any) -> bool:
    """Whether ``path`` is a saved :class:`GalleryIndex` directory (not a folder of images)."""
    return isinstance(path, str) and osp.isfile(osp.join(path, _INDEX_MARKER))


def _is_query(item: Any) -> bool:
    return (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], str)
            and isinstance(item[0], (str, np.ndarray, Image.Image)))


def _image_tensor(image: ImageLike, where: str) -> torch.Tensor:
    """uint8 ``(3, H, W)``; a path is read with the dataset reader (errors name the file)."""
    if isinstance(image, str):
        from sdfn_plugin.datasets.transforms import read_image
        return read_image(image)
    if isinstance(image, (np.ndarray, Image.Image)):
        try:
            arr = np.asarray(to_pil(image))
        except ValueError as err:
            raise ValueError(f'{where}: {err}') from None
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
    raise TypeError(f'{where}: the reference image must be a path, an RGB uint8 array or a PIL image, '
                    f'got {type(image).__name__}')


class CIRInferencer(BaseInferencer):
    """Rank a gallery for (reference image, modification text) queries.

    Args:
        model: a shipped config name (``'tirg_css'``), a config file, a :class:`Config`,
            or a model already built by :func:`get_model` (then ``weights`` is unused).
        weights: the checkpoint (see :func:`get_model`).
        gallery: a folder of images (searched recursively), a text file listing
            images, a list of image paths, or a saved index directory
            (``tools/build_index.py``; loading checks that this model built it).
        gallery_cache: for a folder or list: a directory where the encoded gallery
            is saved, and loaded from next time (rebuilt when the images or the
            model differ).
        device: e.g. ``'cpu'``, ``'cuda:0'``; ``None``: mmengine's default device.
        batch_size: images per forward pass when encoding the gallery.
        skip_bad: skip undecodable gallery images (reporting their count) instead of failing.

    Call it with one query ``(image, text)`` or a list of them; ``image`` is a path,
    an ``(H, W, 3)`` uint8 RGB array or a PIL image. Keyword arguments:
    ``topk`` (default 10), ``exclude_reference`` (default True: a reference that is
    itself in the gallery, matched by its absolute or resolved path, is left out
    of its own ranking, as in evaluation), ``show_dir`` (write one grid PNG per
    query), ``return_vis`` (return the grids as arrays), ``targets`` (per query,
    the keys of correct images, outlined in the grid). Returns
    ``{'predictions': [{'keys': [...], 'scores': [...]}, ...], 'visualization': [...]}``.
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = {'topk', 'exclude_reference'}
    visualize_kwargs: set = {'show_dir', 'return_vis', 'targets'}
    postprocess_kwargs: set = set()

    def __init__(self, model: Union[str, Config, nn.Module], weights: Optional[str] = None,
                 gallery: Union[str, Sequence[str], None] = None, gallery_cache: Optional[str] = None,
                 device: Optional[str] = None, batch_size: int = 32, skip_bad: bool = False) -> None:
        self._built = model if isinstance(model, nn.Module) else None
        if self._built is not None:
            if not hasattr(model, 'cfg'):
                raise ValueError('a prebuilt model must come from sdfn_plugin.apis.get_model (it needs model.cfg)')
            cfg = model.cfg
        else:
            cfg = resolve_config(model)
        if device is None and self._built is not None:
            device = str(next(self._built.parameters()).device)
        super().__init__(model=cfg, weights=weights, device=device, scope='sdfn_plugin', show_progress=False)
        self.batch_size = batch_size
        self.skip_bad = skip_bad
        self.index = None
        if gallery is not None:
            self.set_gallery(gallery, gallery_cache)

    # ------------------------------------------------------------------ setup (BaseInferencer hooks)
    def _init_model(self, cfg: Config, weights: Optional[str], device: str = 'cpu') -> nn.Module:
        if self._built is not None:
            return self._built.to(device).eval()
        return get_model(cfg, weights, device)

    def _init_pipeline(self, cfg: Config):
        with TRANSFORMS.switch_scope_and_registry('sdfn_plugin') as registry:
            return Compose([registry.build(t) for t in query_pipeline_cfg(cfg)])

    def _init_visualizer(self, cfg: Config):
        return None  # grids are drawn with PIL (sdfn_plugin.visualization.retrieval_grid)

    @staticmethod
    def list_models(pattern: Optional[str] = None) -> List[str]:
        return list_models(pattern)

    # ------------------------------------------------------------------ gallery
    def gallery_transforms(self) -> list:
        """The built transforms that load gallery images (part of the index fingerprint)."""
        with TRANSFORMS.switch_scope_and_registry('sdfn_plugin') as registry:
            return [registry.build(t) for t in gallery_pipeline(self.cfg)]

    def set_gallery(self, gallery: Union[str, Sequence[str]], cache: Optional[str] = None) -> None:
        """Encode (or load) the gallery and install it in the model; see the class docstring."""
        from sdfn_plugin.datasets import ImageListDataset
        from sdfn_plugin.models.retrievers.gallery_index import GalleryIndex
        fingerprint = self.model.gallery_fingerprint(self.gallery_transforms())
        if is_index_dir(gallery):
            index = GalleryIndex.load(gallery, expected_fingerprint=fingerprint)
        else:
            dataset = ImageListDataset(gallery, pipeline=gallery_pipeline(self.cfg), skip_bad=self.skip_bad)
            index = None
            if cache is not None and is_index_dir(cache):
                index = GalleryIndex.load(cache, expected_fingerprint=fingerprint)
                if list(index.keys) != list(dataset.gallery_keys()):
                    index = None  # other images than when the cache was written: encode again
            if index is None:
                index = self.model.prepare_gallery(dataset, batch_size=self.batch_size, progress=False)
                if cache is not None:
                    index.save(cache)
        self.model.set_gallery(index)
        self.index = index

    # ------------------------------------------------------------------ the four steps
    def _inputs_to_list(self, inputs: Union[Query, Sequence[Query]]) -> List[Query]:
        items = [inputs] if _is_query(inputs) else list(inputs)
        for i, item in enumerate(items):
            if not _is_query(item):
                raise TypeError(f'query {i}: expected (reference image, modification text), got {item!r:.80}')
            if not item[1].strip():
                raise ValueError(f'query {i}: the modification text is empty (field "text")')
        return items

    def preprocess(self, inputs: List[Query], batch_size: int = 1, **kwargs) -> Iterator[Dict[str, Any]]:
        def load(i: int, query: Query) -> dict:
            image, text = query
            packed = self.pipeline({'ref': _image_tensor(image, f'query {i}'), 'text': text, 'sample_idx': i})
            return {'packed': packed, 'ref_key': image if isinstance(image, str) else None}

        items = (load(i, q) for i, q in enumerate(inputs))
        for chunk in self._get_chunk_data(items, batch_size):
            yield {'data': pseudo_collate([c['packed'] for c in chunk]), 'ref_keys': [c['ref_key'] for c in chunk]}

    def _reference_rows(self, ref_keys: Sequence[Optional[str]]) -> torch.Tensor:
        """Gallery row of each reference (-1: not in the gallery), by absolute or resolved path."""
        rows = []
        for key in ref_keys:
            row = -1
            if key is not None:
                for candidate in dict.fromkeys([key, osp.abspath(key), osp.realpath(key)]):
                    row = int(self.index.lookup([candidate])[0])
                    if row >= 0:
                        break
            rows.append(row)
        return torch.tensor(rows, dtype=torch.long)

    @torch.no_grad()
    def forward(self, inputs: Dict[str, Any], topk: int = 10, exclude_reference: bool = True) -> List[dict]:
        if self.index is None:
            raise RuntimeError('CIRInferencer has no gallery: pass gallery=... or call set_gallery(...)')
        if topk < 1:
            raise ValueError(f'topk must be >= 1, got {topk}')
        data = self.model.data_preprocessor(inputs['data'], False)
        query = self.model.extract_query(data['inputs']['ref'], data['inputs']['text'])
        exclude = self._reference_rows(inputs['ref_keys']) if exclude_reference else None
        if exclude is not None:
            exclude = exclude.to(query.query.device)
        scores, idx = self.model.retrieve(query, topk, exclude=exclude)
        preds = []
        for row_scores, row_idx, ref_row in zip(scores.tolist(), idx.tolist(),
                                                exclude.tolist() if exclude is not None else [None] * len(idx)):
            # an excluded reference can only surface when fewer than topk other images exist
            kept = [(s, j) for s, j in zip(row_scores, row_idx) if j != ref_row and np.isfinite(s)]
            preds.append({'keys': [self.index.keys[j] for _, j in kept], 'scores': [float(s) for s, _ in kept],
                          'indices': [j for _, j in kept]})
        return preds

    def visualize(self, inputs: List[Query], preds: List[dict], show_dir: Optional[str] = None,
                  return_vis: bool = False, targets: Optional[Sequence[Sequence[str]]] = None) -> List[np.ndarray]:
        if show_dir is None and not return_vis:
            return []
        out = []
        for i, ((image, text), pred) in enumerate(zip(inputs, preds)):
            results = [(_gallery_image(key), key, score) for key, score in zip(pred['keys'], pred['scores'])]
            name = osp.splitext(osp.basename(image))[0] if isinstance(image, str) else 'query'
            out_file = osp.join(show_dir, f'{i:03d}_{name}.png') if show_dir else None
            grid = draw_retrieval_grid(image, text, results, targets[i] if targets else None, out_file)
            out.append(grid)
        return out if return_vis else []

    def postprocess(self, preds: List[dict], visualization: List[np.ndarray], return_datasamples: bool = False,
                    **kwargs) -> dict:
        if return_datasamples:
            raise ValueError('CIRInferencer returns plain dicts (keys, scores); return_datasamples is not supported')
        return {'predictions': preds, 'visualization': visualization}


def _gallery_image(key: str) -> ImageLike:
    """The image of a gallery key (a path); a grey placeholder when it is not a readable file."""
    if osp.isfile(key):
        try:
            return to_pil(key)
        except OSError:
            pass
    return Image.new('RGB', (64, 64), (160, 160, 160))

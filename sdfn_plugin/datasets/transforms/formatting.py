"""Packing a pipeline's result into ``{'inputs', 'data_samples'}``."""
from typing import Sequence

from sdfn_plugin.registry import TRANSFORMS
from sdfn_plugin.structures import CIRDataSample

_INPUT_KEYS = ('ref', 'tgt', 'img', 'text')
_META_KEYS = ('sample_idx', 'ref_id', 'tgt_id', 'img_id', 'text', 'gt_gallery_idx', 'ref_gallery_idx',
              'category', 'query_id', 'subset_gallery_idx', 'tgt_gallery_idx')


@TRANSFORMS.register_module()
class PackCIRInputs:
    """Moves image tensors and the text into ``inputs`` and metadata (including
    mmengine's ``sample_idx``, which SDFN's path memory is keyed on) into a
    :class:`CIRDataSample`. Keeps forward signatures free of stray keys."""

    def __init__(self, meta_keys: Sequence[str] = _META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        inputs = {k: results[k] for k in _INPUT_KEYS if k in results}
        if not inputs:
            raise KeyError(f'PackCIRInputs: none of {_INPUT_KEYS} in the sample (keys: {sorted(results)}); '
                           'load images before packing')
        meta = {k: results[k] for k in self.meta_keys if k in results}
        return {'inputs': inputs, 'data_samples': CIRDataSample(metainfo=meta)}

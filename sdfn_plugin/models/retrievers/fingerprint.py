"""What identifies the model that produced a gallery index.

A gallery embedding depends on the gallery branch only: the image encoder, the
target head, the scorer's ``prepare_gallery`` (e.g. L2 normalisation), the
weights of the first two, the image normalisation of the data preprocessor and
the image transforms of the pipeline that loaded the images. Text encoder and
fusion weights do not change gallery embeddings, so retraining only the query
side keeps an index valid.

The fingerprint is a JSON-able dict with one entry per part, so a mismatch can
name the part that differs (:func:`fingerprint_differences`).
"""
import json
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import torch
from torch import nn

from sdfn_plugin.datasets.feature_cache.key import canonical_json, describe_transform, weights_checksum
from sdfn_plugin.datasets.feature_cache.pipeline import image_chains

__all__ = ['FINGERPRINT_VERSION', 'FINGERPRINT_PARTS', 'gallery_fingerprint', 'fingerprint_differences',
           'gallery_transforms']

#: bump when the meaning of a part changes
FINGERPRINT_VERSION = 1
#: the parts compared by :func:`fingerprint_differences`, in the order they are reported
FINGERPRINT_PARTS = ('version', 'gallery_branch', 'weights', 'preprocessor', 'transform')


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, odd objects their ``repr``)."""
    return json.loads(canonical_json(value))


def _type_name(module: nn.Module) -> str:
    return f'{type(module).__module__}.{type(module).__qualname__}'


def _stats(preprocessor: Optional[nn.Module]) -> Optional[Dict[str, Any]]:
    if preprocessor is None:
        return None
    out: Dict[str, Any] = {'type': _type_name(preprocessor)}
    for name in ('mean', 'std'):
        value = getattr(preprocessor, name, None)
        if isinstance(value, torch.Tensor):
            out[name] = [float(v) for v in value.detach().cpu().reshape(-1)]
    return out


def gallery_transforms(transforms: Sequence[Callable]) -> List[Dict[str, Any]]:
    """Descriptions of the transforms that produce the gallery image (``'img'``), in order.

    Loading and packing carry no pixel change beyond decoding, but resizing and cropping
    do; all transforms that touch the ``img`` key are recorded (without their ``keys``)."""
    chain = image_chains(list(transforms), 'gallery pipeline').get('img', [])
    return [describe_transform(t) for t in chain]


def gallery_fingerprint(parts: Mapping[str, nn.Module], branch_cfg: Mapping[str, Any],
                        preprocessor: Optional[nn.Module],
                        transforms: Optional[Sequence[Callable]] = None) -> Dict[str, Any]:
    """The fingerprint dict of a gallery branch.

    Args:
        parts: the modules whose weights produce gallery embeddings, by name
            (e.g. ``{'image_encoder': ..., 'target_head': ...}``); their
            ``state_dict`` tensors (BatchNorm statistics included) are hashed.
        branch_cfg: the configs of those parts and the scorer type (JSON-able).
        preprocessor: the data preprocessor (its ``mean``/``std`` are recorded).
        transforms: the pipeline that loads gallery images (built transforms);
            ``None`` records no transform (the check is then skipped for it).
    """
    branch = nn.ModuleDict({name: module for name, module in parts.items() if module is not None})
    return {
        'version': FINGERPRINT_VERSION,
        'gallery_branch': _plain(dict(branch_cfg)),
        'weights': weights_checksum(branch),
        'preprocessor': _stats(preprocessor),
        'transform': None if transforms is None else gallery_transforms(transforms),
    }


def fingerprint_differences(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> List[str]:
    """Names of the parts that differ (``transform`` only when both sides record one)."""
    diff = []
    for part in FINGERPRINT_PARTS:
        a, b = expected.get(part), actual.get(part)
        if part == 'transform' and (a is None or b is None):
            continue
        if _plain(a) != _plain(b):
            diff.append(part)
    return diff

"""Which transforms of a pipeline make the image a cache stands for, and the pipeline without them."""
import copy
from collections import defaultdict
from typing import Callable, Dict, List, Mapping, Sequence

from ..transforms.cached_features import LoadCachedFeatures
from ..transforms.formatting import PackCIRInputs
from ..transforms.loading import LoadCIRImages

IMAGE_KEYS = ('ref', 'tgt', 'img')


def _name(transform: Callable) -> str:
    return type(transform).__name__


def _image_keys(transform: Callable, where: str) -> List[str]:
    """Image roles a transform acts on (``[]`` for transforms that leave images alone)."""
    if isinstance(transform, PackCIRInputs):
        return []
    if isinstance(transform, LoadCachedFeatures):
        raise ValueError(f'feature cache: {where} already contains LoadCachedFeatures; list the image transforms '
                         '(LoadCIRImages, resizing, ...) and FeatureCacheHook replaces them itself')
    keys = getattr(transform, 'keys', None)
    if not isinstance(keys, (list, tuple)):
        raise ValueError(f'feature cache: {where} transform {_name(transform)} has no `keys` sequence, so it is '
                         'unknown whether it changes images; give it keys=(...) naming the images it transforms '
                         '(none for text-only transforms)')
    return [k for k in keys if k in IMAGE_KEYS]


def image_chains(transforms: Sequence[Callable], where: str) -> Dict[str, List[Callable]]:
    """Role (``'ref'``, ``'tgt'``, ``'img'``) -> the transforms that produce that image, in order.

    Only roles that a loading transform (``LoadCIRImages`` or another ``Load*`` class) reads are
    images of this pipeline: a resize or crop left with its default keys also names roles that
    the pipeline never loads (``tgt`` of an evaluation query), and those are no images to cache.

    Raises ``ValueError`` naming the transform for random augmentations: a cache holds
    one feature per image, which a different crop or flip each epoch would invalidate.
    """
    chains: Dict[str, List[Callable]] = defaultdict(list)
    for t in transforms:
        keys = _image_keys(t, where)
        if keys and _name(t).startswith('Random'):
            raise ValueError(f'feature cache: {where} has the random augmentation {_name(t)}, which changes the '
                             'image at every epoch, so its features cannot be computed once and cached; remove '
                             f'{_name(t)} from the pipeline or unset model.feature_cache')
        for k in keys:
            chains[k].append(t)
    return {role: chain for role, chain in chains.items() if any(_is_loader(t) for t in chain)}


def _is_loader(transform: Callable) -> bool:
    return isinstance(transform, LoadCIRImages) or _name(transform).startswith('Load')


def for_role(chain: Sequence[Callable], role: str) -> List[Callable]:
    """Copies of ``chain`` acting on ``role`` only (a loader listing ref and tgt would
    otherwise want both paths for every image)."""
    out = []
    for t in chain:
        t = copy.copy(t)
        t.keys = (role, )
        out.append(t)
    return out


def swap_in_cache(transforms: Sequence[Callable], stores: Mapping[str, str], where: str) -> List[Callable]:
    """``transforms`` with the image transforms replaced by :class:`LoadCachedFeatures`
    (one per cache folder in ``stores``: role -> folder), at the first image transform."""
    by_folder: Dict[str, List[str]] = defaultdict(list)
    for role, folder in stores.items():
        by_folder[folder].append(role)
    out: List[Callable] = []
    inserted = False
    for t in transforms:
        if _image_keys(t, where):
            if not inserted:
                out += [LoadCachedFeatures(folder, keys=tuple(roles)) for folder, roles in by_folder.items()]
                inserted = True
            continue
        out.append(t)
    return out

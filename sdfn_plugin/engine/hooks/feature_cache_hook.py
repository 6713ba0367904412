"""Train and evaluate on cached features of a frozen image tower."""
from typing import Callable, Dict, List, Optional, Set, Tuple

from mmengine.dataset import Compose
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from sdfn_plugin.datasets.feature_cache import FeatureCacheConfig, normalize_path
from sdfn_plugin.datasets.feature_cache.builder import CacheRequest, ensure_cache
from sdfn_plugin.datasets.feature_cache.key import canonical_json
from sdfn_plugin.datasets.feature_cache.pipeline import image_chains, swap_in_cache
from sdfn_plugin.registry import HOOKS

Transforms = List[Callable]


@HOOKS.register_module()
class FeatureCacheHook(Hook):
    """Builds or reuses the feature cache of ``model.feature_cache`` for every dataset
    of a stage, then makes those datasets load cached features instead of images.

    Before training (and before each validation / test run, after the checkpoint is
    loaded, so the weights in the key are final), for each dataset of the stage:

    1. splits its query pipeline (and its ``gallery_pipeline``) into image transforms
       per role (``ref``, ``tgt``, ``img``) and the rest; random augmentations are an
       error naming the transform;
    2. groups the images of all roles whose image transforms are identical and, per
       group, reuses the cache if its key (encoder config, weights checksum, image
       transforms + normalisation, image list, dtype) and files are intact, else
       encodes the images once with the tower in eval mode (rank 0; others wait);
    3. replaces the image transforms by :class:`LoadCachedFeatures` in the dataset's
       pipeline and gallery pipeline, so batches carry ``ImageFeatures`` and the
       model skips the tower; :class:`PrepareGalleryHook` then encodes the gallery
       from cached features too.

    Args:
        batch_size: images per encoder call while building a cache.
        num_workers: dataloader workers decoding images while building.
    """

    priority = 'ABOVE_NORMAL'  # before PrepareGalleryHook, whichever event it moves to

    def __init__(self, batch_size: int = 32, num_workers: int = 0) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f'FeatureCacheHook.batch_size must be a positive int, got {batch_size!r}')
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f'FeatureCacheHook.num_workers must be an int >= 0, got {num_workers!r}')
        self.batch_size, self.num_workers = batch_size, num_workers
        # id(dataset) -> (dataset, original pipeline, original gallery pipeline): the cache
        # is re-checked against the pipelines the config gave, not the swapped ones
        self._originals: Dict[int, Tuple[object, Transforms, Optional[Transforms]]] = {}
        self._verified: Set[str] = set()  # cache folders checked or written by this process
        self.stats = dict(built=0, reused=0, build_seconds=0.0)

    def before_train(self, runner) -> None:
        self._prepare(runner, [runner.train_dataloader], 'train')

    def before_val(self, runner) -> None:
        self._prepare(runner, _loaders(runner.val_loop), 'val')

    def before_test(self, runner) -> None:
        self._prepare(runner, _loaders(runner.test_loop), 'test')

    def _prepare(self, runner, loaders: list, stage: str) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        cfg: Optional[FeatureCacheConfig] = getattr(model, 'feature_cache', None)
        if cfg is None:
            raise RuntimeError('FeatureCacheHook is in custom_hooks but the model has no feature cache: set '
                               "model.feature_cache=dict(dir='work_dirs/feature_cache') or remove the hook")
        for i, loader in enumerate(loaders):
            self._prepare_dataset(model, cfg, loader.dataset, f'{stage}_dataloader' + (f'[{i}]' if i else ''))

    def _prepare_dataset(self, model, cfg: FeatureCacheConfig, dataset, where: str) -> None:
        if not hasattr(dataset, 'get_data_info'):
            raise TypeError(f'FeatureCacheHook: {where}.dataset ({type(dataset).__name__}) is not an mmengine '
                            'BaseDataset; dataset wrappers are not supported by the feature cache')
        dataset.full_init()
        if id(dataset) not in self._originals:
            gallery = list(Compose(dataset.gallery_pipeline).transforms) if getattr(dataset, 'gallery', None) \
                else None
            self._originals[id(dataset)] = (dataset, list(dataset.pipeline.transforms), gallery)
        _, query_tf, gallery_tf = self._originals[id(dataset)]
        query_chains = image_chains(query_tf, f'{where}.dataset.pipeline')
        gallery_chains = image_chains(gallery_tf, f'{where}.dataset.gallery_pipeline') if gallery_tf else {}

        requests: Dict[str, CacheRequest] = {}
        query_roles = {}
        for role, chain in query_chains.items():
            request = _request_for(requests, chain, role)
            query_roles[role] = request
            for i in range(len(dataset)):
                info = dataset.get_data_info(i)
                if f'{role}_path' not in info:
                    raise KeyError(f'FeatureCacheHook: {where}.dataset sample {i} has no {role}_path')
                request.ids.setdefault(normalize_path(info[f'{role}_path']), set()).add(info.get(f'{role}_id'))
        gallery_roles = {}
        for role, chain in gallery_chains.items():
            request = _request_for(requests, chain, role)
            gallery_roles[role] = request
            for item in dataset.gallery:
                request.ids.setdefault(normalize_path(item[f'{role}_path']), set()).add(item.get(f'{role}_id'))

        folders = {}
        for digest, request in requests.items():
            result = ensure_cache(model, cfg, request, self.batch_size, self.num_workers, self._verified)
            folders[digest] = result.folder
            self.stats['built' if result.built else 'reused'] += 1
            self.stats['build_seconds'] += result.seconds if result.built else 0.0
        dataset.pipeline = Compose(swap_in_cache(
            query_tf, {r: folders[_digest(q)] for r, q in query_roles.items()}, f'{where}.dataset.pipeline'))
        if gallery_tf:
            dataset.gallery_pipeline = swap_in_cache(
                gallery_tf, {r: folders[_digest(q)] for r, q in gallery_roles.items()},
                f'{where}.dataset.gallery_pipeline')


def _digest(request: CacheRequest) -> str:
    return canonical_json(request.description)


def _request_for(requests: Dict[str, CacheRequest], chain: Transforms, role: str) -> CacheRequest:
    """The request of images made by the same transforms as ``chain`` (shared across roles)."""
    request = CacheRequest(chain=chain, role=role, ids={})
    return requests.setdefault(_digest(request), request)


def _loaders(loop) -> list:
    """The dataloaders of an evaluation loop (several for MultiValLoop/MultiTestLoop)."""
    return list(getattr(loop, 'dataloaders', None) or [loop.dataloader])

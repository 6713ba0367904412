"""Computing the features of a frozen image tower for a list of images, once."""
import os.path as osp
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import MMLogger
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sdfn_plugin.utils.progress import ProgressLogger, track_progress

from .config import FeatureCacheConfig
from .key import CacheKey, build_key, describe_transform
from .pipeline import for_role
from .store import check_store, store_dir, write_store


class _ImageList(Dataset):
    """Images of ``paths`` through ``chain`` (transforms restricted to ``role``)."""

    def __init__(self, paths: Sequence[str], chain: Sequence[Callable], role: str) -> None:
        self.paths, self.role = list(paths), role
        self.transforms = for_role(chain, role)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        results = {f'{self.role}_path': self.paths[i]}
        for t in self.transforms:
            results = t(results)
        return results[self.role]


@torch.no_grad()
def encode_images(encoder: nn.Module, preprocessor: nn.Module, dataset: Dataset, batch_size: int,
                  num_workers: int = 0) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """``(tokens, pooled)`` per batch of ``dataset`` images, with the tower in eval mode."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=list)
    was_training = encoder.training
    encoder.eval()
    try:
        for images in loader:
            x = preprocessor({'inputs': {'img': images}}, False)['inputs']['img']
            feats = encoder(x)
            yield feats.tokens, feats.pooled
    finally:
        encoder.train(was_training)


@dataclass
class CacheRequest:
    """Images that share one image transform (possibly from several roles and pipelines)."""

    chain: List[Callable]              # the transforms of ``role``
    role: str                          # the role whose transforms build the images
    ids: Dict[str, set]                # absolute path -> dataset ids of that image

    @property
    def description(self) -> List[dict]:
        return [describe_transform(t) for t in self.chain]


@dataclass
class CacheResult:
    folder: str
    built: bool
    seconds: float
    missing_images: int


def ensure_cache(model: nn.Module, cfg: FeatureCacheConfig, request: CacheRequest, batch_size: int,
                 num_workers: int = 0, verified: Optional[Set[str]] = None) -> CacheResult:
    """Reuse the cache of ``request`` if intact and current, else (re)build it on rank 0.

    ``model`` needs ``image_encoder``, ``image_encoder_cfg`` and ``data_preprocessor``.
    ``verified``: folders this process already checked or wrote; they are not hashed
    again (a large cache costs seconds per GB to verify, at every validation otherwise).
    """
    logger = MMLogger.get_current_instance()
    paths = sorted(request.ids)
    key: CacheKey = build_key(model.image_encoder, model.image_encoder_cfg, model.data_preprocessor,
                              request.description, paths, _sorted_ids(request.ids), cfg.dtype)
    folder = store_dir(cfg.dir, key)
    rank, world = get_dist_info()
    start, built, missing = time.perf_counter(), False, 0
    if verified is not None and folder in verified:
        return CacheResult(folder, False, 0.0, 0)
    if rank == 0:
        reason, missing = check_store(folder, key)
        if reason is None:
            logger.info(f'feature cache: reusing {folder} ({len(paths)} images'
                        + (f', {missing} of them no longer on disk' if missing else '') + ')')
        else:
            logger.info(f'feature cache: building {folder} for {len(paths)} images ({reason})')
            batches = encode_images(model.image_encoder, model.data_preprocessor,
                                    _ImageList(paths, request.chain, request.role), batch_size, num_workers)
            # a Fashion200K-size cache is minutes of encoding on CPU: log done/total, rate and ETA
            progress = ProgressLogger(f'feature cache {osp.basename(folder)}', len(paths), unit='images')
            write_store(cfg.dir, key, paths, track_progress(batches, progress, count=lambda b: len(b[1])),
                        cfg.numpy_dtype)
            built = True
    if world > 1:
        barrier()  # other ranks read what rank 0 checked or wrote
    seconds = time.perf_counter() - start
    if verified is not None:
        verified.add(folder)
    if built:
        logger.info(f'feature cache: built {folder} in {seconds:.1f} s')
    return CacheResult(folder, built, seconds, missing)


def _sorted_ids(ids: Mapping[str, set]) -> Dict[str, List[str]]:
    return {p: sorted(str(i) for i in v if i is not None) for p, v in ids.items()}

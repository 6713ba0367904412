"""Build a gallery index from a folder or list of images (``tools/build_index.py``).

Single process: the model encodes every image and the index is saved. Under a
launcher (``torch.distributed`` initialised, ``W`` ranks) the image list is cut
into ``W`` contiguous shards; each rank encodes its shard alone and saves it as
an index under ``<out>.shards/`` (a folder every rank can reach), then rank 0
merges the shards in rank order into ``<out>``, which therefore equals a
single-process build, and removes the shards. Ranks never exchange embeddings,
so millions of images can be encoded by many nodes without gathering them in
memory. When a rank fails (e.g. ``skip_bad`` and a shard with no decodable
image), every rank raises :class:`ShardBuildError` at the next step instead of
waiting at a barrier until the process-group timeout, and the shards are removed.
"""
import os.path as osp
import shutil
import time
from typing import Any, Callable, List, Optional, Sequence, Union

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.dist import get_dist_info
from torch import nn

from sdfn_plugin.datasets.image_list import DEFAULT_PIPELINE, ImageListDataset
from sdfn_plugin.models.retrievers.gallery_index import GalleryIndex

__all__ = ['gallery_pipeline', 'build_index', 'BuildResult', 'ShardBuildError']


def gallery_pipeline(cfg: Config) -> List[Union[dict, Callable]]:
    """The gallery pipeline of the config's test dataset (the first one of a list), else the default
    load + pack pipeline: images are transformed exactly as the evaluation gallery was."""
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if isinstance(loader, (list, tuple)):
        loader = loader[0] if loader else None
    dataset = (loader or {}).get('dataset') or {}
    pipeline = dataset.get('gallery_pipeline')
    return list(pipeline) if pipeline else list(DEFAULT_PIPELINE)


class BuildResult:
    """What :func:`build_index` did: the index (rank 0), image count, seconds, skipped images."""

    def __init__(self, index: Optional[GalleryIndex], images: int, seconds: float, skipped: Sequence[str]) -> None:
        self.index, self.images, self.seconds, self.skipped = index, images, seconds, list(skipped)

    @property
    def images_per_s(self) -> float:
        return self.images / max(self.seconds, 1e-9)


def _shard(paths: Sequence[str], rank: int, world: int) -> List[str]:
    per = -(-len(paths) // world)  # ceil: the last rank may get fewer
    return list(paths[rank * per:(rank + 1) * per])


def build_index(model: nn.Module, images: Union[str, Sequence[str]], out: str,
                pipeline: Optional[Sequence[Union[dict, Callable]]] = None, batch_size: int = 32,
                num_workers: int = 2, dtype: str = 'float32', skip_bad: bool = False) -> BuildResult:
    """Encode ``images`` with ``model.prepare_gallery`` and save the index to ``out``.

    Args:
        model: a retriever (``get_model(config, checkpoint)``).
        images: folder, list file or list of paths (:class:`ImageListDataset`).
        out: the index folder (written atomically; replaced if it exists).
        pipeline: gallery image pipeline (default :func:`gallery_pipeline` of ``model.cfg``).
        batch_size, num_workers: encoding batch and DataLoader decoding workers.
        dtype: ``'float32'`` or ``'float16'`` storage.
        skip_bad: leave undecodable images out (listed in the index's ``skipped``).

    Returns:
        :class:`BuildResult`; ``index`` is the merged index on rank 0 (``None`` on other ranks).
    """
    if pipeline is None:
        cfg = getattr(model, 'cfg', None)
        pipeline = gallery_pipeline(cfg) if cfg is not None else list(DEFAULT_PIPELINE)
    paths = ImageListDataset(images, pipeline=pipeline, skip_bad=skip_bad).paths  # validates the list once
    rank, world = get_dist_info()
    start = time.perf_counter()
    if world == 1:
        index = model.prepare_gallery(ImageListDataset(paths, pipeline, skip_bad), batch_size, num_workers,
                                      dtype=dtype, distributed=False)
        index.save(out)
        return BuildResult(index, len(paths), time.perf_counter() - start, index.skipped)
    shards = osp.abspath(out) + '.shards'
    mine = _shard(paths, rank, world)

    def encode_shard() -> None:
        if mine:
            shard = model.prepare_gallery(ImageListDataset(mine, pipeline, skip_bad), batch_size, num_workers,
                                          dtype=dtype, distributed=False)
            shard.save(osp.join(shards, f'rank{rank:05d}'))

    def merge_shards() -> Optional[GalleryIndex]:
        if rank != 0:
            return None
        parts = [GalleryIndex.load(osp.join(shards, f'rank{r:05d}')) for r in range(world)
                 if _shard(paths, r, world)]
        merged = GalleryIndex.merge(parts)
        merged.save(out)
        shutil.rmtree(shards, ignore_errors=True)
        return merged

    try:
        _on_every_rank(encode_shard, 'encoding its shard')
        merged = _on_every_rank(merge_shards, 'merging the shards')  # nobody returns before the index exists
    except ShardBuildError:
        if rank == 0:  # no half-written shards left behind; the error says which rank failed and why
            shutil.rmtree(shards, ignore_errors=True)
        raise
    return BuildResult(merged, len(paths), time.perf_counter() - start, merged.skipped if merged else ())


class ShardBuildError(RuntimeError):
    """A rank of a sharded index build failed; raised on every rank (none waits for a barrier timeout)."""


def _on_every_rank(step: Callable[[], Any], what: str) -> Any:
    """Run ``step`` on this rank, then agree on the outcome: if any rank failed, every rank raises
    :class:`ShardBuildError` naming the failing ranks (the failing rank also gives its own error), instead
    of the healthy ranks waiting at a barrier until the process-group timeout. Only a flag per rank is
    exchanged (an all-reduce of a tensor; nothing is pickled)."""
    result, failure = None, None
    try:
        result = step()
    except Exception as exc:  # reported to every rank below, then chained as the cause here
        failure = exc
    device = torch.device('cuda', torch.cuda.current_device()) if dist.get_backend() == 'nccl' else 'cpu'
    flags = torch.zeros(dist.get_world_size(), dtype=torch.int32, device=device)
    flags[dist.get_rank()] = int(failure is not None)
    dist.all_reduce(flags)
    failed = [r for r, flag in enumerate(flags.tolist()) if flag]
    if failed:
        text = f'build_index: rank(s) {failed} failed while {what}'
        text += f': {type(failure).__name__}: {failure}' if failure is not None else '; see the log of those ranks'
        raise ShardBuildError(text) from failure
    return result

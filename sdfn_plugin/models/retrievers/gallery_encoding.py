"""Encoding a dataset of images into gallery embeddings, split across ranks."""
import time
from typing import List, Optional, Tuple

import torch
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.dist import all_gather, get_dist_info
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader, Dataset

from sdfn_plugin.datasets.image_list import BAD_IMAGE_KEY

__all__ = ['encode_gallery', 'encode_dataset']
#: seconds between two progress lines on rank 0
PROGRESS_INTERVAL_S = 10.0


def _collate(items: list) -> Tuple[Optional[dict], List[int], List[str]]:
    """``pseudo_collate`` of the decodable items, the positions and paths of the others."""
    bad = [i for i, item in enumerate(items) if BAD_IMAGE_KEY in item]
    good = [item for item in items if BAD_IMAGE_KEY not in item]
    return (pseudo_collate(good) if good else None), bad, [items[i][BAD_IMAGE_KEY] for i in bad]


class _Progress:
    """Rank-0 log lines with rate and ETA every :data:`PROGRESS_INTERVAL_S` seconds."""

    def __init__(self, total: int, world: int, enabled: bool) -> None:
        self.total, self.world, self.enabled = total, world, enabled
        self.start = self.last = time.perf_counter()

    def update(self, done_local: int) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        done = min(self.total, done_local * self.world)  # ranks advance at about the same pace
        rate = done / (now - self.start)
        eta = (self.total - done) / rate if rate > 0 else float('inf')
        MMLogger.get_current_instance().info(
            f'gallery encoding: {done}/{self.total} images, {rate:.1f} images/s, ETA {eta:.0f} s')

    def finish(self) -> float:
        seconds = time.perf_counter() - self.start
        if self.enabled:
            MMLogger.get_current_instance().info(
                f'gallery encoding: {self.total} images in {seconds:.1f} s '
                f'({self.total / max(seconds, 1e-9):.1f} images/s)')
        return seconds


@torch.no_grad()
def encode_dataset(model, dataset: Dataset, batch_size: int, num_workers: int = 0, progress: bool = False,
                   distributed: bool = True) -> Tuple[torch.Tensor, List[int]]:
    """Gallery embeddings of ``dataset`` in dataset order, identical on every rank, and the
    positions of the items that could not be decoded (their rows are zero).

    Each rank encodes the interleaved shard ``DefaultSampler(shuffle=False)`` gives
    it (padded to equal length), then shards are all-gathered and re-interleaved,
    so the work is split across GPUs and nothing is written to disk
    (``distributed=False``: this rank encodes the whole ``dataset``, e.g. its own
    shard of a large gallery). The model is
    encoded in eval mode (mmengine calls ``before_val_epoch`` while it is still in
    train mode) and its mode is restored. DataLoader workers decode the next
    batches while the model encodes the current one.
    """
    rank, world = get_dist_info()
    world = world if distributed else 1  # progress lines stay on rank 0 either way
    was_training = model.training
    model.eval()
    sampler = DefaultSampler(dataset, shuffle=False) if distributed else None  # None: in order
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate,
                        sampler=sampler, pin_memory=torch.cuda.is_available())
    meter = _Progress(len(dataset), world, progress and rank == 0)
    feats, valid, done = [], [], 0
    try:
        for batch, bad, _ in loader:
            size = len(batch['inputs']['img']) + len(bad) if batch is not None else len(bad)
            mask = torch.ones(size, dtype=torch.bool)
            mask[bad] = False
            if batch is not None:
                data = model.data_preprocessor(batch, False)
                emb = model.extract_gallery(data['inputs']['img'])
                if bad:
                    full = emb.new_zeros(size, emb.shape[1])
                    full[mask.to(emb.device)] = emb
                    emb = full
                feats.append(emb)
            else:
                feats.append(None)
            valid.append(mask)
            done += size
            meter.update(done)
    finally:
        model.train(was_training)
    dim = next((f.shape[1] for f in feats if f is not None), None)
    if dim is None:
        raise RuntimeError(f'gallery encoding: none of the {len(dataset)} images could be decoded')
    ref = next(f for f in feats if f is not None)
    local = torch.cat([f if f is not None else ref.new_zeros(m.numel(), dim) for f, m in zip(feats, valid)])
    mask = torch.cat(valid).to(local.device)
    if world > 1:
        # shard r holds items r, r+W, r+2W, ... -> stack (M, W, D) and flatten restores the order
        local = torch.stack(all_gather(local), dim=1).flatten(0, 1)
        # as uint8: not every backend gathers bool tensors
        mask = torch.stack(all_gather(mask.to(torch.uint8)), dim=1).flatten(0, 1).bool()
    meter.finish()
    local, mask = local[:len(dataset)], mask[:len(dataset)].cpu()
    return local, torch.nonzero(~mask).flatten().tolist()


def encode_gallery(model, dataset: Dataset, batch_size: int, num_workers: int = 0) -> torch.Tensor:
    """Gallery embeddings ``(G, D)`` in gallery-index order, identical on every rank
    (:func:`encode_dataset`; an undecodable image is an error here)."""
    embeddings, bad = encode_dataset(model, dataset, batch_size, num_workers)
    if bad:
        raise RuntimeError(f'gallery encoding: {len(bad)} item(s) could not be decoded (first at position {bad[0]})')
    return embeddings

"""Encoding a dataset of images into gallery embeddings, split across ranks."""
from typing import List, Optional, Tuple

import torch
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.dist import all_gather, get_dist_info
from torch.utils.data import DataLoader, Dataset

from sdfn_plugin.datasets.image_list import BAD_IMAGE_KEY
from sdfn_plugin.utils.progress import ProgressLogger

__all__ = ['encode_gallery', 'encode_dataset']


def _collate(items: list) -> Tuple[Optional[dict], List[int], List[str]]:
    """``pseudo_collate`` of the decodable items, the positions and paths of the others."""
    bad = [i for i, item in enumerate(items) if BAD_IMAGE_KEY in item]
    good = [item for item in items if BAD_IMAGE_KEY not in item]
    return (pseudo_collate(good) if good else None), bad, [items[i][BAD_IMAGE_KEY] for i in bad]


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
    _, world = get_dist_info()
    world = world if distributed else 1  # progress lines stay on rank 0 either way
    was_training = model.training
    model.eval()
    sampler = DefaultSampler(dataset, shuffle=False) if distributed else None  # None: in order
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate,
                        sampler=sampler, pin_memory=torch.cuda.is_available())
    # rank 0 logs for all ranks: they advance at about the same pace (shards padded to equal length)
    meter = ProgressLogger('gallery encoding', len(dataset), unit='images') if progress else None
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
            if meter is not None:
                meter.update(min(len(dataset), done * world) - meter.done)
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
    if meter is not None:
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

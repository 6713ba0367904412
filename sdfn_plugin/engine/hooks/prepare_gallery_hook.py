"""Encode the evaluation gallery once before each validation/test epoch."""
import torch
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.dist import all_gather, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from torch.utils.data import DataLoader

from sdfn_plugin.registry import HOOKS


@torch.no_grad()
def encode_gallery(model, dataset, batch_size: int, num_workers: int = 0) -> torch.Tensor:
    """Gallery embeddings ``(G, D)`` in gallery-index order, identical on every rank.

    Each rank encodes the interleaved shard ``DefaultSampler(shuffle=False)`` gives
    it (padded to equal length), then shards are all-gathered and re-interleaved,
    so the work is split across GPUs and nothing is written to disk.
    """
    rank, world = get_dist_info()
    # mmengine calls before_val_epoch while the model is still in train mode:
    # encode in eval mode (BatchNorm running statistics, no dropout) and restore.
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=pseudo_collate,
                        sampler=DefaultSampler(dataset, shuffle=False))
    feats = []
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        feats.append(model.extract_gallery(data['inputs']['img']))
    model.train(was_training)
    local = torch.cat(feats)
    if world > 1:
        # shard r holds items r, r+W, r+2W, ... -> stack (M, W, D) and flatten restores the order
        local = torch.stack(all_gather(local), dim=1).flatten(0, 1)
    return local[:len(dataset)]


@HOOKS.register_module()
class PrepareGalleryHook(Hook):
    """Calls ``model.set_gallery(encode_gallery(...))`` before each val/test epoch
    and frees the gallery afterwards (mmpretrain's prototype-preparation pattern).

    The gallery comes from the evaluation dataset's ``gallery_dataset()``; batch
    size and workers follow the evaluation dataloader.
    """

    priority = 'NORMAL'

    def _prepare(self, runner, dataloader) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        dataset = dataloader.dataset
        if not hasattr(dataset, 'gallery_dataset'):
            raise TypeError(f'{type(dataset).__name__} has no gallery_dataset(); evaluation needs a CIR dataset')
        gallery = dataset.gallery_dataset()
        model.set_gallery(encode_gallery(model, gallery, dataloader.batch_size or 32,
                                         getattr(dataloader, 'num_workers', 0)))
        # one line per evaluation so that protocol mix-ups (pairs, list, gallery) show in every log
        if hasattr(dataset, 'protocol_summary'):
            line = dataset.protocol_summary(bool(getattr(model, 'exclude_reference', True)))
        else:
            line = f'evaluation protocol: {len(dataset)} queries against a gallery of {len(gallery)} images'
        MMLogger.get_current_instance().info(line)

    def _release(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.set_gallery(None)

    def before_val_epoch(self, runner) -> None:
        self._prepare(runner, runner.val_dataloader)

    def before_test_epoch(self, runner) -> None:
        self._prepare(runner, runner.test_dataloader)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._release(runner)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._release(runner)

"""Install the evaluation gallery in the model before each validation/test epoch."""
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper

from sdfn_plugin.models.retrievers.gallery_encoding import encode_gallery
from sdfn_plugin.registry import HOOKS

__all__ = ['PrepareGalleryHook', 'prepare_evaluation_gallery', 'encode_gallery']


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def prepare_evaluation_gallery(model, dataloader) -> None:
    """``model.prepare_gallery`` over the gallery of an evaluation dataloader's dataset
    (batch size and workers of that dataloader) and one protocol log line."""
    dataset = dataloader.dataset
    if not hasattr(dataset, 'gallery_dataset'):
        raise TypeError(f'{type(dataset).__name__} has no gallery_dataset(); evaluation needs a CIR dataset')
    gallery = dataset.gallery_dataset()
    _unwrap(model).prepare_gallery(gallery, dataloader.batch_size or 32, getattr(dataloader, 'num_workers', 0),
                                   progress=True, fingerprint=False)
    # one line per evaluation so that protocol mix-ups (pairs, list, gallery) show in every log
    if hasattr(dataset, 'protocol_summary'):
        line = dataset.protocol_summary(bool(getattr(_unwrap(model), 'exclude_reference', True)))
    else:
        line = f'evaluation protocol: {len(dataset)} queries against a gallery of {len(gallery)} images'
    MMLogger.get_current_instance().info(line)


@HOOKS.register_module()
class PrepareGalleryHook(Hook):
    """Calls ``model.prepare_gallery(...)`` on the evaluation dataset's gallery before
    each val/test epoch and ``model.set_gallery(None)`` afterwards (mmpretrain's
    prototype-preparation pattern: the model owns its gallery index).

    Batch size and workers follow the evaluation dataloader. Loops over several
    datasets (:class:`~sdfn_plugin.engine.loops.MultiValLoop`) switch to the next
    dataset's gallery themselves.
    """

    priority = 'NORMAL'

    def before_val_epoch(self, runner) -> None:
        prepare_evaluation_gallery(runner.model, runner.val_dataloader)

    def before_test_epoch(self, runner) -> None:
        prepare_evaluation_gallery(runner.model, runner.test_dataloader)

    def after_val_epoch(self, runner, metrics=None) -> None:
        _unwrap(runner.model).set_gallery(None)

    def after_test_epoch(self, runner, metrics=None) -> None:
        _unwrap(runner.model).set_gallery(None)

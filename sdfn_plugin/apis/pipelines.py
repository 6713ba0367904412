"""The test-time query pipeline of a config, for reference images given in memory
(the gallery side: :func:`sdfn_plugin.apis.index_builder.gallery_pipeline`)."""
import copy
from typing import List

from mmengine.config import Config

__all__ = ['query_pipeline_cfg', 'test_dataset_cfg']

_LOADERS = ('LoadCIRImages', 'sdfn_plugin.LoadCIRImages')


def test_dataset_cfg(cfg: Config) -> dict:
    """The (first) test dataset config; several test loaders (FashionIQ's categories) share transforms."""
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if isinstance(loader, (list, tuple)):
        loader = loader[0] if loader else None
    dataset = loader.get('dataset') if loader else None
    while isinstance(dataset, dict) and 'datasets' in dataset:  # ConcatDataset-style wrappers
        dataset = dataset['datasets'][0]
    if not isinstance(dataset, dict):
        raise KeyError(f'config {cfg.filename!r} has no test_dataloader.dataset: its test pipeline defines how '
                       'query and gallery images are transformed')
    return dataset


def query_pipeline_cfg(cfg: Config) -> List[dict]:
    """The test pipeline of the references without its loader (images are given in memory)."""
    pipeline = copy.deepcopy(list(test_dataset_cfg(cfg).get('pipeline', [])))
    return [t for t in pipeline if not (isinstance(t, dict) and t.get('type') in _LOADERS)]


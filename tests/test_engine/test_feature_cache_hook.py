"""FeatureCacheHook with the real Runner on the tiny CSS benchmark: train and evaluate from the cache,
then again after the images are gone."""
import inspect
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from cir_testlib import write_tiny_config
from sdfn_plugin.datasets.transforms import read_image
from sdfn_plugin.engine.hooks import FeatureCacheHook, encode_gallery

# ResNet-18 frozen as a whole (stem + 4 stages, BatchNorm) without projection: 512-d tokens,
# the width of the TIRG config; 64-px images give a 2x2 map.
_EXTRA = """
model = dict(image_encoder=dict(_delete_=True, type='TorchvisionResNet', depth=18, out_dim=None, frozen_stages=4,
                                frozen_bn=True),
             feature_cache=dict(dir={cache!r}, dtype='float32'))
custom_hooks = [dict(type='FeatureCacheHook', batch_size=64), dict(type='PrepareGalleryHook'),
                dict(type='EpochReseedHook')]
{more}
"""


def _runner(tmp_path, data_root, name, more=''):
    path = write_tiny_config(str(tmp_path / f'{name}.py'), 'tirg_css.py', data_root, max_epochs=1,
                             extra=_EXTRA.format(cache=str(tmp_path / 'cache'), more=more))
    cfg = Config.fromfile(path)
    cfg.work_dir = str(tmp_path / name)
    names = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
    runner = Runner(**{k: cfg[k] for k in names if k in cfg})
    calls = []
    runner.model.image_encoder.register_forward_hook(lambda *args: calls.append(1))
    hook = next(h for h in runner.hooks if isinstance(h, FeatureCacheHook))
    return runner, calls, hook


def test_train_and_evaluate_from_the_cache_then_without_the_images(tmp_path, css_root):
    data_root = str(tmp_path / 'css')
    shutil.copytree(css_root, data_root)
    runner, calls, hook = _runner(tmp_path, data_root, 'first')
    runner.train()  # builds the train cache (192 images) and, at validation, the test cache (refs + gallery)
    first = runner.test()  # the test dataloader's dataset reuses the test cache
    assert hook.stats['built'] == 2 and hook.stats['reused'] == 1
    assert len(calls) == 3 + 1  # ceil(192 / 64) + ceil(43 / 64) build batches; no step ran the tower
    # the gallery the hook installed for evaluation equals the tower's live features
    dataset = runner.test_dataloader.dataset
    cached = encode_gallery(runner.model, dataset.gallery_dataset(), batch_size=64)
    with torch.no_grad():
        images = [read_image(item['img_path']) for item in dataset.gallery]
        x = runner.model.data_preprocessor({'inputs': {'img': images}}, False)['inputs']['img']
        live = runner.model.extract_gallery(x)
    assert torch.equal(cached, live)

    image_dir = next(d for d in (osp.join(r, 'images') for r, _, _ in os.walk(data_root)) if osp.isdir(d))
    os.rename(image_dir, image_dir + '_gone')
    runner, calls, hook = _runner(tmp_path, data_root, 'second')
    runner.train()
    second = runner.test()
    assert calls == [] and hook.stats['built'] == 0 and hook.stats['reused'] == 3
    assert second == first  # same seed, same cached features: the same model


def test_random_augmentation_in_the_train_pipeline_is_an_error(tmp_path, css_root):
    more = """train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadCIRImages', keys=('ref', 'tgt')), dict(type='RandomFlipImages', keys=('ref', 'tgt')),
    dict(type='PackCIRInputs')]))"""
    runner, calls, _ = _runner(tmp_path, css_root, 'flip', more)
    with pytest.raises(ValueError, match='train_dataloader.dataset.pipeline has the random augmentation '
                                         'RandomFlipImages'):
        runner.train()
    assert calls == []


def test_the_hook_needs_model_feature_cache(tmp_path, css_root):
    runner, _, _ = _runner(tmp_path, css_root, 'nocache', 'model = dict(feature_cache=None)')
    with pytest.raises(RuntimeError, match='the model has no feature cache'):
        runner.train()

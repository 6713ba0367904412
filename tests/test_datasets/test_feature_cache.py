"""Feature cache: key, reuse, rebuild of stale/corrupt/partial caches, stored values."""
import json
import os
import pickle
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from sdfn_plugin.datasets.feature_cache import FeatureCacheConfig, check_store, normalize_path, write_store
from sdfn_plugin.datasets.feature_cache.builder import CacheRequest, ensure_cache
from sdfn_plugin.datasets.feature_cache.pipeline import image_chains, swap_in_cache
from sdfn_plugin.datasets.feature_cache.store import MANIFEST, POOLED, TOKENS, FeatureStore
from sdfn_plugin.datasets.transforms import (LoadCachedFeatures, LoadCIRImages, PackCIRInputs, RandomCropImages,
                                             RandomFlipImages, ResizeImages, read_image)
from sdfn_plugin.models.encoders.image import SmallCNN
from sdfn_plugin.models.retrievers.data_preprocessor import CIRDataPreprocessor

ENCODER_CFG = dict(type='SmallCNN', channels=(4, 8), out_dim=6)


class _FrozenTower(nn.Module):
    """What the cache needs from a retriever: a real encoder, its config and preprocessor."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.image_encoder = SmallCNN(channels=(4, 8), out_dim=6).requires_grad_(False)
        self.image_encoder_cfg = dict(ENCODER_CFG)
        self.data_preprocessor = CIRDataPreprocessor()
        self.calls = 0
        self.image_encoder.register_forward_hook(self._count)

    def _count(self, module, inputs, output):
        self.calls += 1


def _write_images(folder, n, seed=0, size=16):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = os.path.join(folder, f'im_{i}.png')
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(normalize_path(path))
    return paths


def _request(paths, chain=None):
    chain = chain if chain is not None else [LoadCIRImages(keys=('img', ))]
    return CacheRequest(chain=chain, role='img', ids={p: {os.path.basename(p)} for p in paths})


def _live(tower, paths):
    images = [read_image(p) for p in paths]
    x = tower.data_preprocessor({'inputs': {'img': images}}, False)['inputs']['img']
    with torch.no_grad():
        return tower.image_encoder.eval()(x)


@pytest.fixture
def setup(tmp_path):
    paths = _write_images(str(tmp_path / 'images'), 5)
    return FeatureCacheConfig(dir=str(tmp_path / 'cache')), paths, _FrozenTower()


@pytest.mark.parametrize('dtype', ['float32', 'float16'])
def test_cached_features_equal_the_live_tower(tmp_path, dtype):
    paths = _write_images(str(tmp_path / 'images'), 5)
    tower = _FrozenTower().train()  # built in eval mode whatever the tower's mode, which is restored
    cfg = FeatureCacheConfig(dir=str(tmp_path / 'cache'), dtype=dtype)
    result = ensure_cache(tower, cfg, _request(paths), batch_size=5)
    assert tower.image_encoder.training
    live = _live(tower, paths)
    store = FeatureStore(result.folder)
    tokens = torch.stack([store.features(p).tokens for p in paths])
    pooled = torch.stack([store.features(p).pooled for p in paths])
    assert tokens.dtype == pooled.dtype == getattr(torch, dtype)
    assert tokens.shape == live.tokens.shape == (5, 16, 6)  # 16x16 -> 4x4 map
    if dtype == 'float32':  # same batch through the same tower: bit-identical
        assert torch.equal(tokens, live.tokens) and torch.equal(pooled, live.pooled)
    else:
        assert torch.allclose(tokens.float(), live.tokens, rtol=1e-3, atol=1e-3)
        assert torch.allclose(pooled.float(), live.pooled, rtol=1e-3, atol=1e-3)


def test_identical_key_reuses_the_cache_without_encoding(setup, caplog_mm):
    cfg, paths, tower = setup
    first = ensure_cache(tower, cfg, _request(paths), batch_size=2)
    assert first.built and tower.calls == 3  # ceil(5 / 2) batches
    # the build reports its progress (here only the closing line: it took less than the 10 s interval)
    assert re.search(rf'feature cache {os.path.basename(first.folder)}: 5 images in [0-9.]+ s', caplog_mm.text)
    again = ensure_cache(_FrozenTower(), cfg, _request(list(reversed(paths))), batch_size=2)
    assert not again.built and again.folder == first.folder
    assert tower.calls == 3


def _change_encoder_cfg(tower, paths, request):
    tower.image_encoder_cfg['out_dim'] = 7  # same weights, another config: not the same encoder
    return tower, request


def _change_weights(tower, paths, request):
    with torch.no_grad():
        tower.image_encoder.proj.weight[0, 0] += 1e-3
    return tower, request


def _change_bn_statistics(tower, paths, request):
    tower.image_encoder.body[1].running_mean[0] = 0.5
    return tower, request


def _change_transform(tower, paths, request):
    return tower, _request(paths, [LoadCIRImages(keys=('img', )), ResizeImages(8, keys=('img', ))])


def _change_normalisation(tower, paths, request):
    tower.data_preprocessor = CIRDataPreprocessor(mean=(0, 0, 0), std=(1, 1, 1))
    return tower, request


def _change_image_list(tower, paths, request):
    return tower, _request(paths[:-1])


def _change_image_id(tower, paths, request):
    request.ids[paths[0]] = {'renamed'}
    return tower, request


@pytest.mark.parametrize('change', [_change_encoder_cfg, _change_weights, _change_bn_statistics, _change_transform,
                                    _change_normalisation, _change_image_list, _change_image_id])
def test_any_change_of_the_key_recomputes(setup, change):
    cfg, paths, tower = setup
    first = ensure_cache(tower, cfg, _request(paths), batch_size=8)
    tower, request = change(tower, paths, _request(paths))
    tower.calls = 0
    second = ensure_cache(tower, cfg, request, batch_size=8)
    assert second.built and second.folder != first.folder and tower.calls == 1
    assert check_store(first.folder, _key_of(first.folder))[0] is None  # the other cache is kept


def _key_of(folder):
    from sdfn_plugin.datasets.feature_cache.key import CacheKey
    return CacheKey(**json.load(open(os.path.join(folder, MANIFEST)))['key'])


def test_storage_dtype_is_part_of_the_key(setup):
    cfg, paths, tower = setup
    a = ensure_cache(tower, cfg, _request(paths), batch_size=8)
    b = ensure_cache(tower, FeatureCacheConfig(dir=cfg.dir, dtype='float16'), _request(paths), batch_size=8)
    assert b.built and a.folder != b.folder


def test_a_rewritten_image_rebuilds_and_a_missing_one_does_not(setup, caplog_mm):
    cfg, paths, tower = setup
    first = ensure_cache(tower, cfg, _request(paths), batch_size=8)
    _write_images(os.path.dirname(paths[0]), 1, seed=7)  # new content for im_0.png
    again = ensure_cache(tower, cfg, _request(paths), batch_size=8)
    assert again.built and again.folder == first.folder
    assert f"image {paths[0]!r} changed since the cache was built" in caplog_mm.text
    assert torch.equal(FeatureStore(again.folder).features(paths[0]).pooled, _live(tower, paths).pooled[0])
    for p in paths:
        os.remove(p)
    tower.calls = 0
    gone = ensure_cache(tower, cfg, _request(paths), batch_size=8)
    assert not gone.built and gone.missing_images == 5 and tower.calls == 0


def _truncate_tokens(folder):
    with open(os.path.join(folder, TOKENS), 'r+b') as f:
        f.truncate(os.path.getsize(os.path.join(folder, TOKENS)) - 4)


def _flip_a_pooled_byte(folder):
    path = os.path.join(folder, POOLED)
    data = bytearray(open(path, 'rb').read())
    data[-1] ^= 0xFF  # same size, other value
    open(path, 'wb').write(bytes(data))


def _drop_manifest(folder):
    os.remove(os.path.join(folder, MANIFEST))  # what an interrupted write before the manifest leaves


def _edit_manifest(folder):
    path = os.path.join(folder, MANIFEST)
    manifest = json.load(open(path))
    manifest['paths'][0], manifest['paths'][1] = manifest['paths'][1], manifest['paths'][0]
    json.dump(manifest, open(path, 'w'))


def _truncate_manifest(folder):
    path = os.path.join(folder, MANIFEST)
    text = open(path).read()
    open(path, 'w').write(text[:len(text) // 2])


@pytest.mark.parametrize('damage, reason', [
    (_truncate_tokens, 'tokens.npy is missing or truncated'), (_flip_a_pooled_byte, 'pooled.npy checksum mismatch'),
    (_drop_manifest, 'no manifest.json (interrupted or partial write)'),
    (_edit_manifest, 'manifest.json checksum mismatch'), (_truncate_manifest, 'manifest.json is not valid JSON')])
def test_a_corrupt_or_partial_cache_is_detected_and_rebuilt(setup, caplog_mm, damage, reason):
    cfg, paths, tower = setup
    first = ensure_cache(tower, cfg, _request(paths), batch_size=8)
    damage(first.folder)
    assert check_store(first.folder, _key_from(tower, cfg, paths))[0].startswith(reason)
    tower.calls = 0
    again = ensure_cache(tower, cfg, _request(paths), batch_size=8)
    assert again.built and tower.calls == 1 and f'({reason}' in caplog_mm.text
    assert check_store(again.folder, _key_from(tower, cfg, paths)) == (None, 0)
    live = _live(tower, paths)
    assert torch.equal(torch.stack([FeatureStore(again.folder).features(p).pooled for p in paths]), live.pooled)


def _key_from(tower, cfg, paths):
    from sdfn_plugin.datasets.feature_cache.key import build_key
    request = _request(paths)
    return build_key(tower.image_encoder, tower.image_encoder_cfg, tower.data_preprocessor, request.description,
                     sorted(paths), {p: sorted(v) for p, v in request.ids.items()}, cfg.dtype)


def test_an_interrupted_build_leaves_nothing_that_looks_complete(setup):
    cfg, paths, tower = setup
    key = _key_from(tower, cfg, paths)

    def batches():
        yield torch.zeros(2, 16, 6), torch.zeros(2, 6)
        raise KeyboardInterrupt  # killed mid-way

    with pytest.raises(KeyboardInterrupt):
        write_store(cfg.dir, key, sorted(paths), batches(), np.float32)
    assert os.listdir(cfg.dir) == []  # neither the final folder nor a temporary one
    assert ensure_cache(tower, cfg, _request(paths), batch_size=8).built


def test_random_augmentations_cannot_be_cached():
    for random in (RandomFlipImages(keys=('ref', 'tgt')), RandomCropImages(8, keys=('ref', 'tgt'))):
        name = type(random).__name__
        with pytest.raises(ValueError, match=f'train_dataloader.dataset.pipeline has the random augmentation {name}'):
            image_chains([LoadCIRImages(), random, PackCIRInputs()], 'train_dataloader.dataset.pipeline')


def test_a_transform_without_keys_is_refused():
    def strip_text(results):
        return results

    with pytest.raises(ValueError, match='transform function has no `keys` sequence'):
        image_chains([LoadCIRImages(), strip_text, PackCIRInputs()], 'pipeline')


def test_image_chains_and_the_swapped_pipeline():
    load, resize_ref, pack = LoadCIRImages(keys=('ref', 'tgt')), ResizeImages(8, keys=('ref', )), PackCIRInputs()
    chains = image_chains([load, resize_ref, pack], 'p')
    assert chains == {'ref': [load, resize_ref], 'tgt': [load]}
    swapped = swap_in_cache([load, resize_ref, pack], {'ref': '/c/a', 'tgt': '/c/b'}, 'p')
    assert [type(t).__name__ for t in swapped] == ['LoadCachedFeatures', 'LoadCachedFeatures', 'PackCIRInputs']
    assert [(t.store.folder, t.keys) for t in swapped[:2]] == [('/c/a', ('ref', )), ('/c/b', ('tgt', ))]
    # an evaluation query pipeline loads only the reference; a resize with its default keys (ref, tgt, img)
    # does not make tgt or img images of it
    load_ref, resize_all = LoadCIRImages(keys=('ref', )), ResizeImages(8)
    assert image_chains([load_ref, resize_all, pack], 'p') == {'ref': [load_ref, resize_all]}


def test_load_cached_features_reads_the_row_of_each_path_and_survives_pickling(setup):
    cfg, paths, tower = setup
    folder = ensure_cache(tower, cfg, _request(paths), batch_size=8).folder
    live = _live(tower, paths)
    transform = pickle.loads(pickle.dumps(LoadCachedFeatures(folder, keys=('ref', 'tgt'))))  # spawned workers
    out = transform({'ref_path': paths[3], 'tgt_path': os.path.relpath(paths[1]), 'text': 'x'})
    assert torch.equal(out['ref'].tokens, live.tokens[3]) and torch.equal(out['tgt'].pooled, live.pooled[1])
    with pytest.raises(KeyError, match='has no features for image'):
        transform({'ref_path': '/elsewhere.png', 'tgt_path': paths[0]})


def test_folders_verified_in_this_process_are_not_hashed_again(setup):
    cfg, paths, tower = setup
    verified = set()
    first = ensure_cache(tower, cfg, _request(paths), batch_size=8, verified=verified)
    assert verified == {first.folder}
    _flip_a_pooled_byte(first.folder)  # would be caught by a full check, which is skipped
    again = ensure_cache(tower, cfg, _request(paths), batch_size=8, verified=verified)
    assert not again.built and again.seconds == 0.0
    assert ensure_cache(tower, cfg, _request(paths), batch_size=8, verified=set()).built

from collections import defaultdict

import pytest

from sdfn_plugin.datasets import CSSDataset
from sdfn_plugin.datasets.css import load_css_annotations
from sdfn_plugin.utils import register_all_modules

from cir_testlib import TINY

register_all_modules()


def _dataset(root, split, **kw):
    pipeline = [dict(type='LoadCIRImages', keys=('ref', 'tgt') if split == 'train' else ('ref', )),
                dict(type='PackCIRInputs')]
    return CSSDataset(data_root=root, split=split, pipeline=pipeline, **TINY, **kw)


def test_test_split_ground_truth_is_scene_equality(css_root):
    ds = _dataset(css_root, 'test', test_mode=True)
    assert len(ds) == TINY['num_test']
    # one reference per 3 queries (one per kind), plus every target
    assert len(ds.gallery) == -(-TINY['num_test'] // 3) + TINY['num_test']
    import glob
    ann = load_css_annotations(glob.glob(f'{css_root}/*/annotations.json')[0])['test']
    scenes = [im['scene'] for im in ann['images']]
    ids = [im['id'] for im in ann['images']]
    assert [g['img_id'] for g in ds.gallery] == ids
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        tgt_scene = scenes[ids.index(info['tgt_id'])]
        brute = [j for j, s in enumerate(scenes) if s == tgt_scene]
        assert info['gt_gallery_idx'] == brute
        assert ids[info['ref_gallery_idx']] == info['ref_id']
        assert info['ref_gallery_idx'] not in brute  # a modification always changes the scene


def test_several_gallery_images_can_be_correct(css_root):
    ds = _dataset(css_root, 'test', test_mode=True)
    counts = defaultdict(int)
    for i in range(len(ds)):
        counts[len(ds.get_data_info(i)['gt_gallery_idx'])] += 1
    assert min(counts) >= 1


def test_train_item_packs_images_text_and_sample_idx(css_root):
    ds = _dataset(css_root, 'train')
    item = ds[5]
    assert set(item['inputs']) == {'ref', 'tgt', 'text'}
    assert tuple(item['inputs']['ref'].shape) == (3, TINY['image_size'], TINY['image_size'])
    assert item['data_samples'].sample_idx == 5
    assert item['inputs']['text'] == ds.get_data_info(5)['text']
    assert len(ds.texts()) == TINY['num_train']


def test_gallery_dataset_loads_gallery_images(css_root):
    ds = _dataset(css_root, 'test', test_mode=True)
    gallery = ds.gallery_dataset()
    assert len(gallery) == len(ds.gallery)
    assert gallery[3]['inputs']['img'].shape[0] == 3


def test_bad_split_and_missing_root():
    with pytest.raises(ValueError, match="CSSDataset.split must be one of"):
        CSSDataset(data_root='x', split='val')
    with pytest.raises(ValueError, match='data_root is empty'):
        CSSDataset(data_root='', split='train')

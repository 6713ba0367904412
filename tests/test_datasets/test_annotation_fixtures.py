"""Every real-dataset parser on the excerpts in ``tests/data`` (runs in any clone, without ``../shared``).

Expected values are recomputed here from the excerpt files by brute force, independently of the loaders.
"""
import json
import os.path as osp

import pytest

from cir_testlib import FIXTURE_DATA
from sdfn_plugin.datasets import FashionIQDataset, ShoesDataset

FIQ = osp.join(FIXTURE_DATA, 'fashioniq')
SHOES = osp.join(FIXTURE_DATA, 'shoes')


def _json(*parts):
    with open(osp.join(*parts)) as f:
        return json.load(f)


def _lines(name):
    with open(osp.join(SHOES, name)) as f:
        return [line.strip() for line in f if line.strip()]


def _check_indices(ds):
    for i in range(len(ds)):
        q = ds.get_data_info(i)
        for g in q['gt_gallery_idx']:
            assert ds.gallery[g]['img_id'] == q['tgt_id']
        if q['ref_gallery_idx'] >= 0:
            assert ds.gallery[q['ref_gallery_idx']]['img_id'] == q['ref_id']


# ------------------------------------------------------------------ FashionIQ
@pytest.mark.parametrize('cat', ['dress', 'toptee'])
def test_fashioniq_val_protocols(cat):
    triplets = _json(FIQ, 'captions', f'cap.{cat}.val.json')
    non_empty = sum(bool(c.strip()) for t in triplets for c in t['captions'])
    union = sorted({t[k] for t in triplets for k in ('candidate', 'target')})
    for mode, expected in (('concat_one', len(triplets)), ('concat_both', 2 * len(triplets)), ('single', non_empty)):
        ds = FashionIQDataset(FIQ, split='val', categories=cat, caption_mode=mode, check_images=False)
        assert len(ds) == expected, mode
        assert [g['img_id'] for g in ds.gallery] == union
        _check_indices(ds)
    split = FashionIQDataset(FIQ, split='val', categories=cat, gallery='split', check_images=False)
    assert [g['img_id'] for g in split.gallery] == _json(FIQ, 'image_splits', f'split.{cat}.val.json')
    assert len(split.gallery) == len(union) + 3  # the excerpt keeps three distractors of the split file
    _check_indices(split)
    q = split.get_data_info(0)
    assert (q['ref_id'], q['tgt_id']) == (triplets[0]['candidate'], triplets[0]['target'])
    assert q['text'] == ' <and> '.join(c.strip() for c in triplets[0]['captions'])


def test_fashioniq_excerpt_keeps_an_empty_caption_and_the_test_split_has_no_targets():
    toptee = _json(FIQ, 'captions', 'cap.toptee.val.json')
    assert sum(not c.strip() for t in toptee for c in t['captions']) == 1
    train = FashionIQDataset(FIQ, split='train', categories=('dress', 'toptee'), check_images=False)
    assert len(train) == len(_json(FIQ, 'captions', 'cap.dress.train.json')) + len(
        _json(FIQ, 'captions', 'cap.toptee.train.json')) == 18
    with pytest.raises(Exception, match='test'):
        FashionIQDataset(FIQ, split='test', categories='dress', check_images=False)


# ------------------------------------------------------------------ Shoes
def _expected_shoes(names, pairs):
    anns = _json(SHOES, 'relative_captions_shoes.json')
    listed = set(names)
    if pairs == 'filter':
        return [a for a in anns if a['ImageName'] in listed and a['ReferenceImageName'] in listed]
    # scan: for every listed name, every annotation that mentions it (in-split triplets twice)
    return [a for n in names for a in anns if n in (a['ImageName'], a['ReferenceImageName'])]


@pytest.mark.parametrize('pairs', ['filter', 'scan'])
@pytest.mark.parametrize('eval_list,list_file', [('original_4621', 'eval_im_names.4621.txt'),
                                                 ('current', 'eval_im_names.txt')])
def test_shoes_eval_protocols(pairs, eval_list, list_file):
    names = _lines(list_file)
    ds = ShoesDataset(SHOES, split='eval', pairs=pairs, eval_list=eval_list, check_images=False)
    expected = _expected_shoes(names, pairs)
    assert len(ds) == len(expected)
    assert [g['img_id'] for g in ds.gallery] == names
    assert sorted((q['ref_id'], q['tgt_id']) for q in map(ds.get_data_info, range(len(ds)))) == sorted(
        (a['ReferenceImageName'], a['ImageName']) for a in expected)
    _check_indices(ds)
    listed = set(names)
    outside_tgt = sum(a['ImageName'] not in listed for a in expected)
    outside_ref = sum(a['ReferenceImageName'] not in listed for a in expected)
    assert (ds.stats['target_outside_gallery'], ds.stats['reference_outside_gallery']) == (outside_tgt, outside_ref)
    # the excerpt has one straddling triplet of each kind on the original list, none on the current one
    assert (outside_tgt, outside_ref) == ((1, 1) if (pairs, eval_list) == ('scan', 'original_4621') else (0, 0))


def test_shoes_lists_and_train_split():
    current, original = _lines('eval_im_names.txt'), _lines('eval_im_names.4621.txt')
    assert current[:len(original)] == original and len(current) > len(original)
    train = _lines('train_im_names.txt')
    assert not set(train) & set(current)
    for pairs in ('filter', 'scan'):
        ds = ShoesDataset(SHOES, split='train', pairs=pairs, check_images=False)
        assert len(ds) == len(_expected_shoes(train, pairs)) and ds.gallery == []
    anns = _json(SHOES, 'relative_captions_shoes.json')
    assert sum(a['ImageName'] == a['ReferenceImageName'] for a in anns) == 2  # one in train, one in eval


# ------------------------------------------------------------------ the official-files switch
def test_official_data_skips_locally_and_fails_under_ci(tmp_path, monkeypatch):
    import cir_testlib
    monkeypatch.setattr(cir_testlib, 'SHARED_DATA', str(tmp_path))
    monkeypatch.delenv('CI', raising=False)
    with pytest.raises(pytest.skip.Exception, match='official shoes annotations not found'):
        cir_testlib.official_data('shoes', 'relative_captions_shoes.json')
    monkeypatch.setenv('CI', 'true')
    with pytest.raises(pytest.fail.Exception, match='CI=true requires them'):
        cir_testlib.official_data('shoes', 'relative_captions_shoes.json')
    (tmp_path / 'shoes').mkdir()
    (tmp_path / 'shoes' / 'relative_captions_shoes.json').write_text('[]')
    assert cir_testlib.official_data('shoes', 'relative_captions_shoes.json') == str(tmp_path / 'shoes')


# ------------------------------------------------------------------ CIRCO
def test_circo_excerpt_over_an_id_named_folder(tmp_path):
    from sdfn_plugin.datasets import CIRCODataset
    from sdfn_plugin.testing.placeholders import write_placeholder_images
    root = osp.join(FIXTURE_DATA, 'circo')
    val, test = _json(root, 'annotations', 'val.json'), _json(root, 'annotations', 'test.json')
    ids = sorted({q['reference_img_id'] for q in val + test} | {g for q in val for g in q['gt_img_ids']} | {1, 2})
    write_placeholder_images([str(tmp_path / f'{i:012d}.jpg') for i in ids])
    kw = dict(image_info=None, image_dir=str(tmp_path))
    ds = CIRCODataset(root, split='val', **kw)
    assert len(ds) == len(val) and ds.metainfo['gallery_ids'] == ids
    for i, q in enumerate(val):
        info = ds.get_data_info(i)
        assert [ids[r] for r in info['gt_gallery_idx']] == q['gt_img_ids'] and ids[info['tgt_gallery_idx']] == \
            q['target_img_id'] and ids[info['ref_gallery_idx']] == q['reference_img_id']
    ds = CIRCODataset(root, split='test', **kw)
    assert [ds.get_data_info(i)['query_id'] for i in range(len(ds))] == [q['id'] for q in test]

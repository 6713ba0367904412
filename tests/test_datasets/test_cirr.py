"""CIRRDataset on the official rc2 val/test1 files (placeholder images), a training file in the val format, and
its bad-input errors on tiny hand-written trees."""
import json
import os
import os.path as osp

import pytest

from sdfn_plugin.datasets import CIRRDataset
from sdfn_plugin.testing.placeholders import write_placeholder_images


@pytest.fixture(scope='module')
def cirr_val(cirr_root):
    return CIRRDataset(cirr_root, 'val')


def _official(cirr_root, split):
    with open(osp.join(cirr_root, 'captions', f'cap.rc2.{split}.json')) as f:
        caps = json.load(f)
    with open(osp.join(cirr_root, 'image_splits', f'split.rc2.{split}.json')) as f:
        names = list(json.load(f))
    return caps, names


def test_val_counts_and_protocol(cirr_root, cirr_val):
    ds = cirr_val
    caps, names = _official(cirr_root, 'val')
    assert (len(ds), len(ds.gallery), ds.stats['image_sets']) == (4181, 2297, 503)
    assert [g['img_id'] for g in ds.gallery] == names == ds.metainfo['gallery_ids']
    assert ds.metainfo['ann_file'] == osp.abspath(osp.join(cirr_root, 'captions', 'cap.rc2.val.json'))
    assert osp.isfile(ds.gallery[0]['img_path']) and '/dev/' in ds.gallery[0]['img_path']
    for i, c in enumerate(caps):
        q = ds.get_data_info(i)
        assert (q['query_id'], q['ref_id'], q['tgt_id'], q['text']) == (
            c['pairid'], c['reference'], c['target_hard'], c['caption'].strip())
        members = c['img_set']['members']
        assert len(members) == 6 and c['reference'] in members and c['target_hard'] in members
        assert names[q['ref_gallery_idx']] == c['reference'] and [names[g] for g in q['gt_gallery_idx']] == [
            c['target_hard']]
        assert [names[g] for g in q['subset_gallery_idx']] == [m for m in members if m != c['reference']]
        assert q['target_soft'] == c['target_soft']
    assert 'CIRRDataset(split=\'val\'), version=rc2' in ds.protocol_summary()


def test_test1_counts_no_targets_and_the_empty_caption(cirr_root):
    ds = CIRRDataset(cirr_root, 'test1')
    caps, names = _official(cirr_root, 'test1')
    assert (len(ds), len(ds.gallery)) == (4148, 2315)
    queries = [ds.get_data_info(i) for i in range(len(ds))]
    assert all(q['gt_gallery_idx'] == [] and q['tgt_id'] is None and len(q['subset_gallery_idx']) == 5
               and q['ref_gallery_idx'] not in q['subset_gallery_idx'] for q in queries)
    assert all(len(c['img_set']['members']) == 6 and c['reference'] in c['img_set']['members'] for c in caps)
    empty = [q for q in queries if q['query_id'] == 27098]
    assert [q['text'] for q in empty] == ['no change']  # the official caption is ' '
    with pytest.raises(ValueError, match=r"cap.rc2.test1.json'?: pairid 27098 has an empty caption \(1 in all\)"):
        CIRRDataset(cirr_root, 'test1', empty_caption=None)


def test_train_file_in_the_val_format(cirr_root):
    ds = CIRRDataset(cirr_root, 'train')
    assert len(ds) == 6 and ds.gallery == []
    q = ds.get_data_info(0)
    assert q['tgt_path'].startswith(osp.join(cirr_root, 'img_raw', 'train', '')) and osp.isfile(q['tgt_path'])
    assert osp.basename(osp.dirname(q['tgt_path'])).isdigit()  # numbered sub-folders
    assert 'subset_gallery_idx' not in q


# ---------------------------------------------------------------- bad input, on tiny trees
_NAMES = [f'dev-{i}-0-img0' for i in range(7)]


def _entry(pid=1, ref=0, tgt=1, members=range(6), **kw):
    e = dict(pairid=pid, reference=_NAMES[ref], target_hard=_NAMES[tgt], target_soft={_NAMES[tgt]: 1.0},
             caption='add a dog', img_set=dict(id=0, members=[_NAMES[m] for m in members]))
    e.update(kw)
    return e


def _tree(root, entries, split=None, images=_NAMES):
    os.makedirs(osp.join(root, 'captions'), exist_ok=True)
    os.makedirs(osp.join(root, 'image_splits'), exist_ok=True)
    split = split if split is not None else {n: f'./dev/{n}.png' for n in _NAMES}
    with open(osp.join(root, 'captions', 'cap.rc2.val.json'), 'w') as f:
        json.dump(entries, f)
    with open(osp.join(root, 'image_splits', 'split.rc2.val.json'), 'w') as f:
        json.dump(split, f)
    write_placeholder_images(osp.join(root, 'img_raw', 'dev', f'{n}.png') for n in images)
    return str(root)


@pytest.mark.parametrize('entries,split,message', [
    ([_entry(img_set=dict(id=0))], None, r'pairid 1 has no "img_set.members"'),
    ([_entry(members=range(5))], None, r'pairid 1 "img_set.members" must hold 6 distinct images'),
    ([_entry(ref=6)], None, r"pairid 1 reference 'dev-6-0-img0' is not among its img_set.members"),
    ([_entry(tgt=6)], None, r"pairid 1 target_hard 'dev-6-0-img0' is not among"),
    ([_entry(), _entry(pid=1)], None, r'pairid 1 appears twice \(entries 0 and 1\)'),
    ([_entry(pid='1')], None, r'entry 0 key "pairid" must be an integer'),
    ([{k: v for k, v in _entry().items() if k != 'target_hard'}], None, r"entry 0 has no key 'target_hard'"),
    ([_entry()], {n: f'./dev/{n}.png' for n in _NAMES[1:]}, r"pairid 1 img_set member\(s\) \['dev-0-0-img0'\] "
     r'are not in the split file'),
    ([_entry()], list(_NAMES), r'split.rc2.val.json.*must hold a JSON object \{image name: relative path\} '
     r'\(annotation version rc2\), got a list'),
])
def test_bad_annotations_name_file_and_pairid(tmp_path, entries, split, message):
    root = _tree(tmp_path, entries, split)
    with pytest.raises((ValueError, KeyError), match=message) as err:
        CIRRDataset(root, 'val')
    assert 'rc2.val.json' in str(err.value)


def test_wrong_version_names_the_files_found(tmp_path):
    root = _tree(tmp_path, [_entry()])
    os.rename(osp.join(root, 'captions', 'cap.rc2.val.json'), osp.join(root, 'captions', 'cap.rc1.val.json'))
    with pytest.raises(FileNotFoundError, match=r"cap.rc2.val.json'; found \['cap.rc1.val.json'\]: this loader "
                       "reads annotation version 'rc2' only"):
        CIRRDataset(root, 'val')


def test_missing_images_error_or_skip_with_counts(tmp_path, caplog_mm):
    entries = [_entry(pid=1, ref=0, tgt=1), _entry(pid=2, ref=2, tgt=3), _entry(pid=3, ref=6, tgt=1,
                                                                                members=[6, 1, 2, 3, 4, 5])]
    root = _tree(tmp_path, entries, images=[n for n in _NAMES if n != 'dev-5-0-img0'])
    with pytest.raises(FileNotFoundError, match=r"CIRR\(val\): 1 missing of the 7 image files.*dev-5-0-img0.png"):
        CIRRDataset(root, 'val')
    # dev-5 leaves the gallery; every query's set holds dev-5, so no Recall_subset can be ranked
    with pytest.raises(ValueError, match=r"CIRR\(val\): no queries left in .*cap.rc2.val.json'?: skip_missing "
                       r"dropped the images of a member of every image set \(first: \('pairid', 1\)"):
        CIRRDataset(root, 'val', skip_missing=True)
    assert 'skip_missing dropped 1 of 7 gallery images' in caplog_mm.text
    assert "dropped 3 of 3 queries whose image set lost a member" in caplog_mm.text


def test_skip_missing_keeps_complete_sets(tmp_path, caplog_mm):
    entries = [_entry(pid=1, ref=0, tgt=1), _entry(pid=3, ref=6, tgt=1, members=[6, 1, 2, 3, 4, 5])]
    root = _tree(tmp_path, entries, images=_NAMES[1:])
    ds = CIRRDataset(root, 'val', skip_missing=True)
    assert [ds.get_data_info(i)['query_id'] for i in range(len(ds))] == [3]
    q = ds.get_data_info(0)
    assert [ds.gallery[g]['img_id'] for g in q['subset_gallery_idx']] == _NAMES[1:6]
    assert "skip_missing dropped 1 of 2 queries" in caplog_mm.text

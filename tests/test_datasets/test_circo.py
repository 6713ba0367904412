"""CIRCODataset on the official annotations (shared/data/circo) over a placeholder COCO gallery.

Expected counts: the official files (docs/datasets.md, CIRCO): val 220 queries with 1-14 ground truths each
(916 in all, mean 4.16), test 800 queries on 798 distinct references.
"""
import json
import os
import os.path as osp
import shutil

import pytest

from sdfn_plugin.datasets import CIRCODataset
from sdfn_plugin.datasets.circo import list_coco_folder
from sdfn_plugin.datasets.transforms import PackCIRInputs
from sdfn_plugin.testing.placeholders import write_placeholder_images


def _raw(root, split):
    with open(osp.join(root, 'annotations', f'{split}.json')) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def val(circo_root):
    return CIRCODataset(circo_root, split='val')


@pytest.fixture(scope='module')
def test_split(circo_root):
    return CIRCODataset(circo_root, split='test', image_info=None)


def test_val_counts_and_ground_truth_rows(circo_root, val):
    raw = _raw(circo_root, 'val')
    assert len(val) == 220 and len(val.gallery) == 1903
    n_gts = [len(val.get_data_info(i)['gt_gallery_idx']) for i in range(len(val))]
    assert (min(n_gts), max(n_gts), sum(n_gts)) == (1, 14, 916) and round(sum(n_gts) / 220, 2) == 4.16
    assert val.stats == dict(queries=220, gallery=1903, gts=916, missing_gts=0, queries_without_gt=0)
    ids = val.metainfo['gallery_ids']
    assert ids == sorted(ids) and all(isinstance(g, int) for g in ids)  # image_info order (written sorted)
    assert val.metainfo['ann_file'] == osp.abspath(osp.join(circo_root, 'annotations', 'val.json'))
    for i, q in enumerate(raw):
        info = val.get_data_info(i)
        assert info['query_id'] == q['id'] and info['text'] == q['relative_caption'].strip()
        assert [ids[r] for r in info['gt_gallery_idx']] == q['gt_img_ids']
        assert ids[info['tgt_gallery_idx']] == info['tgt_id'] == q['target_img_id']
        assert ids[info['ref_gallery_idx']] == info['ref_id'] == q['reference_img_id']
        assert val.gallery[info['ref_gallery_idx']]['img_path'] == info['ref_path']


def test_test_split_has_ids_and_references_but_no_ground_truth(test_split, val):
    assert len(test_split) == 800 and test_split.metainfo['gallery_ids'] == val.metainfo['gallery_ids']
    infos = [test_split.get_data_info(i) for i in range(800)]
    assert [q['query_id'] for q in infos] == list(range(800))
    assert len({q['ref_id'] for q in infos}) == 798
    assert all(q['gt_gallery_idx'] == [] and q['tgt_id'] is None and q['tgt_gallery_idx'] == -1 for q in infos)
    assert all(test_split.metainfo['gallery_ids'][q['ref_gallery_idx']] == q['ref_id'] for q in infos)
    assert test_split.submission_metric == 'CIRCOSubmission'
    packed = PackCIRInputs()(dict(infos[0], ref=0))['data_samples'].metainfo  # what the metrics receive
    assert packed['query_id'] == 0 and packed['tgt_gallery_idx'] == -1


def test_text_format_and_reference_switch(circo_root):
    ds = CIRCODataset(circo_root, split='val', text_format='a photo of {shared_concept} that {relative_caption}',
                      exclude_reference=False, check_images=False)
    q = _raw(circo_root, 'val')[0]
    assert ds.get_data_info(0)['text'] == f'a photo of {q["shared_concept"]} that {q["relative_caption"]}'
    assert ds.get_data_info(0)['ref_gallery_idx'] == -1
    for bad, msg in (('{caption}', "unknown: \\['caption'\\]"), ('no field', 'at least one of the fields'),
                     ('{relative_caption', 'is not a format string')):
        with pytest.raises(ValueError, match=msg):
            CIRCODataset(circo_root, text_format=bad)


def test_folder_listing_rule(tmp_path, circo_root):
    folder = tmp_path / 'imgs'
    write_placeholder_images([str(folder / n) for n in ('000000000042.jpg', '7.JPG', 'notes.txt', '.hidden.jpg')])
    assert list_coco_folder(str(folder)) == [(7, str(folder / '7.JPG')), (42, str(folder / '000000000042.jpg'))]
    write_placeholder_images([str(folder / '42.jpg')])
    with pytest.raises(ValueError, match=r"1 COCO id\(s\) named by two files: '(000000000042.jpg / 42.jpg|42.jpg / "
                                         r"000000000042.jpg)'"):
        list_coco_folder(str(folder))
    os.remove(folder / '42.jpg')
    write_placeholder_images([str(folder / 'cat_01.jpg')])
    with pytest.raises(ValueError, match=r"1 image file\(s\) whose name is not a COCO image id: 'cat_01.jpg'"):
        list_coco_folder(str(folder))
    with pytest.raises(FileNotFoundError, match='CIRCO gallery folder not found'):
        list_coco_folder(str(tmp_path / 'nowhere'))


@pytest.fixture
def partial_root(tmp_path, circo_root):
    """A copy of the placeholder layout whose image_info and folder lack one ground truth of query 0."""
    root = tmp_path / 'circo'
    shutil.copytree(osp.join(circo_root, 'annotations'), root / 'annotations')
    gt = _raw(circo_root, 'val')[0]['gt_img_ids'][1]
    with open(osp.join(circo_root, 'COCO2017_unlabeled', 'annotations', 'image_info_unlabeled2017.json')) as f:
        info = json.load(f)
    info['images'] = [im for im in info['images'] if im['id'] != gt]
    (root / 'COCO2017_unlabeled' / 'annotations').mkdir(parents=True)
    (root / 'COCO2017_unlabeled' / 'annotations' / 'image_info_unlabeled2017.json').write_text(json.dumps(info))
    write_placeholder_images([str(root / 'COCO2017_unlabeled' / 'unlabeled2017' / im['file_name'])
                              for im in info['images']])
    return str(root), gt


def test_ground_truth_outside_the_gallery_is_an_error_or_dropped_with_counts(partial_root, caplog_mm):
    root, gt = partial_root
    with pytest.raises(ValueError, match=rf"1 of the 916 ground truths of 1 of the 220 queries are not in the gallery "
                                         rf"of 1902 images \(query id, COCO id: \(0, {gt}\)\).*missing_gts='drop'"):
        CIRCODataset(root, split='val', image_info=None)
    ds = CIRCODataset(root, split='val', missing_gts='drop')
    assert len(ds) == 220 and ds.stats['missing_gts'] == 1 and len(ds.get_data_info(0)['gt_gallery_idx']) == 2
    assert "missing_gts='drop': removed from their queries' ground truths" in caplog_mm.text
    assert '0 query(ies) left without any dropped' in caplog_mm.text


def test_missing_image_is_named_or_skipped(partial_root, caplog_mm):
    root, _ = partial_root
    ref = _raw(root, 'test')[5]['reference_img_id']
    os.remove(osp.join(root, 'COCO2017_unlabeled', 'unlabeled2017', f'{ref:012d}.jpg'))
    with pytest.raises(FileNotFoundError, match=rf'CIRCO\(test\): 1 missing of the 1902 image files .*{ref:012d}.jpg'):
        CIRCODataset(root, split='test')
    ds = CIRCODataset(root, split='test', skip_missing=True)
    assert len(ds) == 799 and len(ds.gallery) == 1901 and 5 not in [ds.get_data_info(i)['query_id'] for i in
                                                                     range(len(ds))]
    assert 'this protocol lost 1 of 800 queries and 1 of 1902 gallery images' in caplog_mm.text


def test_bad_annotation_files(tmp_path, circo_root):
    info = osp.join(circo_root, 'COCO2017_unlabeled', 'annotations', 'image_info_unlabeled2017.json')
    with pytest.raises(ValueError, match=r"image_info_unlabeled2017.json' must hold a JSON list, got dict"):
        CIRCODataset(circo_root, ann_file=info, check_images=False)
    cirr_like = tmp_path / 'cirr.json'
    cirr_like.write_text(json.dumps([{'pairid': 1, 'reference': 'dev-1', 'caption': 'x'}]))
    with pytest.raises(KeyError, match=r"cirr.json': entry 0 has no key 'id'"):
        CIRCODataset(circo_root, ann_file=str(cirr_like), check_images=False)
    entry = dict(_raw(circo_root, 'val')[0])
    for change, msg in ((dict(gt_img_ids=[]), 'key "gt_img_ids" must be a non-empty list'),
                        (dict(target_img_id=1), 'target_img_id 1 is not among its gt_img_ids'),
                        (dict(gt_img_ids=entry['gt_img_ids'] + [entry['reference_img_id']]), 'the reference'),
                        (dict(reference_img_id='271520'), "key 'reference_img_id' must be a non-negative int")):
        cirr_like.write_text(json.dumps([dict(entry, **change)]))
        with pytest.raises(ValueError, match=msg):
            CIRCODataset(circo_root, ann_file=str(cirr_like), check_images=False)
    with pytest.raises(FileNotFoundError, match='or set image_info=None to list the gallery'):
        CIRCODataset(circo_root, image_info='nope.json')
    with pytest.raises(ValueError, match="CIRCODataset.split must be one of \\('val', 'test'\\)"):
        CIRCODataset(circo_root, split='train')

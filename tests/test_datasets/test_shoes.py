"""ShoesDataset on the official annotation files (shared/data/shoes) with placeholder images.

Expected counts: docs/datasets.md (Shoes files and list versions), computed from the official files.
"""
import json
import os

import pytest

from cir_testlib import SHARED_DATA, official_data
from sdfn_plugin.datasets import ShoesDataset
from sdfn_plugin.testing.placeholders import shoes_image_relpath, write_placeholder_images

SHOES = os.path.join(SHARED_DATA, 'shoes')


@pytest.fixture(scope='module', autouse=True)
def _official_files():
    """Skip without the official files; fail under CI=true. (tests/test_datasets/test_annotation_fixtures.py runs
    the same parser on the excerpts in tests/data.)"""
    official_data('shoes', 'relative_captions_shoes.json')


FILES = ('relative_captions_shoes.json', 'train_im_names.txt', 'eval_im_names.txt', 'eval_im_names.4621.txt')


def _names(name):
    with open(os.path.join(SHOES, name)) as f:
        return [line.strip() for line in f if line.strip()]


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    """Official annotations (symlinked) + a placeholder image for every eval-list name (4,658)."""
    root = tmp_path_factory.mktemp('shoes')
    for name in FILES:
        os.symlink(os.path.join(SHOES, name), root / name)
    write_placeholder_images(str(root / shoes_image_relpath(n)) for n in _names('eval_im_names.txt'))
    return root


def _check(ds):
    for i in range(len(ds)):
        q = ds.get_data_info(i)
        gt, ref = q['gt_gallery_idx'], q['ref_gallery_idx']
        if gt:
            assert len(gt) == 1 and ds.gallery[gt[0]]['img_id'] == q['tgt_id']
        if ref >= 0:
            assert ds.gallery[ref]['img_id'] == q['ref_id']
        assert (not gt) == (q['tgt_id'] not in ds._gallery_ids) and (ref < 0) == (q['ref_id'] not in ds._gallery_ids)


def _eval(root, **kw):
    ds = ShoesDataset(str(root), split='eval', **kw)
    ds._gallery_ids = {g['img_id'] for g in ds.gallery}
    return ds


@pytest.mark.parametrize('pairs,eval_list,queries,gallery', [
    ('filter', 'original_4621', 1732, 4621), ('filter', 'current', 1761, 4658),
    ('scan', 'original_4621', 3492, 4621), ('scan', 'current', 3521, 4658)])
def test_eval_counts_and_indices(root, pairs, eval_list, queries, gallery):
    ds = _eval(root, pairs=pairs, eval_list=eval_list)
    assert (len(ds), len(ds.gallery)) == (queries, gallery)
    names = _names('eval_im_names.4621.txt' if eval_list == 'original_4621' else 'eval_im_names.txt')
    assert [g['img_id'] for g in ds.gallery] == names
    assert ds.gallery[0]['img_path'] == str(root / shoes_image_relpath(names[0]))
    _check(ds)
    if pairs == 'scan' and eval_list == 'original_4621':  # the 29 straddling triplets
        assert ds.stats['target_outside_gallery'] == 11 and ds.stats['reference_outside_gallery'] == 18
    else:
        assert ds.stats['target_outside_gallery'] == ds.stats['reference_outside_gallery'] == 0


def test_val_union_gallery(root):
    """VAL's gallery: sorted(4,621 list | every image of the scan pairs) = 4,642; nothing added to 4,658."""
    ds = _eval(root, pairs='scan', gallery='val_union', check_images=False)
    ids = [g['img_id'] for g in ds.gallery]
    assert (len(ds), len(ids)) == (3492, 4642) and ids == sorted(ids)
    added = set(ids) - set(_names('eval_im_names.4621.txt'))
    assert len(added) == 21 and added <= set(_names('eval_im_names.txt'))  # the 21 of the 37 appended names
    assert ds.stats['target_outside_gallery'] == ds.stats['reference_outside_gallery'] == 0
    _check(ds)
    cur = _eval(root, pairs='filter', eval_list='current', gallery='val_union', check_images=False)
    assert (len(cur), len(cur.gallery)) == (1761, 4658)


def test_protocol_summary_line(root):
    ds = _eval(root, pairs='scan', eval_list='current', check_images=False)
    assert ds.protocol_summary() == (
        "evaluation protocol: ShoesDataset(split='eval'), pairs='scan', list=eval_im_names.txt (4658 names), "
        "gallery='list', gallery 4658 images, 3521 queries, reference excluded")
    assert ds.protocol_summary(model_excludes_reference=False).endswith('3521 queries, reference kept')
    kept = _eval(root, exclude_reference=False, check_images=False)
    assert kept.protocol_summary().endswith(
        "list=eval_im_names.4621.txt (4621 names), gallery='list', gallery 4621 images, 1732 queries, reference kept")


def test_filter_queries_follow_caption_file(root):
    with open(os.path.join(SHOES, 'relative_captions_shoes.json')) as f:
        anns = json.load(f)
    ds = _eval(root)
    q = ds.get_data_info(0)
    a = anns[q['ann_idx']]
    assert (q['ref_id'], q['tgt_id'], q['text']) == (a['ReferenceImageName'], a['ImageName'],
                                                     a['RelativeCaption'].strip())
    assert [ds.get_data_info(i)['ann_idx'] for i in range(len(ds))] == sorted(
        ds.get_data_info(i)['ann_idx'] for i in range(len(ds)))
    # the one eval self-pair: reference == target, so it can never be a hit once the reference is excluded
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    selfs = [q for q in infos if q['ref_id'] == q['tgt_id']]
    assert len(selfs) == 1 and selfs[0]['gt_gallery_idx'] == [selfs[0]['ref_gallery_idx']]


def test_train_counts():
    for pairs, n in (('filter', 8990), ('scan', 17954)):
        ds = ShoesDataset(SHOES, split='train', pairs=pairs, check_images=False)
        assert len(ds) == n and ds.gallery == []


def test_original_list_fallback_to_first_lines(tmp_path, caplog_mm):
    for name in FILES[:3]:
        os.symlink(os.path.join(SHOES, name), tmp_path / name)
    ds = ShoesDataset(str(tmp_path), split='eval', check_images=False)
    assert len(ds.gallery) == 4621 and len(ds) == 1732
    assert [g['img_id'] for g in ds.gallery] == _names('eval_im_names.4621.txt')
    assert 'first 4621 lines of eval_im_names.txt' in caplog_mm.text


def test_missing_image_error_and_skip(root, caplog_mm):
    ds = _eval(root)
    victim = ds.get_data_info(0)['tgt_id']
    path = root / shoes_image_relpath(victim)
    data = path.read_bytes()
    path.unlink()
    try:
        with pytest.raises(FileNotFoundError) as err:
            ShoesDataset(str(root), split='eval')
        assert '1 missing' in str(err.value) and victim in str(err.value) and str(root) in str(err.value)
        skipped = _eval(root, skip_missing=True)
        assert len(skipped.gallery) == 4620 and victim not in skipped._gallery_ids
        infos = [ds.get_data_info(i) for i in range(len(ds))]
        uses = sum(1 for q in infos if victim in (q['ref_id'], q['tgt_id']))
        assert len(skipped) == 1732 - uses
        assert 'skip_missing dropped 1 of 4621 gallery images' in caplog_mm.text and victim in caplog_mm.text
        _check(skipped)
    finally:
        path.write_bytes(data)


def test_duplicate_basename_is_an_error(root):
    name = _names('eval_im_names.txt')[0]
    dup = root / shoes_image_relpath(name, folder='dup')
    write_placeholder_images([str(dup)])
    try:
        with pytest.raises(ValueError, match='more than once'):
            ShoesDataset(str(root), split='eval')
    finally:
        dup.unlink()


def test_caption_file_missing_key(tmp_path):
    with open(os.path.join(SHOES, 'relative_captions_shoes.json')) as f:
        anns = json.load(f)
    del anns[7]['ReferenceImageName']
    bad = tmp_path / 'relative_captions_shoes.json'
    bad.write_text(json.dumps(anns))
    for name in FILES[1:]:
        os.symlink(os.path.join(SHOES, name), tmp_path / name)
    with pytest.raises(KeyError) as err:
        ShoesDataset(str(tmp_path), split='train', check_images=False)
    assert str(bad) in str(err.value) and 'entry 7' in str(err.value) and 'ReferenceImageName' in str(err.value)


def test_argument_errors():
    for kw, field in ((dict(split='test'), 'split'), (dict(pairs='both'), 'pairs'),
                      (dict(eval_list='4658'), 'eval_list'), (dict(gallery='union'), 'gallery')):
        with pytest.raises(ValueError, match=f'ShoesDataset.{field} must be one of'):
            ShoesDataset(SHOES, check_images=False, **kw)


@pytest.mark.parametrize('config,train,queries,gallery', [
    ('sdfn_shoes.py', 17954, 3521, 4658), ('artemis_shoes.py', 8990, 1732, 4621)])
def test_configs_build_their_protocol(root, config, train, queries, gallery):
    """SDFN and AMC evaluate as AMC's code does (scan pairs, 4,658 list); ARTEMIS keeps filter / 4,621."""
    from mmengine.config import Config

    from cir_testlib import CONFIGS
    from sdfn_plugin.registry import DATASETS
    from sdfn_plugin.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(os.path.join(CONFIGS, config))
    ev = DATASETS.build(dict(cfg.test_dataloader.dataset, data_root=str(root)))
    assert (len(ev), len(ev.gallery)) == (queries, gallery)
    assert dict(cfg.val_dataloader.dataset) == dict(cfg.test_dataloader.dataset)
    vocab = cfg.model.text_encoder.vocab_dataset
    assert vocab.pairs == cfg.train_dataloader.dataset.pairs
    assert len(DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=SHOES, check_images=False))) == train
    if config == 'sdfn_shoes.py':  # AMC's config builds the same datasets (compared as configs: no second load)
        amc = Config.fromfile(os.path.join(CONFIGS, 'amc_shoes.py'))
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            assert amc[key]['dataset'] == cfg[key]['dataset']

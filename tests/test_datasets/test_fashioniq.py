"""FashionIQDataset on the official annotation files (shared/data/fashioniq) with placeholder images.

Expected counts: docs/datasets.md (FashionIQ files), computed from the official files.
"""
import json
import os
import shutil

import pytest

from cir_testlib import SHARED_DATA, official_data
from sdfn_plugin.datasets import FashionIQDataset
from sdfn_plugin.datasets.transforms import LoadCIRImages
from sdfn_plugin.testing.placeholders import write_placeholder_images, write_truncated_jpeg

FIQ = os.path.join(SHARED_DATA, 'fashioniq')


@pytest.fixture(scope='module', autouse=True)
def _official_files():
    """Skip without the official files; fail under CI=true. (tests/test_datasets/test_annotation_fixtures.py runs
    the same parser on the excerpts in tests/data.)"""
    official_data('fashioniq', 'captions')

CATS = ('dress', 'shirt', 'toptee')
VAL_TRIPLETS = dict(dress=2017, shirt=2038, toptee=1961)
TRAIN_TRIPLETS = dict(dress=5985, shirt=5988, toptee=6027)
SPLIT_GALLERY = dict(dress=3817, shirt=6346, toptee=5373)
VAL_GALLERY = dict(dress=2628, shirt=3089, toptee=2902)
QUERIES = dict(concat_one=VAL_TRIPLETS, concat_both=dict(dress=4034, shirt=4076, toptee=3922),
               single=dict(dress=4034, shirt=4075, toptee=3920))


def _ds(root=FIQ, split='val', cat='dress', **kw):
    kw.setdefault('check_images', False)
    return FashionIQDataset(root, split=split, categories=cat, **kw)


def _raw(cat, split='val'):
    with open(os.path.join(FIQ, 'captions', f'cap.{cat}.{split}.json')) as f:
        return json.load(f)


def _check_indices(ds):
    for i in range(len(ds)):
        q = ds.get_data_info(i)
        assert len(q['gt_gallery_idx']) == 1
        assert ds.gallery[q['gt_gallery_idx'][0]]['img_id'] == q['tgt_id']
        assert ds.gallery[q['ref_gallery_idx']]['img_id'] == q['ref_id']


# ------------------------------------------------------------------ statistics
@pytest.mark.parametrize('cat', CATS)
def test_val_counts_galleries_and_indices(cat):
    union = _ds(cat=cat)
    split = _ds(cat=cat, gallery='split')
    assert len(union) == VAL_TRIPLETS[cat] and union.stats[cat]['triplets'] == VAL_TRIPLETS[cat]
    assert len(union.gallery) == VAL_GALLERY[cat]
    assert len(split.gallery) == SPLIT_GALLERY[cat]
    ids = [g['img_id'] for g in union.gallery]
    assert ids == sorted(ids)
    with open(os.path.join(FIQ, 'image_splits', f'split.{cat}.val.json')) as f:
        assert [g['img_id'] for g in split.gallery] == json.load(f)
    for ds in (union, split):
        for i in range(len(ds)):
            q = ds.get_data_info(i)
            assert ds.gallery[q['gt_gallery_idx'][0]]['img_id'] == q['tgt_id'] and len(q['gt_gallery_idx']) == 1
            assert ds.gallery[q['ref_gallery_idx']]['img_id'] == q['ref_id']
            assert q['category'] == cat
            assert q['ref_path'] == os.path.join(FIQ, 'images', q['ref_id'] + '.jpg')


@pytest.mark.parametrize('mode', ['concat_both', 'single'])
def test_val_query_counts_per_caption_mode(mode):
    for cat in CATS:
        assert len(_ds(cat=cat, caption_mode=mode)) == QUERIES[mode][cat], (mode, cat)


def test_train_triplets_per_category_and_joint():
    total = 0
    for cat in CATS:
        ds = _ds(split='train', cat=cat)
        assert len(ds) == TRAIN_TRIPLETS[cat] and ds.gallery == []
        q = ds.get_data_info(0)
        assert q['tgt_path'].endswith(q['tgt_id'] + '.jpg')
        total += len(ds)
    joint = FashionIQDataset(FIQ, split='train', check_images=False)
    assert len(joint) == total == 18000
    assert {joint.get_data_info(i)['category'] for i in (0, 6000, 17999)} == set(CATS)


def test_caption_texts_and_joiner():
    raw = _raw('dress')
    c0, c1 = (c.strip() for c in raw[0]['captions'])
    one = _ds()
    assert one.get_data_info(0)['text'] == f'{c0} <and> {c1}'
    both = _ds(caption_mode='concat_both')
    assert [both.get_data_info(i)['text'] for i in (0, 1)] == [f'{c0} <and> {c1}', f'{c1} <and> {c0}']
    single = _ds(caption_mode='single')
    assert [single.get_data_info(i)['text'] for i in (0, 1)] == [c0, c1]
    assert _ds(joiner=' and ').get_data_info(0)['text'] == f'{c0} and {c1}'


def test_amc_caption_mode_and_vocabulary_texts():
    """AMC's "<BOS> c0 <AND> c1 <EOS>": tokenised as AMC does, the markers become bos / and / eos, and bos / eos
    are unknown words because the vocabulary comes from the single captions."""
    from sdfn_plugin.models.encoders.text.vocabulary import Vocabulary, tokenize
    raw = _raw('dress')
    ds = _ds(caption_mode='amc')
    assert len(ds) == 2017
    c0, c1 = (c.strip() for c in raw[0]['captions'])
    text = ds.get_data_info(0)['text']
    assert text == f'<BOS> {c0} <AND> {c1} <EOS>'
    assert tokenize(text) == ['bos', *tokenize(c0), 'and', *tokenize(c1), 'eos']
    texts = ds.texts()
    assert texts == [c.strip() for t in raw for c in t['captions'] if c.strip()] and len(texts) == 4034
    vocab = Vocabulary.from_texts(texts)
    assert 'bos' not in vocab.stoi and 'eos' not in vocab.stoi and 'and' in vocab.stoi
    ids = vocab.encode(text)
    assert ids[0] == ids[-1] == vocab.stoi['<unk>'] and ids[len(tokenize(c0)) + 1] == vocab.stoi['and']
    with pytest.raises(ValueError, match="caption_mode='amc' writes AMC's fixed text"):
        _ds(caption_mode='amc', joiner=' and ')


def test_random_caption_order_draws_the_four_texts():
    """CLIP4Cir's training text: c0+c1, c1+c0, c0 or c1, uniformly, drawn again at every access."""
    import random
    raw = _raw('dress', 'train')
    c0, c1 = (c.strip() for c in raw[0]['captions'])
    ds = _ds(split='train', caption_mode='random', joiner=' and ')
    assert len(ds) == 5985 and ds.texts()[0] == f'{c0} and {c1}'
    random.seed(0)
    draws = [ds[0]['text'] for _ in range(400)]
    counts = {t: draws.count(t) for t in set(draws)}
    assert set(counts) == {f'{c0} and {c1}', f'{c1} and {c0}', c0, c1}
    assert all(70 <= n <= 130 for n in counts.values()), counts  # 100 expected each; 6 sigma is about 52
    assert 'text_choices' not in ds[0] and ds.get_data_info(0)['text'] == f'{c0} and {c1}'
    with pytest.raises(ValueError, match="caption_mode='random' draws a new text at every access"):
        _ds(caption_mode='random')


def test_empty_caption_behaviour(caplog_mm):
    raw = _raw('shirt')
    empty = [i for i, t in enumerate(raw) if any(not c.strip() for c in t['captions'])]
    assert len(empty) == 1
    idx = empty[0]
    other = [c.strip() for c in raw[idx]['captions'] if c.strip()][0]
    one = _ds(cat='shirt')
    assert one.get_data_info(idx)['text'] == other  # no dangling joiner
    assert 'empty caption' in caplog_mm.text and str(idx) in caplog_mm.text
    both = _ds(cat='shirt', caption_mode='concat_both')
    assert both.get_data_info(2 * idx)['text'] == both.get_data_info(2 * idx + 1)['text'] == other
    assert _ds(cat='shirt').stats['shirt']['empty_captions'] == 1


def test_reference_kept_and_per_category_layout():
    ds = _ds(exclude_reference=False, image_layout='per_category')
    q = ds.get_data_info(0)
    assert q['ref_gallery_idx'] == -1
    assert q['ref_path'] == os.path.join(FIQ, 'img', 'dress', q['ref_id'] + '.jpg')
    assert ds.gallery[0]['img_path'].startswith(os.path.join(FIQ, 'img', 'dress') + os.sep)


def test_argument_errors():
    with pytest.raises(ValueError, match='withheld'):
        _ds(split='test')
    with pytest.raises(ValueError, match='one evaluation dataset per category'):
        FashionIQDataset(FIQ, split='val', categories=CATS, check_images=False)
    with pytest.raises(ValueError, match='unknown'):
        _ds(cat='shoes')
    with pytest.raises(ValueError, match='caption_mode'):
        _ds(caption_mode='both')
    with pytest.raises(ValueError, match='gallery'):
        _ds(gallery='all')


# ------------------------------------------------------------------ files and bad input
@pytest.fixture(scope='module')
def dress_root(tmp_path_factory):
    """Real dress annotations + a placeholder image for every dress val image (2,628)."""
    root = tmp_path_factory.mktemp('fiq')
    for sub in ('captions', 'image_splits'):
        os.makedirs(root / sub)
        for split in ('train', 'val'):
            name = f'{"cap" if sub == "captions" else "split"}.dress.{split}.json'
            os.symlink(os.path.join(FIQ, sub, name), root / sub / name)
    ids = {t['candidate'] for t in _raw('dress')} | {t['target'] for t in _raw('dress')}
    write_placeholder_images(str(root / 'images' / f'{a}.jpg') for a in ids)
    return root


def test_images_present_and_missing(dress_root, caplog_mm):
    ds = FashionIQDataset(str(dress_root), split='val', categories='dress')
    assert len(ds) == 2017 and len(ds.gallery) == 2628
    _check_indices(ds)
    victim = ds.get_data_info(0)['ref_id']
    path = dress_root / 'images' / f'{victim}.jpg'
    backup = path.read_bytes()
    path.unlink()
    try:
        with pytest.raises(FileNotFoundError) as err:
            FashionIQDataset(str(dress_root), split='val', categories='dress')
        msg = str(err.value)
        assert '1 missing' in msg and f'{victim}.jpg' in msg and str(dress_root) in msg and 'images/<ASIN>.jpg' in msg
        skipped = FashionIQDataset(str(dress_root), split='val', categories='dress', skip_missing=True)
        assert len(skipped.gallery) == 2627
        n_uses = sum(1 for t in _raw('dress') if victim in (t['candidate'], t['target']))
        assert len(skipped) == 2017 - n_uses
        assert 'skip_missing dropped 1 of 2628 gallery images' in caplog_mm.text
        assert f'skip_missing dropped {n_uses} of 2017 queries' in caplog_mm.text
        _check_indices(skipped)
        # training split: every reference and target must exist (train images are absent here)
        with pytest.raises(FileNotFoundError, match=r'missing of the \d+ image files'):
            FashionIQDataset(str(dress_root), split='train', categories='dress')
    finally:
        path.write_bytes(backup)


def test_truncated_image(dress_root):
    ds = FashionIQDataset(str(dress_root), split='val', categories='dress')
    q = ds.get_data_info(0)
    path = q['ref_path']
    backup = open(path, 'rb').read()
    write_truncated_jpeg(path)
    try:
        with pytest.raises(OSError, match='truncated'):
            LoadCIRImages(keys=('ref', ))(dict(q))
        assert LoadCIRImages(keys=('ref', ), allow_truncated=True)(dict(q))['ref'].shape == (3, 64, 64)
        with pytest.raises(FileNotFoundError, match='1 unreadable'):
            FashionIQDataset(str(dress_root), split='val', categories='dress', verify_images=True)
    finally:
        with open(path, 'wb') as f:
            f.write(backup)


def test_caption_file_missing_key(tmp_path):
    os.makedirs(tmp_path / 'captions')
    raw = _raw('dress')
    del raw[5]['captions']
    bad = tmp_path / 'captions' / 'cap.dress.val.json'
    bad.write_text(json.dumps(raw))
    shutil.copytree(os.path.join(FIQ, 'image_splits'), tmp_path / 'image_splits')
    with pytest.raises(KeyError) as err:
        FashionIQDataset(str(tmp_path), split='val', categories='dress', check_images=False)
    assert str(bad) in str(err.value) and 'entry 5' in str(err.value) and "'captions'" in str(err.value)

"""Fashion200kDataset on a generated fixture in the official file format (TIRG protocol)."""
import os
import random

import pytest

from sdfn_plugin.datasets import Fashion200kDataset
from sdfn_plugin.datasets.fashion200k import CaptionIndex, different_word, normalize_caption, parse_label_file
from sdfn_plugin.testing.placeholders import write_placeholder_images

D, S = 'women/dresses/casual_and_day_dresses', 'women/skirts/mini_skirts'
TRAIN = {
    'dress_train_detect_all.txt': [
        (f'{D}/100/100_0.jpeg', '0.91', 'black maxi dress'),
        (f'{D}/101/101_0.jpeg', '0.85', 'blue maxi dress'),
        (f'{D}/102/102_0.jpeg', '0.80', 'red maxi dress'),
        (f'{D}/103/103_1.jpeg', '0.75', 'red maxi dress'),
        (f'{D}/104/104_0.jpeg', '0.70', 'black mini dress'),
        (f'{D}/105/105_0.jpeg', '0.70', ' floral print dress. '),
    ],
    'skirt_train_detect_all.txt': [
        (f'{S}/200/200_0.jpeg', '0.90', 'pleated mini skirt'),
        (f'{S}/201/201_0.jpeg', '0.90', 'denim mini skirt'),
        (f'{S}/202/202_1.jpeg', '0.90', 'lace & silk skirt?'),
    ],
}
TEST = {
    'dress_test_detect_all.txt': [
        (f'{D}/300/300_0.jpeg', '0.9', 'green maxi dress'),
        (f'{D}/301/301_0.jpeg', '0.9', 'yellow maxi dress'),
        (f'{D}/302/302_0.jpeg', '0.9', 'yellow maxi dress'),
        (f'{D}/303/303_0.jpeg', '0.9', 'green midi dress'),
    ],
    'skirt_test_detect_all.txt': [
        (f'{S}/400/400_0.jpeg', '0.9', 'denim mini skirt'),
        (f'{S}/401/401_0.jpeg', '0.9', 'leather mini skirt'),
    ],
}
QUERIES = [  # (source, target, expected text)
    (f'{D}/300/300_0.jpeg', f'{D}/301/301_0.jpeg', 'replace green with yellow'),
    (f'{D}/300/300_0.jpeg', f'{D}/303/303_0.jpeg', 'replace maxi with midi'),
    (f'{S}/401/401_0.jpeg', f'{S}/400/400_0.jpeg', 'replace leather with denim'),
    (f'{D}/301/301_0.jpeg', f'{D}/302/302_0.jpeg', 'replace dress with dress'),  # TIRG: no guard, last word
]


def _write(root, with_images=True):
    os.makedirs(root / 'labels')
    for files in (TRAIN, TEST):
        for name, rows in files.items():
            (root / 'labels' / name).write_text(''.join(f'{p}\t{s}\t{c}\n' for p, s, c in rows))
            if with_images:
                write_placeholder_images(str(root / p) for p, _, _ in rows)
    (root / 'labels' / 'README.txt').write_text('not a label file\n')
    (root / 'test_queries.txt').write_text(''.join(f'{a} {b}\n' for a, b, _ in QUERIES))
    return root


@pytest.fixture
def root(tmp_path):
    return _write(tmp_path)


def test_normalize_and_parse(root):
    assert normalize_caption('  a.b?c&d*e \n') == 'adotmarkbquestionmarkcandmarkdstarmarke'
    rows = parse_label_file(str(root / 'labels' / 'skirt_train_detect_all.txt'))
    assert rows[0] == (f'{S}/200/200_0.jpeg', '0.90', 'pleated mini skirt')
    assert rows[2][2] == 'lace andmark silk skirtquestionmark'
    bad = root / 'labels' / 'bad_train_detect_all.txt'
    bad.write_text(f'{S}/1/1_0.jpeg\t0.9\tok caption\nno tabs here\n')
    with pytest.raises(ValueError, match='line 2'):
        parse_label_file(str(bad))


def test_different_word():
    assert different_word('black maxi dress', 'blue maxi dress') == ('black', 'blue', 'replace black with blue')
    assert different_word('a b', 'a b')[2] == 'replace b with b'


def test_caption_index():
    idx = CaptionIndex(['black maxi dress', 'blue maxi dress', 'red maxi dress', 'black mini dress', 'lone top'])
    assert idx.parent2children['maxi dress'] == ['black maxi dress', 'blue maxi dress', 'red maxi dress']
    assert idx.parent2children['black dress'] == ['black maxi dress', 'black mini dress']
    assert sorted(idx.parents_of[0]) == ['black dress', 'maxi dress']
    assert idx.modifiable == [0, 1, 2, 3]
    # substring replace: removing 'tan' also cuts it out of 'tank'
    assert 'k top' in CaptionIndex(['tan tank top']).parent2children


def test_train_queries_follow_parent_child_scheme(root):
    ds = Fashion200kDataset(str(root), split='train')
    captions = {p: normalize_caption(c) for rows in TRAIN.values() for p, _, c in rows}
    assert len(ds) == 9 and ds.stats['modifiable'] == 7 and ds.gallery == []
    assert ds.images[5]['caption'] == 'floral print dressdotmark'
    for i in range(len(ds)):
        q = ds.get_data_info(i)
        ref, tgt = captions[q['ref_id']], captions[q['tgt_id']]
        assert (q['ref_caption'], q['tgt_caption']) == (ref, tgt)
        assert ref != tgt and len(ref.split()) == len(tgt.split())
        assert set(ref.split()) ^ set(tgt.split()) == {q['source_word'], q['target_word']}
        assert q['text'] == f'replace {q["source_word"]} with {q["target_word"]}'
        assert any(ref in kids and tgt in kids for kids in ds.index.parent2children.values())
        assert q['ref_path'] == os.path.join(str(root), q['ref_id']) and os.path.isfile(q['tgt_path'])
        if i in (5, 8):  # not modifiable: a random modifiable reference is drawn instead
            assert q['ref_id'] != ds.images[i]['rel_path']
        else:
            assert q['ref_id'] == ds.images[i]['rel_path']
        assert q['sample_idx'] == i


def test_deterministic_per_index(root):
    a = Fashion200kDataset(str(root), split='train')
    b = Fashion200kDataset(str(root), split='train', seed=0)
    keys = ('ref_id', 'tgt_id', 'text')
    first = [tuple(a.get_data_info(i)[k] for k in keys) for i in range(len(a))]
    assert first == [tuple(a.get_data_info(i)[k] for k in keys) for i in range(len(a))]  # next "epoch"
    assert first == [tuple(b.get_data_info(i)[k] for k in keys) for i in range(len(b))]  # another worker
    other = Fashion200kDataset(str(root), split='train', seed=1)
    assert first != [tuple(other.get_data_info(i)[k] for k in keys) for i in range(len(other))]
    tirg = Fashion200kDataset(str(root), split='train', deterministic=False)
    random.seed(0)
    draws = {tuple(tirg.get_data_info(0)[k] for k in keys) for _ in range(40)}
    assert len(draws) > 1  # redrawn on every access, as in TIRG


def test_vocabulary_texts(root):
    texts = Fashion200kDataset(str(root), split='train', lazy_init=True).texts()
    assert texts[-1] == 'replace with' and 'black maxi dress' in texts and len(texts) == 10


@pytest.mark.parametrize('match', ['caption', 'image'])
def test_test_queries_and_caption_matches(root, match):
    ds = Fashion200kDataset(str(root), split='test', match=match)
    gallery_ids = [g['img_id'] for g in ds.gallery]
    assert gallery_ids == [p for name in sorted(TEST) for p, _, _ in TEST[name]]
    captions = [normalize_caption(c) for name in sorted(TEST) for _, _, c in TEST[name]]
    assert len(ds) == len(QUERIES)
    for i, (src, tgt, text) in enumerate(QUERIES):
        q = ds.get_data_info(i)
        assert (q['ref_id'], q['tgt_id'], q['text']) == (src, tgt, text)
        assert q['ref_gallery_idx'] == gallery_ids.index(src)
        if match == 'caption':
            brute = [j for j in range(len(captions)) if captions[j] == captions[gallery_ids.index(tgt)]]
        else:
            brute = [gallery_ids.index(tgt)]
        assert q['gt_gallery_idx'] == brute
    assert ds.get_data_info(0)['gt_gallery_idx'] == ([1, 2] if match == 'caption' else [1])
    kept = Fashion200kDataset(str(root), split='test', exclude_reference=False)
    assert kept.get_data_info(0)['ref_gallery_idx'] == -1


def test_missing_images(tmp_path, caplog_mm):
    root = _write(tmp_path)
    (root / D / '301' / '301_0.jpeg').unlink()
    with pytest.raises(FileNotFoundError) as err:
        Fashion200kDataset(str(root), split='test')
    assert '1 missing of the 6' in str(err.value) and '301_0.jpeg' in str(err.value)
    ds = Fashion200kDataset(str(root), split='test', skip_missing=True)
    assert len(ds.gallery) == 5 and len(ds) == 2  # queries 0 and 3 use image 301
    assert 'skip_missing dropped 1 of 6 images (gallery)' in caplog_mm.text
    assert 'skip_missing dropped 2 of 4 test queries' in caplog_mm.text
    assert ds.get_data_info(0)['gt_gallery_idx'] == [2]  # 'green midi dress' moved up one slot
    (root / D / '101' / '101_0.jpeg').unlink()
    with pytest.raises(FileNotFoundError, match='101_0.jpeg'):
        Fashion200kDataset(str(root), split='train')
    train = Fashion200kDataset(str(root), split='train', skip_missing=True)
    assert len(train) == 8 and all(train.get_data_info(i)['tgt_id'] != f'{D}/101/101_0.jpeg' for i in range(8))


def test_bad_test_query_and_missing_labels(tmp_path):
    root = _write(tmp_path, with_images=False)
    (root / 'test_queries.txt').write_text(f'{D}/300/300_0.jpeg {D}/999/999_0.jpeg\n')
    with pytest.raises(KeyError, match='line 1'):
        Fashion200kDataset(str(root), split='test', check_images=False)
    with pytest.raises(FileNotFoundError, match='no label file'):
        Fashion200kDataset(str(tmp_path / 'nowhere'), split='train')
    with pytest.raises(ValueError, match='match'):
        Fashion200kDataset(str(root), split='test', match='word')

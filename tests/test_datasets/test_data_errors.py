"""Clear errors of the FashionIQ, Shoes and Fashion200K loaders on tiny files in their official formats:
duplicated entries (error / drop / keep), non-UTF-8 files, empty splits and eval lists, skip_missing lists."""
import json
import os

import pytest

from sdfn_plugin.datasets import Fashion200kDataset, FashionIQDataset, ShoesDataset
from sdfn_plugin.testing.placeholders import shoes_image_relpath, write_placeholder_images

FIQ = [dict(candidate='A1', target='A2', captions=['is red', 'is long']),
       dict(candidate='A2', target='A3', captions=['is blue', 'has dots']),
       dict(candidate='A4', target='A1', captions=['is green', 'is short'])]


def _fiq(root, triplets=FIQ, split_list=('A1', 'A2', 'A3', 'A4'), images='1234'):
    os.makedirs(root / 'captions', exist_ok=True)
    os.makedirs(root / 'image_splits', exist_ok=True)
    (root / 'captions' / 'cap.dress.val.json').write_text(json.dumps(triplets))
    (root / 'image_splits' / 'split.dress.val.json').write_text(json.dumps(list(split_list)))
    write_placeholder_images(str(root / 'images' / f'A{c}.jpg') for c in images)
    return root


def _fiq_ds(root, **kw):
    return FashionIQDataset(str(root), split='val', categories='dress', **kw)


def test_fashioniq_duplicates(tmp_path, caplog_mm):
    root = _fiq(tmp_path, FIQ + [FIQ[2], FIQ[0], FIQ[0]])
    with pytest.raises(ValueError, match=r"3 duplicated triplets in '.*cap.dress.val.json'; the first is entry 3, "
                                         r"a repeat of entry 2 \(\('A4', 'A1', \('is green', 'is short'\)\)\)"):
        _fiq_ds(root)
    assert len(_fiq_ds(root, duplicates='drop')) == 3
    assert "duplicates='drop': dropped 3, each first occurrence kept" in caplog_mm.text
    assert len(_fiq_ds(root, duplicates='keep')) == 6
    with pytest.raises(ValueError, match="duplicates must be one of"):
        _fiq_ds(root, duplicates='ignore')
    root = _fiq(tmp_path, FIQ, ('A1', 'A2', 'A1', 'A3', 'A4'))
    with pytest.raises(ValueError, match=r"1 duplicated ASINs in '.*split.dress.val.json'; the first is entry 2, "
                                         r"a repeat of entry 0 \('A1'\)"):
        _fiq_ds(root, gallery='split')
    assert len(_fiq_ds(root, gallery='split', duplicates='drop').gallery) == 4


def test_fashioniq_non_utf8_and_empty(tmp_path):
    root = _fiq(tmp_path)
    path = root / 'captions' / 'cap.dress.val.json'
    path.write_bytes(b'[{"candidate": "A1", "target": "A2", "captions": ["is caf\xe9", "x"]}]')
    # '[{"candidate": "A1", "target": "A2", "captions": ["is caf' is 57 bytes
    with pytest.raises(ValueError, match=r"'.*cap.dress.val.json' is not UTF-8 text: byte 57 \(0xe9\)"):
        _fiq_ds(root)
    path.write_text('[]')
    with pytest.raises(ValueError, match=r"FashionIQDataset\(split='val'\): no queries in '.*cap.dress.val.json'"):
        _fiq_ds(root)
    _fiq(tmp_path, FIQ, ())
    with pytest.raises(ValueError, match=r"the eval list '.*split.dress.val.json' is empty"):
        _fiq_ds(root, gallery='split')


def test_fashioniq_skip_missing_list_counts_what_each_protocol_lost(tmp_path, caplog_mm):
    root = _fiq(tmp_path, images='124')  # A3 failed to download
    (root / 'missing_images.txt').write_text('A3\tHTTP 404\n')
    union = _fiq_ds(root, skip_missing='missing_images.txt')
    assert len(union) == 2 and [g['img_id'] for g in union.gallery] == ['A1', 'A2', 'A4']
    assert 'this protocol lost 1 of 3 queries and 1 of 4 gallery images' in caplog_mm.text
    os.remove(root / 'images' / 'A4.jpg')  # not listed: an error even with the list
    with pytest.raises(FileNotFoundError, match=r"1 missing of the \d+ image files.*A4.jpg"):
        _fiq_ds(root, skip_missing='missing_images.txt')
    (root / 'missing_images.txt').write_text('A1\nA2\nA3\nA4\n')
    for name in ('A1', 'A2'):
        os.remove(root / 'images' / f'{name}.jpg')
    with pytest.raises(ValueError, match=r"no queries left in '.*cap.dress.val.json' after skip_missing dropped "
                                         r"all 3"):
        _fiq_ds(root, skip_missing='missing_images.txt')


SHOES = [dict(ImageName='img_womens_clogs_2.jpg', ReferenceImageName='img_womens_clogs_1.jpg', RelativeCaption='x'),
         dict(ImageName='img_womens_pumps_3.jpg', ReferenceImageName='img_womens_clogs_2.jpg', RelativeCaption='y')]


def _shoes(root, anns, names):
    (root / 'relative_captions_shoes.json').write_text(json.dumps(anns))
    (root / 'train_im_names.txt').write_text('\n'.join(names) + '\n')
    (root / 'eval_im_names.4621.txt').write_text('\n'.join(names) + '\n')
    write_placeholder_images(str(root / shoes_image_relpath(n)) for n in names)
    return root


def test_shoes_duplicates_non_utf8_and_empty_lists(tmp_path, caplog_mm):
    names = sorted({a[k] for a in SHOES for k in ('ImageName', 'ReferenceImageName')})
    root = _shoes(tmp_path, SHOES + [SHOES[1]], names)
    with pytest.raises(ValueError, match=r"1 duplicated annotation entries in '.*relative_captions_shoes.json'; the "
                                         r"first is entry 2, a repeat of entry 1 \(\('img_womens_clogs_2.jpg', "
                                         r"'img_womens_pumps_3.jpg', 'y'\)\)"):
        ShoesDataset(str(root), split='train')
    assert len(ShoesDataset(str(root), split='train', duplicates='keep')) == 3
    assert "duplicates='keep': all 1 repeats kept" in caplog_mm.text
    assert len(ShoesDataset(str(root), split='eval', duplicates='drop')) == 2
    (root / 'train_im_names.txt').write_bytes(b'img_womens_clogs_1.jpg\n\xff\xfei\x00m\x00g\x00')
    with pytest.raises(ValueError, match=r"'.*train_im_names.txt' is not UTF-8 text: byte 23 \(0xff\)"):
        ShoesDataset(str(root), split='train', duplicates='drop')
    (root / 'eval_im_names.4621.txt').write_text('\n')
    with pytest.raises(ValueError, match=r"Shoes\(eval, .*\): the eval image list under '.*' is empty"):
        ShoesDataset(str(root), split='eval', duplicates='drop')


def test_fashion200k_duplicate_query_lines_and_non_utf8(tmp_path, caplog_mm):
    os.makedirs(tmp_path / 'labels')
    rows = [('women/d/1/1_0.jpeg', 'red maxi dress'), ('women/d/2/2_0.jpeg', 'blue maxi dress')]
    (tmp_path / 'labels' / 'dress_test_detect_all.txt').write_text(''.join(f'{p}\t0.9\t{c}\n' for p, c in rows))
    write_placeholder_images(str(tmp_path / p) for p, _ in rows)
    line = f'{rows[0][0]} {rows[1][0]}\n'
    (tmp_path / 'test_queries.txt').write_text(line * 3)
    with pytest.raises(ValueError, match=r"2 duplicated query lines in '.*test_queries.txt'; the first is entry 1, "
                                         r"a repeat of entry 0"):
        Fashion200kDataset(str(tmp_path), split='test')
    assert len(Fashion200kDataset(str(tmp_path), split='test', duplicates='drop')) == 1
    (tmp_path / 'labels' / 'dress_test_detect_all.txt').write_bytes(b'women/d/1/1_0.jpeg\t0.9\tbeige caf\xe9\n')
    # 'women/d/1/1_0.jpeg' (18) + tab + '0.9' + tab + 'beige caf' (9) = 32 bytes before the e-acute
    with pytest.raises(ValueError, match=r"'.*dress_test_detect_all.txt' is not UTF-8 text: byte 32 \(0xe9\)"):
        Fashion200kDataset(str(tmp_path), split='test')

"""CIRTripletDataset: JSONL/CSV triplets of your own; protocol switches, errors, and one short training run."""
import json
import os

import pytest

from sdfn_plugin.datasets import CIRTripletDataset
from sdfn_plugin.testing.placeholders import write_placeholder_images
from sdfn_plugin.testing.toy_triplets import write_toy_triplets

ROWS = [
    dict(reference='a.jpg', target='b.jpg', caption='is red', category='top'),
    dict(reference='b.jpg', target=['c.jpg', 'd.jpg'], caption=['is blue', 'has long sleeves'], category='top'),
    dict(reference='e.jpg', target='a.jpg', caption=['', 'is shorter']),
]


def _root(tmp_path, rows=ROWS, name='val.jsonl', images='abcde'):
    (tmp_path / name).write_text(''.join(json.dumps(r) + '\n' for r in rows))
    write_placeholder_images(str(tmp_path / 'img' / f'{c}.jpg') for c in images)
    return tmp_path


def _ds(root, name='val.jsonl', **kw):
    kw.setdefault('test_mode', True)
    return CIRTripletDataset(str(root), ann_file=name, image_dir='img', split='val', **kw)


def test_eval_queries_gallery_and_modes(tmp_path):
    root = _root(tmp_path)
    ds = _ds(root)
    assert [g['img_id'] for g in ds.gallery] == ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg']
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [(q['text'], q['gt_gallery_idx'], q['ref_gallery_idx'], q['category']) for q in infos] == [
        ('is red', [1], 0, 'top'), ('is blue and has long sleeves', [2, 3], 1, 'top'), ('is shorter', [0], 4, '')]
    assert infos[1]['ref_path'] == str(root / 'img' / 'b.jpg')
    single = _ds(root, caption_mode='single', exclude_reference=False, categories=['top'])
    assert [(single.get_data_info(i)['text'], single.get_data_info(i)['ref_gallery_idx'])
            for i in range(len(single))] == [('is red', -1), ('is blue', -1), ('has long sleeves', -1)]
    both = _ds(root, caption_mode='concat_both', joiner=' <and> ')
    assert [both.get_data_info(i)['text'] for i in range(2, 4)] == ['is blue <and> has long sleeves',
                                                                  'has long sleeves <and> is blue']
    train = _ds(root, test_mode=False)  # one query per target
    assert [(q['ref_id'], q['tgt_id']) for q in (train.get_data_info(i) for i in range(len(train)))] == [
        ('a.jpg', 'b.jpg'), ('b.jpg', 'c.jpg'), ('b.jpg', 'd.jpg'), ('e.jpg', 'a.jpg')]
    assert train.gallery == []
    (root / 'gallery.txt').write_text('d.jpg\nb.jpg\na.jpg\n')
    given = _ds(root, gallery_file='gallery.txt')
    assert [given.get_data_info(i)['gt_gallery_idx'] for i in range(3)] == [[1], [0], [2]]
    assert given.stats['target_outside_gallery'] == 0


def test_csv_matches_jsonl(tmp_path):
    root = _root(tmp_path)
    (root / 'val.csv').write_text('reference,target,caption,category\na.jpg,b.jpg,is red,top\n'
                                  'b.jpg,c.jpg|d.jpg,"is blue|has long sleeves",top\ne.jpg,a.jpg,|is shorter,\n')
    a, b = _ds(root), _ds(root, 'val.csv')
    keys = ('ref_id', 'tgt_ids', 'text', 'gt_gallery_idx', 'ref_gallery_idx', 'category')
    assert [[a.get_data_info(i)[k] for k in keys] for i in range(3)] == \
        [[b.get_data_info(i)[k] for k in keys] for i in range(3)]


def test_errors_name_file_and_position(tmp_path, caplog_mm):
    root = _root(tmp_path, ROWS + [ROWS[1], ROWS[0]])
    with pytest.raises(ValueError, match=r"2 duplicated rows in '.*val.jsonl'; the first is entry 3, a repeat of "
                                         r"entry 1 \(\('b.jpg', \('c.jpg', 'd.jpg'\), \('is blue', 'has long sleeves'\)\)\)"):
        _ds(root)
    assert len(_ds(root, duplicates='drop')) == 3
    assert "duplicates='drop': dropped 2, each first occurrence kept" in caplog_mm.text
    assert len(_ds(root, duplicates='keep')) == 5
    assert "duplicates='keep': all 2 repeats kept" in caplog_mm.text
    (root / 'latin1.csv').write_bytes('reference,target,caption\na.jpg,b.jpg,is beige\n'.encode()
                                      + 'c.jpg,d.jpg,is caf\xe9 coloured\n'.encode('latin-1'))
    # 25 + 21 bytes of the first two lines + 'c.jpg,d.jpg,is caf' (18): the e-acute is byte 64
    with pytest.raises(ValueError, match=r"'.*latin1.csv' is not UTF-8 text: byte 64 \(0xe9\)"):
        _ds(root, 'latin1.csv')
    (root / 'empty.jsonl').write_text('\n')
    with pytest.raises(ValueError, match=r"CIRTripletDataset\(split='val'\): no queries in '.*empty.jsonl'"):
        _ds(root, 'empty.jsonl')
    (root / 'nogallery.txt').write_text('\n\n')
    with pytest.raises(ValueError, match=r"the eval list \(gallery_file\) '.*nogallery.txt' is empty"):
        _ds(root, 'val.jsonl', gallery_file='nogallery.txt', duplicates='drop')
    (root / 'bad.jsonl').write_text('{"reference": "a.jpg", "target": "b.jpg"}\n')
    with pytest.raises(KeyError, match=r"line 1: no 'caption'"):
        _ds(root, 'bad.jsonl')
    with pytest.raises(ValueError, match='must end in .jsonl or .csv'):
        _ds(root, 'nogallery.txt')


def test_skip_missing_list_and_emptied_split(tmp_path, caplog_mm):
    root = _root(tmp_path, images='abce')  # d.jpg was never fetched
    (root / 'missing.txt').write_text('d\tHTTP 404\n')
    ds = _ds(root, skip_missing='missing.txt')
    assert len(ds) == 3 and [g['img_id'] for g in ds.gallery] == ['a.jpg', 'b.jpg', 'c.jpg', 'e.jpg']
    assert ds.get_data_info(1)['gt_gallery_idx'] == [2]  # c.jpg is still a correct item
    assert 'this protocol lost 0 of 3 queries and 1 of 5 gallery images' in caplog_mm.text
    os.remove(root / 'img' / 'e.jpg')  # not in the list: still an error
    with pytest.raises(FileNotFoundError, match=r"1 missing of the 5 image files.*'.*e.jpg'"):
        _ds(root, skip_missing='missing.txt')
    only = root / 'only.jsonl'
    only.write_text(json.dumps(dict(reference='e.jpg', target='a.jpg', caption='x')) + '\n')
    with pytest.raises(ValueError, match=r"no queries left in '.*only.jsonl' after skip_missing dropped all 1 "
                                         r"\(their 1 image file\(s\) are missing"):
        _ds(root, 'only.jsonl', skip_missing=True, test_mode=False)


def test_train_one_epoch_with_the_shipped_config(tmp_path):
    """The docs' config trains and evaluates on 200 toy triplets with no code change (tools/train.py = mim train)."""
    from sdfn_plugin.tools.train import main
    counts = write_toy_triplets(str(tmp_path / 'data'), num_train=48, num_val=16)
    assert counts == dict(images=24, train=48, val=16)
    config = os.path.join(os.path.dirname(__file__), '..', '..', 'configs', 'custom-triplets_tirg.py')
    work = tmp_path / 'work'
    main([config, '--work-dir', str(work), '--cfg-options', f'data_root={tmp_path / "data"}',
          'train_cfg.max_epochs=1', 'train_dataloader.batch_size=16', 'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
          'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False'])
    assert (work / 'epoch_1.pth').is_file()
    logs = [os.path.join(dp, f) for dp, _, fs in os.walk(work) for f in fs if f.endswith('.log')]
    text = open(logs[0]).read()
    assert 'CIRTriplets(train): 48 rows' in text and 'CIRTriplets(val): 16 rows' in text
    assert 'Epoch(train) [1][3/3]' in text and 'custom/R@1:' in text

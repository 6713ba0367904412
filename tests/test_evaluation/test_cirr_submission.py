"""CIRR test-server files: written for all 4,148 test1 pairids on placeholder data, the official structure, the
validator's errors, and ``tools/test.py --submission`` end to end on a small test1 subset."""
import json
import os.path as osp

import pytest
import torch
from mmengine.structures import BaseDataElement

from sdfn_plugin.datasets import CIRRDataset
from sdfn_plugin.evaluation.submissions import CIRRSubmission, SubmissionError, validate_cirr_submission
from sdfn_plugin.evaluation.submissions import cirr as cirr_module

from cir_testlib import CONFIGS

FILES = ('test1_pred_ranks_recall.json', 'test1_pred_ranks_recall_subset.json')


def _check_official_structure(path, metric, length, pairids):
    """As the official examples (Cuberick-Orion/CIRR demo_files): "version" and "metric" first, then one
    "<pairid>": [image names] entry per query."""
    with open(path) as f:
        data = json.load(f)
    keys = list(data)
    assert keys[:2] == ['version', 'metric'] and data['version'] == 'rc2' and data['metric'] == metric
    assert keys[2:] == [str(p) for p in pairids]
    assert all(isinstance(v, list) and len(v) == length and all(isinstance(n, str) for n in v)
               for k, v in data.items() if k not in ('version', 'metric'))
    return data


def test_files_for_every_test1_pairid_pass_the_validator(cirr_root, tmp_path):
    ds = CIRRDataset(cirr_root, 'test1')
    metric = CIRRSubmission(out_dir=str(tmp_path))
    metric.dataset_meta = ds.metainfo
    inputs, preds = [], []
    for i in range(len(ds)):
        q = ds.get_data_info(i)
        # a stand-in ranking: the first 51 gallery rows with the reference moved last, as the retriever does
        rows = [r for r in range(51) if r != q['ref_gallery_idx']] + [q['ref_gallery_idx']]
        inputs.append(BaseDataElement(metainfo=dict(query_id=q['query_id'], sample_idx=i,
                                                    ref_gallery_idx=q['ref_gallery_idx'])))
        preds.append(dict(pred_topk=torch.tensor(rows), subset_idx=torch.tensor(q['subset_gallery_idx'][::-1])))
    metric.process({'data_samples': inputs}, preds)
    assert metric.evaluate(len(ds)) == {}  # writes, then validates
    pairids = [ds.get_data_info(i)['query_id'] for i in range(len(ds))]
    recall = _check_official_structure(str(tmp_path / FILES[0]), 'recall', 50, pairids)
    subset = _check_official_structure(str(tmp_path / FILES[1]), 'recall_subset', 3, pairids)
    assert len(pairids) == 4148 and osp.getsize(tmp_path / FILES[0]) < 5_000_000
    q = ds.get_data_info(0)
    names = ds.metainfo['gallery_ids']
    assert recall[str(q['query_id'])] == [names[r] for r in range(51) if r != q['ref_gallery_idx']][:50]
    assert subset[str(q['query_id'])] == [names[r] for r in q['subset_gallery_idx'][::-1][:3]]


def _small(tmp_path):
    caps = [dict(pairid=1, reference='a', caption='x', img_set=dict(id=0, members=list('abcdef'))),
            dict(pairid=2, reference='b', caption='y', img_set=dict(id=0, members=list('abcdef')))]
    cap_file = tmp_path / 'cap.rc2.test1.json'
    cap_file.write_text(json.dumps(caps))
    return str(cap_file)


def _write(tmp_path, content, raw=None):
    path = tmp_path / 'sub.json'
    path.write_text(raw if raw is not None else json.dumps(content))
    return str(path)


GOOD = {'version': 'rc2', 'metric': 'recall_subset', '1': ['b', 'c', 'd'], '2': ['a', 'c', 'd']}


@pytest.mark.parametrize('change,message', [
    (dict(version='rc1'), "key 'version' must be 'rc2', got 'rc1'"),
    (dict(metric='recall'), "key 'metric' must be 'recall_subset'"),
    ({'3': ['b', 'c', 'd']}, "pairid '3' is not a query of"),
    ({'2': ['a', 'a', 'd']}, "pairid 2 lists 'a' twice"),
    ({'2': ['b', 'c', 'd']}, "pairid 2 lists its own reference 'b'"),
    ({'1': ['b', 'c', 'z']}, "pairid 1 recall_subset name 'z' is not a member of its img_set"),
    ({'1': ['b', 'c']}, "pairid 1 lists 2 names, 'recall_subset' needs 3"),
    ({'1': 'b c d'}, 'pairid 1 must map to a list of image names'),
])
def test_validator_errors_name_file_and_pairid(tmp_path, change, message):
    cap = _small(tmp_path)
    validate_cirr_submission(_write(tmp_path, GOOD), cap, 'recall_subset')
    with pytest.raises(SubmissionError, match="CIRR submission '.*sub.json': " + message.replace('(', r'\(')):
        validate_cirr_submission(_write(tmp_path, dict(GOOD, **change)), cap, 'recall_subset')


def test_validator_missing_pairid_duplicate_key_and_size(tmp_path, monkeypatch):
    cap = _small(tmp_path)
    with pytest.raises(SubmissionError, match=r'pairid 2 of .* has no prediction \(1 of 2 missing\)'):
        validate_cirr_submission(_write(tmp_path, {k: v for k, v in GOOD.items() if k != '2'}), cap, 'recall_subset')
    raw = '{"version": "rc2", "metric": "recall_subset", "1": ["b", "c", "d"], "1": ["c", "d", "e"]}'
    with pytest.raises(SubmissionError, match="key '1' appears twice"):
        validate_cirr_submission(_write(tmp_path, None, raw), cap, 'recall_subset')
    path = _write(tmp_path, GOOD)
    monkeypatch.setattr(cirr_module, 'CIRR_MAX_BYTES', osp.getsize(path))
    with pytest.raises(SubmissionError, match=r'sub.json.* bytes; the server accepts files under'):
        validate_cirr_submission(path, cap, 'recall_subset')


def test_test_tool_writes_the_submission_end_to_end(cirr_root, tmp_path):
    """tools/test.py on the zero-shot CIRR config over the first two test1 image sets, as documented (--cfg-options
    data_root=... test_dataloader.dataset.split=test1 --submission DIR), with tiny random towers in place of CLIP
    (building CLIP would be most of the run) and so without the feature cache; the text vocabulary comes from the same captions, and data_root
    reaches that vocab_dataset too."""
    from sdfn_plugin.tools.test import main as run_test_tool
    with open(osp.join(cirr_root, 'captions', 'cap.rc2.test1.json')) as f:
        caps = [c for c in json.load(f) if c['img_set']['id'] in (1, 2)]
    with open(osp.join(cirr_root, 'image_splits', 'split.rc2.test1.json')) as f:
        split = json.load(f)
    names = {m for c in caps for m in c['img_set']['members']}
    root = tmp_path / 'cirr'
    (root / 'captions').mkdir(parents=True)
    (root / 'image_splits').mkdir()
    (root / 'captions' / 'cap.rc2.test1.json').write_text(json.dumps(caps))
    (root / 'image_splits' / 'split.rc2.test1.json').write_text(json.dumps({n: split[n] for n in sorted(names)}))
    (root / 'img_raw').mkdir()
    (root / 'img_raw' / 'test1').symlink_to(osp.join(cirr_root, 'img_raw', 'test1'))
    child = tmp_path / 'zeroshot_cirr_tiny.py'
    view = [dict(type='ResizeImages', size=32), dict(type='CenterCropImages', size=32)]
    child.write_text(f"""
_base_ = [{osp.join(CONFIGS, 'zeroshot-clip-vitb32_cirr.py')!r}]
model = dict(image_encoder=dict(_delete_=True, type='SmallCNN', channels=(8, 16), out_dim=32),
             text_encoder=dict(_delete_=True, type='LSTMTextEncoder', embed_dim=16, hidden_dim=32, out_dim=32,
                               vocab_dataset=dict(type='CIRRDataset', data_root='data/cirr', split='test1')),
             fusion=dict(image_dim=32, text_dim=32, embed_dim=32), feature_cache=None)
custom_hooks = [dict(type='PrepareGalleryHook')]  # the tiny tower is trainable: no feature cache
_view = {view!r}
test_dataloader = dict(batch_size=16, num_workers=0, dataset=dict(
    pipeline=[dict(type='LoadCIRImages', keys=('ref', )), *_view, dict(type='PackCIRInputs')],
    gallery_pipeline=[dict(type='LoadCIRImages', keys=('img', )), *_view, dict(type='PackCIRInputs')]))
""")
    out = tmp_path / 'submission'
    run_test_tool([str(child), '--no-checkpoint', '--work-dir', str(tmp_path / 'w'), '--submission', str(out),
                   '--cfg-options', f'data_root={root}', 'test_dataloader.dataset.split=test1'])
    pairids = [c['pairid'] for c in caps]
    gallery = len(names)
    _check_official_structure(str(out / FILES[0]), 'recall', min(50, gallery - 1), pairids)
    subset = _check_official_structure(str(out / FILES[1]), 'recall_subset', 3, pairids)
    for c in caps:
        assert set(subset[str(c['pairid'])]) <= set(c['img_set']['members']) - {c['reference']}

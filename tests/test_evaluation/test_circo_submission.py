"""CIRCO's server file on the official test annotations (placeholder gallery) and its validator's errors."""
import json
import os.path as osp

import pytest
import torch

from sdfn_plugin.datasets import CIRCODataset
from sdfn_plugin.evaluation.submissions import CIRCOSubmission, SubmissionError, validate_circo_submission
from sdfn_plugin.structures import CIRDataSample


@pytest.fixture(scope='module')
def written(circo_root, tmp_path_factory):
    """The submission of the 800 test queries for rankings that skip each query's reference, through the
    metric as the test loop drives it (batches of 64, dataset metainfo as dataset_meta)."""
    ds = CIRCODataset(circo_root, split='test', check_images=False)
    metric = CIRCOSubmission(out_dir=str(tmp_path_factory.mktemp('circo_sub')))
    metric.dataset_meta = ds.metainfo
    n = len(ds.gallery)
    rankings = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        rows = [(i + j) % n for j in range(52) if (i + j) % n != info['ref_gallery_idx']][:51]
        rankings.append(rows)
        if i % 64 == 0:
            batch, preds = {'data_samples': []}, []
        batch['data_samples'].append(CIRDataSample(metainfo=dict(query_id=info['query_id'], sample_idx=i)))
        preds.append({'pred_topk': torch.tensor(rows), 'sample_idx': i})
        if i % 64 == 63 or i == len(ds) - 1:
            metric.process(batch, preds)
    assert metric.compute_metrics(metric.results) == {}
    path = osp.join(metric.out_dir, 'circo_test.json')
    return ds, path, rankings


def test_file_matches_the_official_structure_and_passes_the_validator(written):
    ds, path, rankings = written
    with open(path) as f:
        sub = json.load(f)
    # as the official example submission_test.json: keys "0".."799", 50 int COCO ids each, best first
    assert list(sub) == [str(i) for i in range(800)]
    ids = ds.metainfo['gallery_ids']
    assert all(sub[str(i)] == [ids[r] for r in rankings[i][:50]] for i in range(800))
    assert all(type(v) is int for v in sub['0'])
    assert validate_circo_submission(path, ds.metainfo['ann_file'], ids) == 800


@pytest.mark.parametrize('mutate,message', [
    (lambda s, ref: s.pop('17'), r"1 of the 800 query ids of .*test.json' are missing, first: \['17'\]"),
    (lambda s, ref: s.update({'800': s['0']}), r"1 key\(s\) are not query ids of .*first: \['800'\]"),
    (lambda s, ref: s['3'].pop(), 'query 3: expected a list of 50 COCO image ids, got 49 entries'),
    (lambda s, ref: s['4'].__setitem__(9, s['4'][0]), r'query 4: image \d+ is ranked twice'),
    (lambda s, ref: s['5'].__setitem__(2, ref['5']), r'query 5: ranks its own reference image \d+ \(at position 3\)'),
    (lambda s, ref: s['6'].__setitem__(0, str(s['6'][0])), "query 6: COCO image ids must be non-negative JSON ints, "
                                                            "got '"),
    (lambda s, ref: s['7'].__setitem__(0, 1), 'query 7: image 1 is not in the COCO 2017 unlabeled gallery'),
])
def test_validator_names_the_file_and_the_query(written, tmp_path, mutate, message):
    ds, path, _ = written
    with open(path) as f:
        sub = json.load(f)
    refs = {str(ds.get_data_info(i)['query_id']): ds.get_data_info(i)['ref_id'] for i in range(len(ds))}
    mutate(sub, refs)
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(sub))
    with pytest.raises(SubmissionError, match=rf"CIRCO submission '{bad}'.*{message}"):
        validate_circo_submission(str(bad), ds.metainfo['ann_file'], ds.metainfo['gallery_ids'])


def test_validator_file_level_errors_and_short_rankings(written, tmp_path):
    ds, _, _ = written
    bad = tmp_path / 'bad.json'
    bad.write_text('[1, 2]')
    with pytest.raises(SubmissionError, match='must be a JSON object .* got a list'):
        validate_circo_submission(str(bad), ds.metainfo['ann_file'])
    bad.write_text('{"0": [1,')
    with pytest.raises(SubmissionError, match='is not valid JSON'):
        validate_circo_submission(str(bad), ds.metainfo['ann_file'])
    bad.write_text('{"0": [1], "1": [2], "0": [3]}')  # json alone would keep the last "0" silently
    with pytest.raises(SubmissionError, match=f"CIRCO submission '{bad}': key '0' appears twice"):
        validate_circo_submission(str(bad), ds.metainfo['ann_file'])
    metric = CIRCOSubmission(out_dir=str(tmp_path))
    metric.dataset_meta = ds.metainfo
    metric.process({'data_samples': [CIRDataSample(metainfo=dict(query_id=0, sample_idx=0))]},
                   [{'pred_topk': torch.arange(10), 'sample_idx': 0}])
    with pytest.raises(SubmissionError, match=r'query 0 has 10 ranked images; .*model.topk >= 50'):
        metric.compute_metrics(metric.results)


def test_test_tool_writes_and_validates_the_file_for_the_shipped_config(circo_root, tmp_path):
    """tools/test.py --submission on the CIRCO config's test split (its towers swapped for tiny random ones and
    the gallery cut to 60 images: the wiring is under test, from the dataset's submission_metric to the
    validated file)."""
    from cir_testlib import CONFIGS
    info = json.loads(open(osp.join(circo_root, 'COCO2017_unlabeled', 'annotations',
                                    'image_info_unlabeled2017.json')).read())
    small = tmp_path / 'image_info_60.json'
    small.write_text(json.dumps({'images': info['images'][:60]}))
    from sdfn_plugin.tools.test import main as run_test_tool
    pipe = [dict(type='LoadCIRImages', keys=('ref', )), dict(type='PackCIRInputs')]
    gallery_pipe = [dict(type='LoadCIRImages', keys=('img', )), dict(type='PackCIRInputs')]
    child = tmp_path / 'circo_tiny.py'
    child.write_text(f"""
_base_ = [{osp.join(CONFIGS, 'zeroshot-clip-vitb32_circo.py')!r}]
model = dict(image_encoder=dict(_delete_=True, type='SmallCNN', channels=(4, ), out_dim=8),
             text_encoder=dict(_delete_=True, type='LSTMTextEncoder', vocab=['<pad>', '<unk>', 'a'], embed_dim=8,
                               hidden_dim=8),
             fusion=dict(image_dim=8, text_dim=8, embed_dim=8), feature_cache=None)
custom_hooks = [dict(type='PrepareGalleryHook')]
test_dataloader = dict(batch_size=400, num_workers=0,
                       dataset=dict(split='test', image_info={str(small)!r}, pipeline={pipe!r},
                                    gallery_pipeline={gallery_pipe!r}))
""")
    out = tmp_path / 'sub'
    run_test_tool([str(child), '--no-checkpoint', '--work-dir', str(tmp_path / 'w'), '--submission', str(out),
                   '--cfg-options', f'data_root={circo_root}'])
    path = out / 'circo_test.json'
    sub = json.loads(path.read_text())
    gallery = {im['id'] for im in info['images'][:60]}
    assert len(sub) == 800 and all(len(v) == 50 and set(v) <= gallery for v in sub.values())
    ann = osp.join(circo_root, 'annotations', 'test.json')
    assert validate_circo_submission(str(path), ann, gallery) == 800

"""benchmarks/gpu_check.py in its CPU smoke mode: every section runs and its JSON fields are consistent."""
import json
import os.path as osp
import sys

import pytest

from cir_testlib import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import gpu_check  # noqa: E402


@pytest.fixture(scope='module')
def tiny_check(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('gpu_check') / 'out.json')
    out = gpu_check.main(['--device', 'cpu', '--tiny', '--json-out', path])
    with open(path) as f:
        return out, json.load(f)


def test_tiny_run_has_no_failures_and_writes_what_it_returns(tiny_check):
    out, written = tiny_check
    assert out['failed'] == [] and written['failed'] == []
    assert written['args']['tiny'] is True and written['device_name'] == 'cpu'
    assert len(written['steps']) == len(out['steps']) and written['seconds'] == pytest.approx(out['seconds'])


def test_step_cells_cover_methods_precisions_and_compile(tiny_check):
    steps = tiny_check[1]['steps']
    cells = {(r['method'], r['precision'], r['compile']) for r in steps}
    for method in ('sdfn', 'tirg', 'amc', 'image-only'):
        assert (method, 'fp32', None) in cells
    assert ('image-only', 'bf16-cl', None) in cells and ('image-only', 'fp32', 'eager') in cells
    # one bare-backbone row per (precision, compile) cell, at twice the batch (reference + target images)
    backbones = [r for r in steps if r['method'] == 'resnet18-backbone']
    assert {(r['precision'], r['compile']) for r in backbones} == {('fp32', None), ('bf16-cl', None),
                                                                   ('fp32', 'eager')}
    for r in backbones:
        assert r['images'] == 2 * r['batch'] == 4 and r['step_s'] > 0 and r['peak_bytes'] >= 0
    for r in steps:
        if r['method'] == 'resnet18-backbone':
            continue
        base = next(b for b in backbones if (b['precision'], b['compile']) == (r['precision'], r['compile']))
        assert r['batch'] == 2 and 0 < r['data_s'] < r['step_s'] and 0 < r['model_s'] < r['step_s']
        assert r['samples_per_s'] == pytest.approx(2 / r['step_s'])
        assert r['ratio_to_backbone'] == pytest.approx(r['model_s'] / base['step_s'])
        assert r['peak_bytes'] > 0


def test_paper_batches_and_shared_backbone(tmp_path):
    models = gpu_check.method_models(str(tmp_path))
    assert {name: batch for name, (_, batch, _) in models.items()} == {'sdfn': 64, 'tirg': 32, 'amc': 32,
                                                                      'image-only': 64}
    assert {cfg['image_encoder']['depth'] for cfg, _, _ in models.values()} == {50}
    assert models['sdfn'][2]['optimizer']['type'] == 'Adam' and models['tirg'][2]['optimizer']['type'] == 'SGD'


def test_eval_retrieval_and_ddp_sections(tiny_check):
    written = tiny_check[1]
    assert set(written['eval']) == {'sdfn', 'image-only'}  # tiny: two models, the same code path
    assert set(written['section_seconds']) == {'retrieval', 'eval', 'ddp', 'steps'}
    assert sum(written['section_seconds'].values()) <= written['seconds']
    for name in ('sdfn', 'image-only'):
        row = written['eval'][name]
        assert row['batch'] == 2 and row['queries/s'] > 0 and row['gallery images/s'] > 0 and row['peak_bytes'] > 0
    ret = written['retrieval']
    assert (ret['num_queries'], ret['num_gallery'], ret['dim'], ret['k']) == (100, 89, 1024, 50)
    assert ret['exact_rows'] == 100 and ret['ratio'] == pytest.approx(ret['topk_s'] / ret['matmul_s'])
    assert ret['matmul_peak_bytes'] >= 100 * 89 * 4  # the product's own output
    assert ret['faiss']['search_s'] > 0 and ret['faiss']['gpu'] is False
    ddp = written['ddp']
    assert ddp['returncode'] == 0 and ddp['distributed'] is True and ddp['checkpoint'] is True
    assert ddp['iterations'] == 4 and ddp['seconds'] > 0  # 32 training pairs, batch 8, one epoch


def test_budget_skips_instead_of_running():
    clock = gpu_check.Clock(budget_s=-1.0)
    assert gpu_check._guard(lambda: {'ran': True}, clock) == {'skipped': 'time budget (-1 s) spent'}
    assert gpu_check._guard(lambda: 1 / 0, gpu_check.Clock(1e9)) == {'error': 'ZeroDivisionError: division by zero'}

"""benchmarks/speed.py pieces at tiny sizes: memory probe, exactness check, step breakdown, CLI output."""
import json
import os.path as osp
import sys
import time

import pytest
import torch

from cir_testlib import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import speed  # noqa: E402
from speed_retrieval import bench_retrieval, check_exact  # noqa: E402
from speed_step import (StepStats, bench_steps, config_model, schedule_optim_wrapper, sdfn_pair_configs,  # noqa: E402
                        synthetic_batch)
from speed_utils import PeakMemory, heap_in_use  # noqa: E402
import speed_step  # noqa: E402


def test_peak_memory_sees_a_temporary_allocation():
    with PeakMemory(torch.device('cpu')) as mem:
        x = torch.ones(16 * 2**20)  # 64 MiB, freed before the block ends
        time.sleep(0.05)
        del x
    assert 60 <= mem.mib < 100
    assert heap_in_use() > 0


def test_exactness_check_counts_rows_that_differ_from_a_full_sort():
    g = torch.Generator().manual_seed(0)
    query, gallery = torch.randn(20, 8, generator=g), torch.randn(50, 8, generator=g)
    exclude = torch.randint(0, 50, (20, ), generator=g)
    scores = query @ gallery.t()
    scores[torch.arange(20), exclude] = float('-inf')
    indices = scores.argsort(dim=1, descending=True)[:, :5]
    assert check_exact(query, gallery, exclude, indices, block=7) == (20, 0.0)
    wrong = indices.clone()
    wrong[3, [0, 1]] = wrong[3, [1, 0]]  # two items swapped in one row
    identical, gap = check_exact(query, gallery, exclude, wrong, block=7)
    assert identical == 19
    assert gap == pytest.approx(float(scores[3, indices[3, 0]] - scores[3, indices[3, 1]]))


def test_retrieval_benchmark_at_tiny_scale_is_exact():
    result = bench_retrieval(scale=0.003, repeats=2)
    assert (result.num_queries, result.num_gallery, result.k) == (100, 89, 50)
    assert len(result.matmul_s) == len(result.retrieval_s) == 2
    assert result.exact_rows == 100 and result.ratio > 0
    assert any('ratio retrieval / matmul' in line for line in result.report())


def test_image_only_baseline_shares_the_sdfn_towers(tmp_path):
    cfgs = sdfn_pair_configs(str(tmp_path))
    sdfn, image_only = cfgs['sdfn'], cfgs['image-only']
    assert sdfn['image_encoder'] == image_only['image_encoder']
    assert sdfn['image_encoder']['depth'] == 50 and sdfn['image_encoder']['weights'] is None
    assert sdfn['text_encoder'] == image_only['text_encoder'] and sdfn['text_encoder']['glove_file'] is None
    assert sdfn['fusion']['type'] == 'SDFN' and image_only['fusion']['type'] == 'ImageOnly'
    assert [loss['type'] for loss in image_only['losses']] == ['BatchClassificationLoss']
    assert schedule_optim_wrapper(fused=True)['optimizer'] == dict(type='Adam', lr=1e-4, weight_decay=1e-6, eps=1e-8,
                                                                  fused=True)


def test_step_breakdown_of_a_small_config(tmp_path):
    batch = synthetic_batch(3, 64)
    assert len(batch['inputs']['ref']) == 3 and batch['inputs']['ref'][0].dtype == torch.uint8
    stats = bench_steps({'tirg_css': config_model('tirg_css', str(tmp_path))}, batch=2, image_size=64, repeats=2)
    (s, ) = stats
    assert (s.name, s.encoder, s.batch, s.image_size) == ('tirg_css', 'SmallCNN', 2, 64)
    assert len(s.data_s) == len(s.forward_s) == len(s.backward_s) == 2
    assert s.step_s > 0 and s.peak_extra_bytes > 0
    assert s.row().split()[:5] == ['tirg_css', 'SmallCNN', 'LSTMTextEncoder', '2', '64']
    assert 'samples/s' in StepStats.header()
    assert len(s.faults) == 2 and min(s.faults) >= 0 and StepStats.header().split()[-1] == 'faults/step'


def test_cli_retrieval_only_prints_the_ratio_and_writes_json(tmp_path, capsys):
    out = tmp_path / 'speed.json'
    speed.main(['--only', 'retrieval', '--scale', '0.002', '--repeats', '1', '--json-out', str(out)])
    text = capsys.readouterr().out
    assert 'RATIO (a) retrieval / bare matmul = ' in text and 'target <= 1.05' in text
    data = json.loads(out.read_text())
    assert data['retrieval']['num_queries'] == 67 and data['retrieval']['ratio'] > 0
    assert data['args']['cpu_malloc'] == 'retain' and "cpu_malloc 'retain'" in text  # what tools/train.py applies
    with pytest.raises(SystemExit):
        speed.parse_args(['--only', 'throughput'])  # needs --configs
    with pytest.raises(SystemExit):
        speed.parse_args(['--cpu-malloc', 'jemalloc'])


def test_cli_throughput_rows_for_configs(tmp_path, capsys):
    out = tmp_path / 'speed.json'
    speed.main(['--only', 'throughput', '--configs', 'tirg_css', '--batch', '2', '--image-size', '64',
                '--repeats', '1', '--json-out', str(out)])
    text = capsys.readouterr().out
    assert 'eval tirg_css:' in text and 'queries/s' in text
    (row, ) = json.loads(out.read_text())['throughput']
    assert row['name'] == 'tirg_css' and row['samples_per_s'] == pytest.approx(2 / row['step_s'])
    assert row['eval']['queries/s'] > 0


def test_encoder_configs_are_made_offline(tmp_path):
    """Throughput rows of the encoder configs build without downloads: pretrained tags off, MiniLM local."""
    timm_cfg = config_model('tirg-timm-resnet50_shoes', str(tmp_path))
    assert timm_cfg['image_encoder']['pretrained'] is False and timm_cfg['image_encoder']['checkpoint'] is None
    clip_cfg = config_model('sdfn-clip-rn50_fashioniq', str(tmp_path))
    assert clip_cfg['image_encoder']['pretrained'] is None and clip_cfg['text_encoder']['pretrained'] is None
    minilm = config_model('sdfn-minilm_shoes', str(tmp_path))['text_encoder']['model']
    assert osp.isfile(osp.join(minilm, 'config.json'))
    assert 'feature_cache' not in config_model('combiner_shoes', str(tmp_path))
    cfg = {'image_encoder': {'type': 'SmallCNN'}, 'text_encoder': {'type': 'HFTextEncoder', 'model': 'bert-base'}}
    with pytest.raises(ValueError, match="HFTextEncoder with local weights only; 'bert-base' is not a local"):
        speed_step._offline(cfg, 'vocab.txt')

"""ZeroShotSum: the formula, its checks, and a training-free evaluation through tools/test.py --no-checkpoint."""
import json
import os.path as osp

import pytest
import torch

from sdfn_plugin.models.fusions import ZeroShotSum
from sdfn_plugin.structures import ImageFeatures, TextFeatures
from sdfn_plugin.cli.common import load_test_config
from sdfn_plugin.tools.test import main as run_test_tool
from sdfn_plugin.tools.test import parse_args

from cir_testlib import CONFIGS, TINY

ZEROSHOT = osp.join(CONFIGS, 'zeroshot-clip-vitb32_fashioniq.py')


def _features(img, txt):
    img, txt = torch.tensor(img), torch.tensor(txt)
    return (ImageFeatures(tokens=img.unsqueeze(1), pooled=img),
            TextFeatures(tokens=txt.unsqueeze(1), mask=torch.ones(len(txt), 1, dtype=torch.bool), pooled=txt))


@pytest.mark.parametrize('weight,expected', [(1.0, [[0.6, 1.8], [1.0, -1.0]]), (0.5, [[0.6, 1.3], [1.0, -0.5]])])
def test_sum_of_normalised_features(weight, expected):
    fusion = ZeroShotSum(image_dim=2, text_dim=2, embed_dim=2, text_weight=weight)
    out = fusion(*_features([[3.0, 4.0], [2.0, 0.0]], [[0.0, 2.0], [0.0, -5.0]]))
    torch.testing.assert_close(out.query, torch.tensor(expected))
    assert list(fusion.parameters()) == []


@pytest.mark.parametrize('kwargs,message', [
    (dict(image_dim=4, text_dim=8, embed_dim=4), 'ZeroShotSum needs image_dim == text_dim == embed_dim'),
    (dict(text_weight=-1.0), 'ZeroShotSum.text_weight must be a number >= 0'),
])
def test_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ZeroShotSum(**kwargs)


def test_test_tool_needs_a_checkpoint_unless_told_otherwise(tmp_path):
    with pytest.raises(ValueError, match='no checkpoint given: pass CHECKPOINT, or --no-checkpoint'):
        load_test_config(parse_args([ZEROSHOT]))
    with pytest.raises(ValueError, match="give a checkpoint \\('x.pth'\\) or --no-checkpoint, not both"):
        load_test_config(parse_args([ZEROSHOT, 'x.pth', '--no-checkpoint']))
    # `mim test ... --checkpoint none` reaches the script as the positional 'none'
    for argv in ([ZEROSHOT, '--no-checkpoint'], [ZEROSHOT, 'none']):
        cfg = load_test_config(parse_args(argv + ['--work-dir', str(tmp_path)]))
        assert cfg.load_from is None and cfg.model.fusion.type == 'ZeroShotSum'


def test_zero_shot_config_evaluates_on_another_dataset_without_training(tmp_path, css_root):
    """The shipped FashionIQ zero-shot config, pointed at the tiny CSS benchmark with random-init CLIP towers."""
    data = dict(type='CSSDataset', data_root=css_root, split='test', test_mode=True, **TINY,
                pipeline=[dict(type='LoadCIRImages', keys=('ref', )), dict(type='PackCIRInputs')])
    child = tmp_path / 'zeroshot_css.py'
    child.write_text(f"""
_base_ = [{ZEROSHOT!r}]
model = dict(image_encoder=dict(pretrained=None, image_size=64), text_encoder=dict(pretrained=None, max_length=16))
test_dataloader = dict(_delete_=True, batch_size=16, num_workers=0, persistent_workers=False,
                       sampler=dict(type='DefaultSampler', shuffle=False), dataset={data!r})
test_evaluator = dict(_delete_=True, type='RecallAtK', topk=(1, 10, 50))
test_cfg = dict(_delete_=True)
""")
    out = tmp_path / 'metrics.json'
    # in-process: the tool's own main(), without paying a second interpreter start-up and imports
    run_test_tool([str(child), '--no-checkpoint', '--work-dir', str(tmp_path / 'w'), '--metrics-out', str(out)])
    metrics = json.loads(out.read_text())
    assert set(metrics) == {'retrieval/R@1', 'retrieval/R@10', 'retrieval/R@50'}
    assert 0 <= metrics['retrieval/R@1'] <= metrics['retrieval/R@10'] <= metrics['retrieval/R@50'] <= 100

"""MultiValLoop / MultiTestLoop: one gallery and evaluator per FashionIQ category, table summaries."""
import inspect
import json
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from sdfn_plugin.engine.loops import summarize_subsets
from sdfn_plugin.testing.placeholders import write_placeholder_images

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'sdfn_plugin', 'configs')


def test_summarize_subsets():
    m = {'dress/R@10': 10.0, 'dress/R@50': 30.0, 'shirt/R@10': 20.0, 'shirt/R@50': 40.0,
         'toptee/R@10': 30.0, 'toptee/R@50': 50.0}
    out = summarize_subsets(m, ['dress', 'shirt', 'toptee'], ['R@10', 'R@50'])
    assert out == {'avg/R@10': 20.0, 'avg/R@50': 40.0, 'avg': 30.0}
    with pytest.raises(KeyError, match='shirt/R@1'):
        summarize_subsets(m, ['dress', 'shirt'], ['R@1'])


def _fiq(root):
    """Tiny FashionIQ-format data: dress val gallery 6 images / 3 queries, shirt 5 images / 4 queries."""
    trip = lambda c, t, a='is longer', b='has no sleeves': dict(candidate=c, target=t, captions=[a, b])  # noqa
    data = {
        'dress': dict(train=[trip(f'dt{i}', f'dt{i + 1}') for i in range(4)],
                      val=[trip('d0', 'd1'), trip('d2', 'd3'), trip('d4', 'd5', ' red ', '')]),
        'shirt': dict(train=[trip(f'st{i}', f'st{i + 1}', 'is blue') for i in range(4)],
                      val=[trip('s0', 's1'), trip('s1', 's2'), trip('s3', 's4'), trip('s4', 's0')]),
    }
    ids = set()
    for cat, splits in data.items():
        for split, triplets in splits.items():
            os.makedirs(root / 'captions', exist_ok=True)
            os.makedirs(root / 'image_splits', exist_ok=True)
            (root / 'captions' / f'cap.{cat}.{split}.json').write_text(json.dumps(triplets))
            asins = sorted({t['candidate'] for t in triplets} | {t['target'] for t in triplets})
            (root / 'image_splits' / f'split.{cat}.{split}.json').write_text(json.dumps(asins))
            ids.update(asins)
    write_placeholder_images(str(root / 'images' / f'{a}.jpg') for a in ids)
    return str(root)


def test_fashioniq_config_trains_and_evaluates_per_category(tmp_path):
    root = _fiq(tmp_path / 'fiq')
    cfg = Config.fromfile(osp.join(CONFIGS, 'tirg_fashioniq.py'))
    cats = ('dress', 'shirt')
    cfg.model.image_encoder = dict(type='SmallCNN', channels=(8, 8, 8, 8), out_dim=512)
    small = [dict(type='ResizeImages', size=(32, 32)), dict(type='CenterCropImages', size=28)]
    train = cfg.train_dataloader
    train.update(batch_size=4, num_workers=0, persistent_workers=False)
    train.dataset.update(data_root=root, categories=cats)
    train.dataset.pipeline[1:3] = small
    cfg.model.text_encoder.vocab_dataset = dict(train.dataset, check_images=False)
    loaders, evaluators = [], []
    for cat in cats:
        ds = dict(cfg.val_dataloader[0].dataset, data_root=root, categories=cat)
        ds['pipeline'] = [ds['pipeline'][0]] + small + [ds['pipeline'][-1]]
        ds['gallery_pipeline'] = [ds['gallery_pipeline'][0]] + small + [ds['gallery_pipeline'][-1]]
        loaders.append(dict(cfg.val_dataloader[0], batch_size=2, num_workers=0, dataset=ds))
        evaluators.append(dict(type='RecallAtK', topk=(1, 10, 50), prefix=cat))
    cfg.val_dataloader = cfg.test_dataloader = loaders
    cfg.val_evaluator = cfg.test_evaluator = evaluators
    cfg.val_cfg.summary = cfg.test_cfg.summary = dict(name='avg', keys=('R@1', 'R@10', 'R@50'))
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.logger.interval = 1
    # Runner(**sections) instead of Runner.from_cfg: mmengine yapf-formats the whole config several times
    # (log, checkpoint meta), which costs ~3 s per call for this config on a shared CPU
    names = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
    runner = Runner(**{k: cfg[k] for k in names if k in cfg})
    runner.train()
    metrics = runner.test()
    expected = {f'{c}/R@{k}' for c in cats for k in (1, 10, 50)} | {'avg/R@1', 'avg/R@10', 'avg/R@50', 'avg'}
    assert set(metrics) == expected
    for k in (1, 10, 50):
        assert metrics[f'avg/R@{k}'] == pytest.approx((metrics[f'dress/R@{k}'] + metrics[f'shirt/R@{k}']) / 2)
    assert metrics['avg'] == pytest.approx(sum(metrics[f'avg/R@{k}'] for k in (1, 10, 50)) / 3)
    assert metrics['dress/R@10'] == metrics['shirt/R@10'] == 100.0  # galleries smaller than 10
    log = open(osp.join(runner.log_dir, f'{runner.timestamp}.log')).read()
    # each category is ranked against its own gallery (val during training and test)
    line = ("evaluation protocol: FashionIQDataset(split='val'), categories={}, caption_mode='concat_one', "
            "gallery='val_union', gallery {} images, {} queries, reference excluded")
    assert log.count(line.format('dress', 6, 3)) == 2
    assert log.count(line.format('shirt', 5, 4)) == 2
    assert any(f.startswith('best_avg_epoch_1') for f in os.listdir(cfg.work_dir))


def test_one_evaluator_per_dataloader_is_required(tmp_path):
    from sdfn_plugin.engine.loops import MultiValLoop

    class _R:  # the loop checks the arguments before touching the runner
        _randomness_cfg = {}
        seed = 0

    with pytest.raises(ValueError, match='one val_evaluator per val dataloader'):
        MultiValLoop(_R(), [dict(), dict()], [dict(type='RecallAtK')])

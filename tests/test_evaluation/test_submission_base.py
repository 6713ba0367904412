"""The evaluation-server submission mechanism: ``tools/test.py --submission`` wiring and ``SubmissionMetric``."""
import json
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import BaseDataElement

from sdfn_plugin.datasets import BaseCIRDataset, CSSDataset
from sdfn_plugin.evaluation.submissions import SubmissionError, SubmissionMetric, check_file_size, write_json_atomic
from sdfn_plugin.tools.test import add_submission_output


class _ServerDataset(BaseCIRDataset):
    submission_metric = 'ToyServerSubmission'

    def load_queries(self):  # never built here
        raise AssertionError


def _cfg(datasets, prefixes):
    loaders = [dict(dataset=dict(type=d)) for d in datasets]
    evaluators = [dict(type='RecallAtK', prefix=p) for p in prefixes]
    if len(loaders) == 1:
        return Config(dict(test_dataloader=loaders[0], test_evaluator=evaluators[0]))
    return Config(dict(test_dataloader=loaders, test_evaluator=evaluators))


def test_submission_output_appends_the_dataset_metric(tmp_path):
    cfg = _cfg([_ServerDataset], ['x'])
    add_submission_output(cfg, str(tmp_path))
    assert [m['type'] for m in cfg.test_evaluator] == ['RecallAtK', 'ToyServerSubmission']
    assert cfg.test_evaluator[1]['out_dir'] == str(tmp_path)
    # several test datasets: one sub-folder per dataset, named by its metric prefix
    cfg = _cfg([_ServerDataset, _ServerDataset], ['a', None])
    add_submission_output(cfg, str(tmp_path))
    assert [ev[-1]['out_dir'] for ev in cfg.test_evaluator] == [str(tmp_path / 'a'), str(tmp_path / '1')]


def test_submission_output_needs_a_server_format(tmp_path):
    with pytest.raises(ValueError, match='CSSDataset has no evaluation-server format'):
        add_submission_output(_cfg(['CSSDataset'], ['css']), str(tmp_path))
    assert CSSDataset.submission_metric is None


class _ToySubmission(SubmissionMetric):
    pred_fields = ('pred_topk', )
    pred_lengths = {'pred_topk': 2}

    def write(self, results, meta):
        path = os.path.join(self.out_dir, 'sub.json')
        write_json_atomic(path, {str(r['query_id']): self.gallery_names(r['pred_topk'], meta) for r in results})
        return [path]

    def validate(self, paths, meta):
        self.validated = paths


def _batch(ids, rows):
    inputs = [BaseDataElement(metainfo=dict(query_id=q, sample_idx=i)) for i, q in enumerate(ids)]
    preds = [dict(pred_topk=torch.tensor(r), sample_idx=i) for i, r in enumerate(rows)]
    return {'data_samples': inputs}, preds


def test_submission_metric_writes_names_in_dataset_order(tmp_path):
    metric = _ToySubmission(out_dir=str(tmp_path / 'out'))
    metric.dataset_meta = dict(gallery_ids=['g0', 'g1', 'g2'], ann_file='a.json')
    batch, preds = _batch([7, 3], [[2, 0, 1], [1, 2, 0]])
    metric.process(batch, preds)
    assert metric.evaluate(2) == {}
    path = str(tmp_path / 'out' / 'sub.json')
    assert metric.validated == [path]
    with open(path) as f:
        assert json.load(f) == {'7': ['g2', 'g0'], '3': ['g1', 'g2']}
    assert not os.path.exists(path + '.tmp')


def test_submission_metric_errors(tmp_path):
    metric = _ToySubmission(out_dir=str(tmp_path))
    metric.dataset_meta = dict(gallery_ids=['g0', 'g1'], ann_file='a.json')
    batch, preds = _batch([5, 5], [[0], [1]])
    metric.process(batch, preds)
    with pytest.raises(SubmissionError, match='query id 5 was evaluated twice'):
        metric.evaluate(2)
    metric = _ToySubmission(out_dir=str(tmp_path))
    metric.dataset_meta = dict(gallery_ids=['g0'], ann_file='a.json')
    metric.process(*_batch([1], [[1]]))
    with pytest.raises(SubmissionError, match='gallery row 1 outside the gallery of 1 items'):
        metric.evaluate(1)
    metric = _ToySubmission(out_dir=str(tmp_path))
    metric.dataset_meta = dict(gallery_ids=['g0'])
    metric.process(*_batch([1], [[0]]))
    with pytest.raises(KeyError, match="no 'ann_file'"):
        metric.evaluate(1)
    with pytest.raises(KeyError, match='no query_id'):
        metric.process({'data_samples': [BaseDataElement(metainfo={})]}, [dict(pred_topk=torch.tensor([0]))])
    big = tmp_path / 'big.json'
    big.write_text('x' * 20)
    check_file_size(str(big), 21)
    with pytest.raises(SubmissionError, match='big.json.*20 bytes.*under 20 bytes'):
        check_file_size(str(big), 20)

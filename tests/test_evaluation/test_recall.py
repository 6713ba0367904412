import doctest
import math
import os

import pytest
import torch
import torch.distributed as dist
from mmengine.structures import BaseDataElement

from sdfn_plugin.evaluation import RecallAtK, chunked_topk
from sdfn_plugin.evaluation.metrics import recall as recall_module
from sdfn_plugin.models.scorers.base import CosineScorer
from sdfn_plugin.structures import QueryBatch
from sdfn_plugin.testing import DistributedRunError, run_distributed

TOPK = (1, 5, 10, 50)
CATEGORIES = ('dress', 'shirt', 'toptee')


# --------------------------------------------------------------------------- helpers
def _make_predictions(num_queries=60, num_gallery=200, dim=16, seed=0):
    """Random CIR predictions plus the brute-force Recall@K (plain Python loops).

    Returns ``(samples, expected)``: ``samples`` as a retriever's ``predict``
    would return them; ``expected`` the metric dict (without prefix).
    """
    g = torch.Generator().manual_seed(seed)
    queries = torch.randn(num_queries, dim, generator=g, dtype=torch.float64)
    gallery = torch.randn(num_gallery, dim, generator=g, dtype=torch.float64)
    positives, exclude = [], []
    for i in range(num_queries):
        n_pos = int(torch.randint(0, 4, (1, ), generator=g))  # 0..3 positives, some queries have none
        pos = torch.randperm(num_gallery, generator=g)[:n_pos + 1].tolist()
        excl = pos.pop()  # a reference image, never a positive
        exclude.append(excl if i % 3 else -1)
        if pos and i % 2:  # make about half of the queries findable
            gallery[pos[0]] = queries[i] + 0.8 * torch.randn(dim, generator=g, dtype=torch.float64)
        positives.append(pos)
    categories = [CATEGORIES[i % len(CATEGORIES)] for i in range(num_queries)]
    exclude = torch.tensor(exclude)

    scorer = CosineScorer()
    query = scorer.prepare_query(QueryBatch(queries))
    gal = scorer.prepare_gallery(gallery)
    _, topk = chunked_topk(query, gal, scorer, k=max(TOPK), exclude=exclude, gallery_chunk=64)
    samples = [
        dict(pred_topk=topk[i], gt_gallery_idx=positives[i], category=categories[i]) for i in range(num_queries)
    ]

    # brute force: rank = number of strictly better gallery items, on the full matrix
    scores = scorer(query, gal).tolist()
    hit = {}
    for i in range(num_queries):
        if exclude[i] >= 0:
            scores[i][int(exclude[i])] = float('-inf')
        ranks = [sum(1 for s in scores[i] if s > scores[i][p]) for p in positives[i]]
        for k in TOPK:
            hit[i, k] = any(r < k for r in ranks)
    return samples, _brute_metrics(hit, categories, num_queries)


def _brute_metrics(hit, categories, num_queries, rows=None):
    rows = range(num_queries) if rows is None else rows
    expected = {}
    for k in TOPK:
        expected[f'R@{k}'] = 100.0 * sum(hit[i, k] for i in rows) / len(rows)
    cats = sorted({categories[i] for i in rows})
    if len(cats) > 1:
        for k in TOPK:
            per = []
            for c in cats:
                sel = [i for i in rows if categories[i] == c]
                per.append(100.0 * sum(hit[i, k] for i in sel) / len(sel))
                expected[f'{c}/R@{k}'] = per[-1]
            expected[f'mean/R@{k}'] = sum(per) / len(per)
    return expected


def _evaluate(samples, size, batch_size=7, **kwargs):
    metric = RecallAtK(topk=TOPK, **kwargs)
    for start in range(0, len(samples), batch_size):
        metric.process(None, samples[start:start + batch_size])
    return metric.evaluate(size)


def _assert_metrics_close(got, expected, prefix='retrieval/'):
    assert set(got) == {prefix + k for k in expected}
    for key, value in expected.items():
        assert isinstance(got[prefix + key], float)
        assert got[prefix + key] == pytest.approx(value, abs=1e-9), key


# --------------------------------------------------------------------------- calculate
def test_docstring_example():
    result = doctest.testmod(recall_module, verbose=False)
    assert result.attempted >= 2 and result.failed == 0


def test_calculate_hand_computed():
    ranked = torch.tensor([
        [4, 7, 1, 9],  # positive 7 at rank 2
        [3, 2, 8, 0],  # positives {0, 8}: first at rank 3
        [5, 6, 1, 2],  # no positive at all: never a hit, still in the denominator
        [9, 0, 4, 3],  # positive 9 at rank 1
    ])
    out = RecallAtK.calculate(ranked, [[7], [0, 8], [], [9, 42]], topk=(1, 2, 3, 4))
    assert out == {'R@1': 25.0, 'R@2': 50.0, 'R@3': 75.0, 'R@4': 75.0}
    assert list(out) == ['R@1', 'R@2', 'R@3', 'R@4']


def test_calculate_gallery_smaller_than_k():
    # Gallery of 3 items: K' = 3 < K for K = 5, 10; the whole ranking counts.
    ranked = torch.tensor([[2, 0, 1], [1, 2, 0], [0, 1, 2]])
    out = RecallAtK.calculate(ranked, [[1], [], [0]], topk=(1, 5, 10))
    assert out == {'R@1': 100.0 / 3, 'R@5': 200.0 / 3, 'R@10': 200.0 / 3}


def test_calculate_padding_and_thirds():
    # -1 is padding (a shorter ranking) and never matches, even a large index set
    ranked = torch.tensor([[3, -1, -1], [-1, -1, -1], [5, 4, 6]])
    out = RecallAtK.calculate(ranked, [[3], [0], [6]], topk=(1, 3))
    assert out == {'R@1': 100.0 / 3, 'R@3': 200.0 / 3}


def test_calculate_validation():
    ranked = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match='2 ranked queries'):
        RecallAtK.calculate(ranked, [[1]], topk=(1, ))
    with pytest.raises(ValueError, match='non-negative'):
        RecallAtK.calculate(ranked, [[1], [-1]], topk=(1, ))
    with pytest.raises(ValueError, match='zero queries'):
        RecallAtK.calculate(torch.zeros(0, 3, dtype=torch.long), [], topk=(1, ))
    with pytest.raises(ValueError, match=r"\(Q, K'\)"):
        RecallAtK.calculate(torch.zeros(3, dtype=torch.long), [[], [], []], topk=(1, ))


@pytest.mark.parametrize('topk', [(), (0, 1), (1, -5), (1.0, ), 'ab', (True, )])
def test_init_rejects_bad_topk(topk):
    with pytest.raises((ValueError, TypeError)):
        RecallAtK(topk=topk)


# --------------------------------------------------------------------------- process
def test_process_accepts_dicts_and_data_elements():
    metric = RecallAtK(topk=(1, 2))
    assert metric.prefix == 'retrieval'
    big = torch.arange(1000)
    as_element = BaseDataElement(metainfo=dict(gt_gallery_idx=[5], category='shirt'))
    as_element.pred_topk = torch.tensor([5, 1, 2])  # data field next to metainfo fields
    plain_element = BaseDataElement(
        pred_topk=torch.tensor([7, 3]), gt_gallery_idx=torch.tensor([3]), metainfo=dict(category='dress'))
    metric.process(None, [dict(pred_topk=big, gt_gallery_idx=(0, 3), category='dress'), as_element, plain_element])

    assert len(metric.results) == 3  # exactly one entry per sample
    first = metric.results[0]
    assert first['pred_topk'].tolist() == [0, 1]
    assert first['pred_topk'].untyped_storage().nbytes() == 2 * 8  # truncated copy, not a view of `big`
    assert first['gt_gallery_idx'] == [0, 3] and first['category'] == 'dress'
    assert metric.results[1]['pred_topk'].tolist() == [5, 1]
    assert metric.results[1]['gt_gallery_idx'] == [5] and metric.results[1]['category'] == 'shirt'
    assert metric.results[2]['gt_gallery_idx'] == [3] and metric.results[2]['category'] == 'dress'

    out = metric.evaluate(3)
    assert out == {
        'retrieval/R@1': pytest.approx(200.0 / 3),
        'retrieval/R@2': 100.0,
        'retrieval/dress/R@1': 50.0,
        'retrieval/dress/R@2': 100.0,
        'retrieval/shirt/R@1': 100.0,
        'retrieval/shirt/R@2': 100.0,
        'retrieval/mean/R@1': 75.0,
        'retrieval/mean/R@2': 100.0,
    }
    assert metric.results == []

    metric.process(None, [dict(pred_topk=[4], gt_gallery_idx=[])])  # category defaults to ''
    assert metric.results[0]['category'] == '' and metric.results[0]['pred_topk'].dtype == torch.long


def test_process_errors():
    metric = RecallAtK(topk=(1, ))
    with pytest.raises(KeyError, match='gt_gallery_idx'):
        metric.process(None, [dict(pred_topk=torch.tensor([1]))])
    with pytest.raises(ValueError, match='1-D'):
        metric.process(None, [dict(pred_topk=torch.zeros(2, 2, dtype=torch.long), gt_gallery_idx=[])])
    with pytest.raises(TypeError, match='dict or a BaseDataElement'):
        metric.process(None, [[1, 2]])


def test_prefix_and_logging(monkeypatch):
    messages = []

    class _Logger:

        def info(self, msg):
            messages.append(msg)

    monkeypatch.setattr(recall_module.MMLogger, 'get_current_instance', classmethod(lambda cls: _Logger()))
    samples = [dict(pred_topk=torch.tensor([i, 9]), gt_gallery_idx=[0], category=c) for i, c in enumerate('aab')]
    out = _evaluate(samples, 3, prefix='fiq')
    assert out['fiq/R@1'] == pytest.approx(100.0 / 3)
    assert out['fiq/a/R@1'] == 50.0 and out['fiq/b/R@1'] == 0.0 and out['fiq/mean/R@1'] == 25.0
    assert messages == ['RecallAtK: 3 queries (a=2, b=1)']


# --------------------------------------------------------------------------- end to end
def test_end_to_end_matches_brute_force():
    samples, expected = _make_predictions()
    assert any(v > 0 for v in expected.values())  # the data set is not degenerate
    got = _evaluate(samples, len(samples))
    _assert_metrics_close(got, expected)
    assert got['retrieval/R@50'] >= got['retrieval/R@10'] >= got['retrieval/R@1']


def test_single_category_has_no_per_category_keys():
    samples, _ = _make_predictions(num_queries=30, seed=3)
    for s in samples:
        s['category'] = 'all'
    got = _evaluate(samples, len(samples))
    assert set(got) == {f'retrieval/R@{k}' for k in TOPK}


def test_evaluate_truncates_to_size():
    samples, _ = _make_predictions(num_queries=20, seed=1)
    reference = _evaluate(samples[:17], 17)
    assert _evaluate(samples[:17] + samples[:3], 17) == reference  # padded duplicates dropped


# --------------------------------------------------------------------------- distributed
def _shard(samples, rank, world_size):
    """What mmengine's DefaultSampler(shuffle=False, round_up=True) gives a rank."""
    total = math.ceil(len(samples) / world_size) * world_size
    padded = (samples * (total // len(samples) + 1))[:total]
    return padded[rank:total:world_size]


def _distributed_eval(rank, world_size, collect_dir, cases):
    torch.set_num_threads(1)
    assert dist.is_initialized() and dist.get_rank() == rank
    out = {}
    for name, num in cases:
        samples, _ = _make_predictions()
        shard = _shard(samples[:num], rank, world_size)
        out[name] = _evaluate(shard, num, batch_size=4, collect_dir=os.path.join(collect_dir, name))
    return rank, out


def test_distributed_matches_single_process(tmp_path):
    cases = (('even', 60), ('odd', 37))  # 37 queries: the sampler pads rank 1 with query 0
    results = run_distributed(_distributed_eval, 2, str(tmp_path), cases)
    assert [r for r, _ in results] == [0, 1]
    samples, _ = _make_predictions()
    for name, num in cases:
        single = _evaluate(samples[:num], num)
        assert results[0][1][name] == results[1][1][name] == single, name
    _, expected = _make_predictions()
    _assert_metrics_close(results[0][1]['even'], expected)


def _fail_on_rank_one(rank, world_size):
    if rank == 1:
        raise ValueError('boom from rank one')
    dist.barrier()  # blocks (or errors) because rank 1 never arrives
    return rank


def test_run_distributed_propagates_rank_failure():
    with pytest.raises(DistributedRunError, match='boom from rank one') as info:
        run_distributed(_fail_on_rank_one, 2, timeout=60)
    assert 1 in info.value.tracebacks
    assert 'ValueError: boom from rank one' in info.value.tracebacks[1]
    assert '_fail_on_rank_one' in info.value.tracebacks[1]

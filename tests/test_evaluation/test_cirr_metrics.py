"""CIRR's metrics on hand-computed cases, and the explicit subset scoring behind Recall_subset."""
import pytest
import torch

from sdfn_plugin.evaluation.metrics import CIRRRecall
from sdfn_plugin.models.retrievers.gallery_index import GalleryIndex
from sdfn_plugin.models.retrievers.gallery_mixin import GalleryRetrieverMixin
from sdfn_plugin.models.scorers.base import BaseScorer, DotScorer
from sdfn_plugin.structures import CIRDataSample, QueryBatch

# q0: target 7 at global rank 2, first in its subset; q1: target 9 outside the global top-50, second in its
# subset; q2: two correct items (11, 12), 12 at global rank 2, 11 third in the subset.
GLOBAL = [torch.tensor([3, 7] + list(range(20, 68))), torch.arange(100, 150), torch.tensor([5, 12, 1, 2])]
SUBSET = [torch.tensor([7, 2, 4, 5, 6]), torch.tensor([2, 9, 4, 5, 6]), torch.tensor([4, 3, 11, 0, 8])]
GT = [[7], [9], [11, 12]]


def test_hand_computed_recall_subset_and_avg():
    out = CIRRRecall.calculate(GLOBAL, SUBSET, GT)
    expected = {'R@1': 0.0, 'R@5': 200 / 3, 'R@10': 200 / 3, 'R@50': 200 / 3,
                'Rsubset@1': 100 / 3, 'Rsubset@2': 200 / 3, 'Rsubset@3': 100.0, 'avg': (200 / 3 + 100 / 3) / 2}
    assert out == pytest.approx(expected)
    # K larger than the set (and than a short subset): the whole subset counts
    short = [SUBSET[0], torch.tensor([2, 9]), SUBSET[2]]
    assert CIRRRecall.calculate(GLOBAL, short, GT, topk=(5, ), subset_topk=(1, 10)) == pytest.approx(
        {'R@5': 200 / 3, 'Rsubset@1': 100 / 3, 'Rsubset@10': 100.0, 'avg': 50.0})


def test_metric_through_process_names_and_test1():
    metric = CIRRRecall()
    preds = [dict(pred_topk=g, subset_idx=s, gt_gallery_idx=t) for g, s, t in zip(GLOBAL, SUBSET, GT)]
    metric.process({}, preds)
    out = metric.evaluate(3)
    assert set(out) == {f'cirr/{k}' for k in ('R@1', 'R@5', 'R@10', 'R@50', 'Rsubset@1', 'Rsubset@2', 'Rsubset@3',
                                              'avg')}
    assert out['cirr/avg'] == pytest.approx(50.0)
    metric.process({}, [dict(p, gt_gallery_idx=[]) for p in preds])  # test1: targets hidden
    assert metric.evaluate(3) == {}
    with pytest.raises(KeyError, match='no subset_idx'):
        metric.process({}, [dict(pred_topk=GLOBAL[0], gt_gallery_idx=[7])])
    with pytest.raises(ValueError, match=r'avg = \(R@5 \+ Rsubset@1\) / 2 needs 5 in topk'):
        CIRRRecall(topk=(1, 10))


class _AuxScorer(BaseScorer):
    """Query-dependent: the inner product times a per-query weight carried in ``aux``."""
    inner_product = False

    def forward(self, query, gallery):
        return (query.query @ gallery.t()) * query.aux['w'][:, None]


@pytest.mark.parametrize('scorer', [DotScorer(), _AuxScorer()], ids=['inner-product', 'query-dependent'])
def test_score_rows_equals_brute_force(scorer):
    g = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    q = QueryBatch(torch.randn(3, 4, generator=torch.Generator().manual_seed(1)), {'w': torch.tensor([1., -2., .5])})
    rows = torch.tensor([[9, 0, 3], [2, 2, -1], [5, -1, -1]])
    out = GalleryIndex(g, [str(i) for i in range(10)]).score_rows(q, rows, scorer)
    full = scorer(q, g)
    expected = torch.stack([torch.where(r >= 0, full[i, r.clamp(min=0)], torch.tensor(float('-inf')))
                            for i, r in enumerate(rows)])
    torch.testing.assert_close(out, expected)
    with pytest.raises(IndexError, match='row 10 outside the gallery of 10 items'):
        GalleryIndex(g, [str(i) for i in range(10)]).score_rows(q, torch.tensor([[10], [0], [0]]), scorer)


class _Toy(GalleryRetrieverMixin):
    """Just the gallery side of a retriever: the query embedding is the 'reference' input itself."""
    topk, exclude_reference, scorer = 2, True, DotScorer()

    def extract_query(self, ref, texts):
        return QueryBatch(ref)


def test_predict_scores_the_subset_explicitly_ties_stay_in_set_order():
    toy = _Toy()
    gallery = torch.tensor([[1.0, 0], [.9, 0], [.8, 0], [.1, 0], [.1, 0], [-1., 0]])
    toy.set_gallery(GalleryIndex(gallery, [f'g{i}' for i in range(6)]))
    samples = [CIRDataSample(metainfo=dict(ref_gallery_idx=0, gt_gallery_idx=[5], subset_gallery_idx=[5, 4, 3])),
               CIRDataSample(metainfo=dict(ref_gallery_idx=1, gt_gallery_idx=[3], subset_gallery_idx=[3, 4, 5])),
               CIRDataSample(metainfo=dict(ref_gallery_idx=1, gt_gallery_idx=[1]))]
    out = toy.predict({'ref': torch.tensor([[1.0, 0], [1.0, 0], [1.0, 0]]), 'text': ['a', 'b', 'c']}, samples)
    assert [r['pred_topk'].tolist() for r in out] == [[1, 2], [0, 2], [0, 2]]  # targets 5 and 3 are outside
    # 4 and 3 tie (0.1): the stable sort keeps their order in subset_gallery_idx; 5 (score -1) comes last
    assert out[0]['subset_idx'].tolist() == [4, 3, 5] and out[1]['subset_idx'].tolist() == [3, 4, 5]
    torch.testing.assert_close(out[0]['subset_scores'], torch.tensor([.1, .1, -1.]))
    assert 'subset_idx' not in out[2]
    m = CIRRRecall.calculate([r['pred_topk'] for r in out[:2]], [r['subset_idx'] for r in out[:2]], [[5], [3]],
                             topk=(1, 5), subset_topk=(1, 2, 3))
    assert m == pytest.approx({'R@1': 0.0, 'R@5': 0.0, 'Rsubset@1': 50.0, 'Rsubset@2': 50.0, 'Rsubset@3': 100.0,
                               'avg': 25.0})

"""CIRCOmAP against hand-computed cases (AP@K normalised by min(#gt, K), as the official evaluation)."""
import pytest
import torch

from sdfn_plugin.evaluation.metrics import CIRCOmAP
from sdfn_plugin.structures import CIRDataSample


def test_ap_with_k_below_and_above_the_number_of_ground_truths():
    # 3 ground truths {1, 2, 3}; hits at ranks 1, 3 and 6:
    #   precisions at the hits 1/1, 2/3, 3/6
    #   AP@2 = 1 / min(3, 2) = 0.5;  AP@5 = (1 + 2/3) / 3 = 0.5556;  AP@10 = (1 + 2/3 + 1/2) / 3 = 0.7222
    out = CIRCOmAP.calculate([[1, 9, 2, 8, 7, 3, 6, 5, 4, 0]], [[1, 2, 3]], [2], topk=(2, 5, 10))
    assert out['mAP@2'] == pytest.approx(50.0)
    assert out['mAP@5'] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert out['mAP@10'] == pytest.approx(100 * (1 + 2 / 3 + 1 / 2) / 3)
    # the target (row 2, rank 3) counts for Recall@K alone
    assert (out['R@2'], out['R@5'], out['R@10']) == (0.0, 100.0, 100.0)


def test_all_ground_truths_on_top_give_ap_one_for_every_k():
    out = CIRCOmAP.calculate([[4, 5, 0, 1]], [[5, 4]], [5], topk=(1, 2, 4))
    assert out == {'mAP@1': 100.0, 'mAP@2': 100.0, 'mAP@4': 100.0, 'R@1': 0.0, 'R@2': 100.0, 'R@4': 100.0}


def test_mean_over_queries_short_rankings_and_target_outside_the_gallery():
    # query 0: 1 gt at rank 2 -> AP@3 = 1/2; query 1: ranking of 2 rows (gallery smaller than K), its 2 gts at
    # ranks 1 and 2 -> AP@3 = (1 + 1) / min(2, 3) = 1; query 2: gt never ranked -> 0, target -1 never a hit.
    out = CIRCOmAP.calculate([[7, 3, 1], [6, 5], [0, 1, 2]], [[3], [5, 6], [8]], [3, 6, -1], topk=(1, 3))
    assert out['mAP@3'] == pytest.approx(100 * (0.5 + 1 + 0) / 3)
    assert out['mAP@1'] == pytest.approx(100 * (0 + 1 + 0) / 3)
    assert out['R@1'] == pytest.approx(100 / 3) and out['R@3'] == pytest.approx(200 / 3)


def test_duplicate_predictions_are_refused():
    with pytest.raises(ValueError, match='query 0 ranks a gallery row twice'):
        CIRCOmAP.calculate([[1, 2, 1]], [[1]], [1], topk=(3, ))


def _run(metric, preds, metas):
    batch = {'data_samples': [CIRDataSample(metainfo=m) for m in metas]}
    metric.process(batch, preds)
    return metric.compute_metrics(metric.results)


def test_metric_reads_the_target_row_from_the_query_and_names_its_outputs():
    metric = CIRCOmAP(topk=(1, 2))
    preds = [{'pred_topk': torch.tensor([3, 4, 5]), 'gt_gallery_idx': [4, 9]},
             {'pred_topk': torch.tensor([2, 0, 1]), 'gt_gallery_idx': [2]}]
    out = _run(metric, preds, [dict(query_id=0, tgt_gallery_idx=9), dict(query_id=1, tgt_gallery_idx=2)])
    # AP@1: 0 and 1; AP@2: (1/2) / 2 and 1; R: target 9 unranked, target 2 at rank 1
    assert out == pytest.approx({'mAP@1': 50.0, 'mAP@2': 62.5, 'R@1': 50.0, 'R@2': 50.0})
    assert metric.prefix == 'circo'


def test_test_split_gives_no_metric_and_a_partial_ground_truth_is_an_error():
    no_gt = [{'pred_topk': torch.tensor([1, 2]), 'gt_gallery_idx': []}] * 2
    metas = [dict(query_id=0, tgt_gallery_idx=-1), dict(query_id=1, tgt_gallery_idx=-1)]
    assert _run(CIRCOmAP(topk=(1, )), no_gt, metas) == {}
    mixed = [no_gt[0], {'pred_topk': torch.tensor([1, 2]), 'gt_gallery_idx': [1]}]
    with pytest.raises(ValueError, match=r'1 of 2 queries have no ground truth \(first query ids: \[0\]\)'):
        _run(CIRCOmAP(topk=(1, )), mixed, metas)
    with pytest.raises(KeyError, match='a query has no tgt_gallery_idx'):
        _run(CIRCOmAP(topk=(1, )), mixed, [{}, {}])
    with pytest.raises(ValueError, match='pred_topk must be a 1-D tensor of gallery rows'):
        _run(CIRCOmAP(topk=(1, )), [{'pred_topk': torch.zeros(2, 2, dtype=torch.long), 'gt_gallery_idx': [1]}],
             metas[:1])

"""RecallAtK(summary=True): the protocol-level ``mean`` keys (Shoes / Fashion200K tables)."""
import torch

from sdfn_plugin.evaluation import RecallAtK


def _run(metric, preds):
    metric.process({}, preds)
    return metric.evaluate(len(preds))


def test_summary_mean_with_prefix():
    preds = [dict(pred_topk=torch.tensor([3, 1, 2]), gt_gallery_idx=[1]),   # rank 2
             dict(pred_topk=torch.tensor([0, 1, 2]), gt_gallery_idx=[0]),   # rank 1
             dict(pred_topk=torch.tensor([0, 1, 2]), gt_gallery_idx=[9])]   # miss
    out = _run(RecallAtK(topk=(1, 2, 50), prefix='shoes', summary=True), preds)
    assert out == {'shoes/R@1': 100 / 3, 'shoes/R@2': 200 / 3, 'shoes/R@50': 200 / 3,
                   'shoes/mean': (100 / 3 + 200 / 3 + 200 / 3) / 3}
    plain = _run(RecallAtK(topk=(1, 2, 50), prefix='shoes'), preds)
    assert set(plain) == {'shoes/R@1', 'shoes/R@2', 'shoes/R@50'}  # keys unchanged without summary


def test_summary_with_categories_keeps_existing_keys():
    preds = [dict(pred_topk=torch.tensor([1, 0]), gt_gallery_idx=[1], category='a'),
             dict(pred_topk=torch.tensor([1, 0]), gt_gallery_idx=[0], category='b')]
    out = _run(RecallAtK(topk=(1, 2), summary=True), preds)
    assert out['retrieval/a/mean'] == 100.0 and out['retrieval/b/mean'] == 50.0
    assert out['retrieval/mean/R@1'] == 50.0 and out['retrieval/mean'] == 75.0

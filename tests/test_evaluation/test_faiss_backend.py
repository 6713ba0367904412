"""The optional faiss backend: same rankings as the torch path, clear errors for query-dependent scorers."""
import pytest
import torch

from sdfn_plugin.evaluation.faiss_backend import FaissGallery, faiss_topk
from sdfn_plugin.evaluation.topk import chunked_topk
from sdfn_plugin.models.retrievers import GalleryIndex
from sdfn_plugin.models.scorers.base import BaseScorer, CosineScorer, DotScorer
from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import QueryBatch
from sdfn_plugin.utils import register_all_modules

pytest.importorskip('faiss')
register_all_modules()


@MODELS.register_module(force=True)
class ReweightedScorer(BaseScorer):
    """Query-dependent scores (ARTEMIS-like): (q * w) @ g.T with w from query.aux."""

    inner_product = False

    def forward(self, query, gallery):
        return (query.query * query.aux['w']) @ gallery.t()


def _data(num_queries, num_gallery, dim=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(num_queries, dim, generator=g)
    gallery = torch.randn(num_gallery, dim, generator=g)
    exclude = torch.randint(-1, num_gallery, (num_queries, ), generator=g)
    return query, gallery, exclude


@pytest.mark.parametrize('scorer_cls', [DotScorer, CosineScorer])
@pytest.mark.parametrize('num_gallery,k', [(300, 50), (300, 1), (40, 39), (40, 40), (40, 100)])
@pytest.mark.parametrize('use_exclude', [False, True])
def test_same_ranking_as_torch_path(scorer_cls, num_gallery, k, use_exclude):
    scorer = scorer_cls()
    query, gallery, exclude = _data(25, num_gallery, seed=num_gallery + k)
    query, gallery = scorer.prepare_query(QueryBatch(query)), scorer.prepare_gallery(gallery)
    exclude = exclude if use_exclude else None
    ref_values, ref_indices = chunked_topk(query, gallery, scorer, k, exclude, gallery_chunk=64, query_chunk=8)
    values, indices = faiss_topk(query, gallery, scorer, k, exclude)
    assert indices.dtype == torch.long and values.dtype == gallery.dtype
    assert torch.equal(indices, ref_indices)
    assert torch.equal(torch.isinf(values), torch.isinf(ref_values))  # excluded item last at -inf when k >= G
    finite = torch.isfinite(ref_values)
    torch.testing.assert_close(values[finite], ref_values[finite], rtol=1e-5, atol=1e-5)


def test_index_is_reused_until_the_gallery_changes():
    # the GalleryIndex owns its faiss structure: built once, rebuilt after add()
    query, gallery, _ = _data(5, 50)
    index = GalleryIndex(gallery[:40], [str(i) for i in range(40)], backend='faiss')
    index.search(QueryBatch(query), 5, scorer=DotScorer())
    first = index._faiss
    index.search(QueryBatch(query), 5, scorer=DotScorer())
    assert index._faiss is first
    index.add(gallery[40:], [str(i) for i in range(40, 50)])  # a stale index would miss the new items
    _, indices = index.search(QueryBatch(query), 5, scorer=DotScorer())
    assert index._faiss is not first
    assert torch.equal(indices, (query @ gallery.t()).argsort(dim=1, descending=True)[:, :5])


def test_query_dependent_scorer_is_a_clear_error():
    query, gallery, _ = _data(3, 10)
    batch = QueryBatch(query, {'w': torch.ones_like(query)})
    with pytest.raises(ValueError, match=r"retrieval_backend='faiss' needs an inner-product scorer, "
                       r'but ReweightedScorer has inner_product=False'):
        GalleryIndex(gallery, [str(i) for i in range(10)], backend='faiss').search(batch, 3, scorer=ReweightedScorer())
    with pytest.raises(ValueError, match=r"retrieval_backend must be one of \('torch', 'faiss'\), got 'annoy'"):
        GalleryIndex(gallery, [str(i) for i in range(10)], backend='annoy')


def _model_cfg(tmp_path, **kw):
    vocab = tmp_path / 'vocab.txt'
    vocab.write_text('<pad>\n<unk>\nadd\nred\n')
    return dict(type='ComposedRetriever', image_encoder=dict(type='SmallCNN', channels=(4, ), out_dim=8),
                text_encoder=dict(type='LSTMTextEncoder', vocab_file=str(vocab), embed_dim=8, hidden_dim=8, out_dim=8),
                fusion=dict(type='Concat', image_dim=8, text_dim=8, embed_dim=8),
                losses=[dict(type='BatchClassificationLoss')], **kw)


def test_model_config_with_faiss_and_query_dependent_scorer_fails_at_build(tmp_path):
    cfg = _model_cfg(tmp_path, scorer=dict(type='ReweightedScorer'), retrieval_backend='faiss')
    with pytest.raises(ValueError, match=r"model.retrieval_backend='faiss' needs an inner-product scorer, "
                       'but ReweightedScorer has inner_product=False'):
        MODELS.build(cfg)


def test_retriever_predictions_are_the_same_with_either_backend(tmp_path):
    from sdfn_plugin.structures import CIRDataSample
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(tmp_path, topk=6)).eval()
    g = torch.Generator().manual_seed(1)
    gallery = torch.randn(40, 8, generator=g)
    samples = [CIRDataSample(metainfo=dict(sample_idx=i, gt_gallery_idx=[i], ref_gallery_idx=i)) for i in range(3)]
    data = model.data_preprocessor({'inputs': {'ref': list(torch.randint(0, 256, (3, 3, 16, 16), generator=g,
                                                                            dtype=torch.uint8)),
                                               'text': ['add red', 'red', 'add']}, 'data_samples': samples}, False)
    with_faiss = MODELS.build(_model_cfg(tmp_path, topk=6, retrieval_backend='faiss')).eval()
    with_faiss.load_state_dict(model.state_dict())
    model.set_gallery(gallery)
    with_faiss.set_gallery(gallery)
    torch_preds, faiss_preds = model(**data, mode='predict'), with_faiss(**data, mode='predict')
    for a, b, i in zip(torch_preds, faiss_preds, range(3)):
        assert a['pred_topk'].tolist() == b['pred_topk'].tolist()
        assert i not in b['pred_topk'].tolist()  # reference excluded


def test_gallery_validation_and_cpu_only_build():
    with pytest.raises(ValueError, match='gallery must be a 2-D'):
        FaissGallery(torch.zeros(3))
    index = FaissGallery(torch.eye(4), use_gpu=False)
    assert not index.on_gpu
    values, indices = index.search(torch.tensor([[0.0, 0.0, 2.0, 1.0]]), 2)
    assert indices.tolist() == [[2, 3]] and values.tolist() == [[2.0, 1.0]]
    with pytest.raises(ValueError, match=r'query must be \(Bq, 4\)'):
        index.search(torch.zeros(1, 5), 2)

import pytest
import torch

from sdfn_plugin.evaluation.topk import BLOCK_BYTES, block_shape, chunked_topk
from sdfn_plugin.models.scorers.base import BaseScorer, CosineScorer, DotScorer
from sdfn_plugin.structures import QueryBatch


class WeightedDotScorer(BaseScorer):
    """Query-dependent scorer: scores = (q * w) @ g.T with w from query.aux."""

    inner_product = False

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, query, gallery):
        self.calls.append(gallery.shape[0])
        return (query.query * query.aux['w']) @ gallery.t()


def _data(num_queries, num_gallery, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    query = QueryBatch(
        torch.randn(num_queries, dim, generator=g, dtype=torch.float64),
        {'w': torch.rand(num_queries, dim, generator=g, dtype=torch.float64) + 0.5})
    gallery = torch.randn(num_gallery, dim, generator=g, dtype=torch.float64)
    exclude = torch.randint(-1, num_gallery, (num_queries, ), generator=g)
    exclude[0] = num_gallery - 1  # the last item (in the last, maybe partial, chunk)
    if num_queries > 1:
        exclude[1] = -1
    return query, gallery, exclude


def _reference(query, gallery, scorer, k, exclude=None):
    scores = scorer(query, gallery).clone()
    if exclude is not None:
        rows = torch.nonzero(exclude >= 0).flatten()
        scores[rows, exclude[rows]] = float('-inf')
    values, indices = torch.sort(scores, dim=1, descending=True)
    return values[:, :k], indices[:, :k]


@pytest.mark.parametrize('scorer_cls', [DotScorer, CosineScorer, WeightedDotScorer])
@pytest.mark.parametrize('use_exclude', [False, True])
@pytest.mark.parametrize(
    'num_gallery,chunk,k',
    [
        (100, 32, 5),  # G not a multiple of the chunk
        (96, 32, 10),  # G a multiple of the chunk
        (100, 7, 20),  # k > chunk
        (50, 16, 50),  # k == G
        (30, 8, 100),  # k > G
        (40, 1, 3),  # chunk of one item
        (40, 1000, 7),  # a single chunk
        (1, 4, 3),  # one gallery item
    ])
@pytest.mark.parametrize('query_chunk', [4, 13, 64])  # 4 does not divide the 13 queries
def test_matches_full_sort(scorer_cls, use_exclude, num_gallery, chunk, k, query_chunk):
    scorer = scorer_cls()
    query, gallery, exclude = _data(13, num_gallery, seed=num_gallery * 31 + chunk)
    query, gallery = scorer.prepare_query(query), scorer.prepare_gallery(gallery)
    exclude = exclude if use_exclude else None

    values, indices = chunked_topk(query, gallery, scorer, k, exclude=exclude, gallery_chunk=chunk,
                                   query_chunk=query_chunk)
    ref_values, ref_indices = _reference(query, gallery, scorer, k, exclude)

    k_out = min(k, num_gallery)
    assert values.shape == indices.shape == (13, k_out)
    assert indices.dtype == torch.long
    assert torch.equal(indices, ref_indices)
    # a chunk's matmul may differ from the full one in the last ulp
    torch.testing.assert_close(values, ref_values, rtol=1e-12, atol=1e-12)
    if use_exclude:
        for i, e in enumerate(exclude.tolist()):
            if e >= 0 and k_out < num_gallery:
                assert e not in indices[i].tolist()
            elif e >= 0:  # whole gallery returned: the excluded item ranks last at -inf
                assert indices[i, -1] == e and values[i, -1] == float('-inf')


def test_never_scores_more_than_a_chunk():
    scorer = WeightedDotScorer()
    query, gallery, _ = _data(4, 1000)
    chunked_topk(query, gallery, scorer, k=10, gallery_chunk=128)
    assert scorer.calls == [128] * 7 + [1000 - 7 * 128]


def test_exclude_accepts_sequence_and_handles_tiny_gallery():
    scorer = DotScorer()
    query, gallery, _ = _data(2, 2)
    values, indices = chunked_topk(query, gallery, scorer, k=1, exclude=[0, 1], gallery_chunk=1)
    assert indices.tolist() == [[1], [0]]
    assert torch.isfinite(values).all()


def test_empty_gallery_and_no_queries():
    scorer = DotScorer()
    query, _, _ = _data(3, 5)
    values, indices = chunked_topk(query, torch.empty(0, 8, dtype=torch.float64), scorer, k=5)
    assert values.shape == indices.shape == (3, 0)
    empty_query = QueryBatch(torch.empty(0, 8, dtype=torch.float64), {})
    values, indices = chunked_topk(empty_query, torch.randn(20, 8, dtype=torch.float64), scorer, k=5, gallery_chunk=6)
    assert values.shape == indices.shape == (0, 5)


@pytest.mark.parametrize(
    'kwargs,error,match',
    [
        (dict(k=0), ValueError, 'k must be a positive int'),
        (dict(k=2.0), ValueError, 'k must be a positive int'),
        (dict(k=3, gallery_chunk=0), ValueError, 'gallery_chunk must be a positive int'),
        (dict(k=3, query_chunk=-1), ValueError, 'query_chunk must be a positive int'),
        (dict(k=3, exclude=torch.zeros(5, dtype=torch.long)), ValueError, r'exclude must have shape'),
        (dict(k=3, exclude=torch.zeros(4)), TypeError, 'integer gallery indices'),
        (dict(k=3, exclude=torch.tensor([0, 1, 2, 10])), ValueError, r'\[-1, 10\)'),
        (dict(k=3, exclude=torch.tensor([0, 1, -2, 3])), ValueError, r'\[-1, 10\)'),
    ])
def test_argument_validation(kwargs, error, match):
    query, gallery, _ = _data(4, 10)
    with pytest.raises(error, match=match):
        chunked_topk(query, gallery, DotScorer(), **kwargs)


def test_gallery_and_query_shape_validation():
    query, gallery, _ = _data(4, 10)
    with pytest.raises(ValueError, match='gallery must be a 2-D'):
        chunked_topk(query, gallery[0], DotScorer(), k=3)
    with pytest.raises(ValueError, match='query.query must be a 2-D'):
        chunked_topk(QueryBatch(query.query[0]), gallery, DotScorer(), k=3)
    with pytest.raises(TypeError, match='QueryBatch'):
        chunked_topk(query.query, gallery, DotScorer(), k=3)


def test_no_grad_and_device_of_outputs():
    scorer = DotScorer()
    query = QueryBatch(torch.randn(3, 4, requires_grad=True))
    gallery = torch.randn(9, 4, requires_grad=True)
    values, indices = chunked_topk(query, gallery, scorer, k=4, gallery_chunk=2)
    assert not values.requires_grad
    assert values.device == indices.device == gallery.device


def _stable_reference(query, gallery, scorer, k, exclude):
    scores = scorer(query, gallery).clone()
    rows = torch.nonzero(exclude >= 0).flatten()
    scores[rows, exclude[rows]] = float('-inf')
    values, indices = torch.sort(scores, dim=1, descending=True, stable=True)
    return values[:, :k], indices[:, :k]


@pytest.mark.parametrize(
    'scorer_cls,num_gallery,k,chunk,query_chunk',
    [
        (DotScorer, 70, 12, 16, 4),  # plain topk per block, 5 blocks merged
        (DotScorer, 403, 5, None, 5),  # one long block: the grouped two-stage path
        (DotScorer, 403, 3, 100, 13),  # grouped full blocks + a plain 3-item last block
        (WeightedDotScorer, 70, 12, 16, 4),  # query-dependent scorer path
    ])
def test_ties_rank_by_gallery_index_as_a_stable_full_sort(scorer_cls, num_gallery, k, chunk, query_chunk):
    """Many exactly equal scores (integer data): values equal the full sort, and the indices equal a stable
    descending sort's (equal scores by ascending gallery index, also for the last places kept)."""
    g = torch.Generator().manual_seed(3)
    query = QueryBatch(torch.randint(-2, 3, (9, 3), generator=g).double(), {'w': torch.ones(9, 3).double()})
    gallery = torch.randint(-2, 3, (num_gallery, 3), generator=g).double()
    exclude = torch.randint(-1, num_gallery, (9, ), generator=g)
    scorer = scorer_cls()
    values, indices = chunked_topk(query, gallery, scorer, k, exclude=exclude, gallery_chunk=chunk,
                                   query_chunk=query_chunk)
    ref_values, ref_indices = _stable_reference(query, gallery, scorer, k, exclude)
    assert torch.equal(values, ref_values)
    assert torch.equal(indices, ref_indices)
    scores = query.query @ gallery.t()
    crossing = 0
    for i in range(9):
        assert len(set(indices[i].tolist())) == k
        assert exclude[i].item() not in indices[i].tolist()
        assert torch.equal(scores[i, indices[i]], values[i])
        crossing += int((scores[i] == values[i, -1]).sum() > (values[i] == values[i, -1]).sum())
    assert crossing > 0  # the data do put ties across the k-th place


def test_float32_blocks_equal_a_row_block_full_sort():
    """The fast path on float32 (the evaluation dtype): indices equal argsort of the
    same query rows against the whole gallery."""
    g = torch.Generator().manual_seed(4)
    query, gallery = torch.randn(37, 24, generator=g), torch.randn(500, 24, generator=g)
    exclude = torch.randint(-1, 500, (37, ), generator=g)
    _, indices = chunked_topk(QueryBatch(query), gallery, DotScorer(), 50, exclude=exclude,
                              gallery_chunk=500, query_chunk=10)
    scores = query @ gallery.t()
    rows = torch.nonzero(exclude >= 0).flatten()
    scores[rows, exclude[rows]] = float('-inf')
    assert torch.equal(indices, scores.argsort(dim=1, descending=True)[:, :50])


class ScaledScorer(BaseScorer):
    """Claims inner_product but rescales: the fast path would return wrong values."""

    def forward(self, query, gallery):
        return 2.0 * query.query @ gallery.t()


def test_inner_product_scorer_that_is_not_a_dot_product_is_rejected():
    query, gallery, _ = _data(4, 10)
    with pytest.raises(ValueError, match='ScaledScorer declares inner_product=True but its scores are not'):
        chunked_topk(query, gallery, ScaledScorer(), k=3)


def test_automatic_blocks_fill_the_score_budget():
    # Fashion200K: whole gallery rows, as many query rows as 256 MiB of float32 scores hold
    assert block_shape(33480, 29789, 4, None, None) == (256 * 2**20 // (29789 * 4), 29789)
    # million-item gallery: rows are capped so that 64 of them fit the budget
    assert block_shape(1000, 3_000_000, 4, None, None) == (64, 2**20)
    assert block_shape(5, 7, 8, None, None) == (5, 7)
    assert block_shape(100, 50, 4, 16, 8) == (8, 16)  # explicit chunks win
    rows, cols = block_shape(33480, 29789, 4, None, None)
    assert rows * cols * 4 <= BLOCK_BYTES


@pytest.mark.parametrize(
    'num_gallery,chunk,k',
    [
        (403, None, 5),  # one block, G not a multiple of the group size: padded columns
        (403, 100, 3),  # full blocks take the grouped path, the 3-item last block the plain one
        (256, None, 8),  # G a multiple of the group size
    ])
def test_long_rows_take_the_grouped_path_and_match_the_full_sort(num_gallery, chunk, k):
    from sdfn_plugin.evaluation.topk import GROUP, GROUPED_MIN_ITEMS_PER_K
    assert (chunk or num_gallery) >= GROUPED_MIN_ITEMS_PER_K * k - GROUP  # the two-stage selection runs
    query, gallery, exclude = _data(13, num_gallery, seed=num_gallery + k)
    values, indices = chunked_topk(query, gallery, DotScorer(), k, exclude=exclude, gallery_chunk=chunk,
                                   query_chunk=5)
    ref_values, ref_indices = _reference(query, gallery, DotScorer(), k, exclude)
    assert torch.equal(indices, ref_indices)
    torch.testing.assert_close(values, ref_values, rtol=1e-12, atol=1e-12)


def test_grouped_path_never_returns_padding_among_minus_inf_ties():
    """Rows with fewer than k finite scores: the -inf padding of the score buffer ties with the real -inf
    scores and must not be returned (the block falls back to a plain topk)."""
    gallery = torch.full((300, 1), float('-inf'), dtype=torch.float64)
    gallery[[7, 150, 299]] = torch.tensor([[1.0], [3.0], [2.0]], dtype=torch.float64)
    query = QueryBatch(torch.ones(2, 1, dtype=torch.float64))
    values, indices = chunked_topk(query, gallery, DotScorer(), 5)
    assert indices[:, :3].tolist() == [[150, 299, 7]] * 2
    assert values[:, :3].tolist() == [[3.0, 2.0, 1.0]] * 2
    assert (values[:, 3:] == float('-inf')).all() and indices[:, 3:].tolist() == [[0, 1]] * 2  # lowest -inf ties
    # all 25 scores -inf, 7 padded columns: without the fallback topk picks padding column 26 here
    values, indices = chunked_topk(QueryBatch(torch.ones(1, 1)), torch.full((25, 1), float('-inf')), DotScorer(), 1)
    assert values.tolist() == [[float('-inf')]] and indices.item() == 0

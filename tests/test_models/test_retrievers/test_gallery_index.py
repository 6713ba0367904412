"""GalleryIndex: search against brute force, add/lookup, npy+JSON persistence, named errors."""
import json
import os

import numpy as np
import pytest
import torch

from sdfn_plugin.models.retrievers import (DuplicateKeyError, FingerprintMismatchError, GalleryIndex,
                                           IndexFormatError)
from sdfn_plugin.models.retrievers.fingerprint import fingerprint_differences
from sdfn_plugin.models.scorers.base import BaseScorer
from sdfn_plugin.structures import QueryBatch

KEYS = ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg']
# rows 0..3; query [1, 2] scores 1, 2, 3, -1 -> order c, b, a, d
GALLERY = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
FP = {'version': 1, 'gallery_branch': {'image_encoder': {'type': 'X'}}, 'weights': 'w1',
      'preprocessor': {'mean': [1.0, 2.0, 3.0], 'std': [1.0, 1.0, 1.0]}, 'transform': []}


def test_search_ranks_by_inner_product_with_exclusion_and_small_galleries():
    index = GalleryIndex(GALLERY, KEYS)
    scores, rows = index.search(torch.tensor([[1.0, 2.0], [-1.0, 0.0]]), 2)
    assert rows.tolist() == [[2, 1], [3, 1]]  # query 1 scores -1, 0, -1, 1
    assert scores.tolist() == [[3.0, 2.0], [1.0, 0.0]]
    # excluding row 2 (the reference) for query 0; -1 = nothing for query 1
    scores, rows = index.search(torch.tensor([[1.0, 2.0], [1.0, 2.0]]), 10, exclude=[2, -1])
    assert rows.tolist() == [[1, 0, 3, 2], [2, 1, 0, 3]]  # k > N: all rows, the excluded one last at -inf
    assert scores[0].tolist() == [2.0, 1.0, -1.0, float('-inf')]
    assert index.lookup(['c.jpg', 'zzz', 'a.jpg']).tolist() == [2, -1, 0]


def test_float16_storage_scores_like_float32():
    g = torch.Generator().manual_seed(0)
    gallery, query = torch.randn(300, 16, generator=g), torch.randn(5, 16, generator=g)
    index = GalleryIndex(gallery, [str(i) for i in range(300)], dtype='float16')
    assert index.embeddings.dtype == torch.float16
    scores, rows = index.search(query, 5)
    full = query @ gallery.half().float().t()
    assert scores.dtype == torch.float32
    torch.testing.assert_close(scores, full.gather(1, rows), rtol=2e-3, atol=2e-2)
    # the true best item is found (scores are well separated at this size)
    assert rows[:, 0].tolist() == full.argmax(1).tolist()


class _Reweighted(BaseScorer):
    """Query-dependent score: sum_d w[i, d] * q[i, d] * g[j, d]."""
    inner_product = False

    def forward(self, query, gallery):
        return (query.query * query.aux['w']) @ gallery.t()


def test_query_dependent_scorer_goes_through_the_scorer():
    g = torch.Generator().manual_seed(1)
    gallery, q, w = torch.randn(50, 4, generator=g), torch.randn(3, 4, generator=g), torch.rand(3, 4, generator=g)
    index = GalleryIndex(gallery, [str(i) for i in range(50)], gallery_chunk=7)
    scores, rows = index.search(QueryBatch(q, {'w': w}), 5, scorer=_Reweighted())
    brute = (q * w) @ gallery.t()
    assert torch.equal(rows, brute.argsort(1, descending=True)[:, :5])
    torch.testing.assert_close(scores, brute.gather(1, rows))


def test_add_appends_and_refuses_duplicate_keys():
    index = GalleryIndex(GALLERY[:2], KEYS[:2])
    index.add(GALLERY[2:], KEYS[2:])
    assert len(index) == 4 and index.keys == KEYS and torch.equal(index.embeddings, GALLERY)
    with pytest.raises(DuplicateKeyError, match=r"duplicate key 'b.jpg' at position 0 \(already in the index\)"):
        index.add(torch.zeros(1, 2), ['b.jpg'])
    with pytest.raises(DuplicateKeyError, match=r"duplicate key 'x' at position 2 \(also at position 0\)"):
        GalleryIndex(torch.zeros(3, 2), ['x', 'y', 'x'])
    with pytest.raises(ValueError, match=r'embeddings must be \(M, 2\)'):
        index.add(torch.zeros(1, 3), ['e.jpg'])
    assert len(index) == 4  # failed adds change nothing


def test_save_load_roundtrip_float16_size_and_no_pickle(tmp_path):
    g = torch.Generator().manual_seed(2)
    keys = [f'/data/gallery/img_{i:05d}.jpg' for i in range(1000)]
    index = GalleryIndex(torch.randn(1000, 64, generator=g), keys, FP, dtype='float16')
    out = tmp_path / 'idx'
    index.save(str(out))
    assert sorted(os.listdir(out)) == ['embeddings.npy', 'index.json']
    assert [p for p in os.listdir(tmp_path) if p != 'idx'] == []  # no temporary folder left
    meta = json.loads((out / 'index.json').read_text())
    assert (meta['count'], meta['dim'], meta['dtype'], meta['key_prefix']) == (1000, 64, 'float16', '/data/gallery/img_00')
    array = np.load(out / 'embeddings.npy', allow_pickle=False)
    assert array.dtype == np.float16 and array.shape == (1000, 64)
    npy_bytes = os.path.getsize(out / 'embeddings.npy')
    assert npy_bytes == 1000 * 64 * 2 + 128  # the npy header is 128 bytes
    loaded = GalleryIndex.load(str(out), expected_fingerprint=FP)
    assert loaded.keys == keys and loaded.fingerprint == FP and loaded.dtype == 'float16'
    assert torch.equal(loaded.embeddings, index.embeddings)
    # saving again replaces the folder atomically
    GalleryIndex(GALLERY, KEYS).save(str(out))
    assert GalleryIndex.load(str(out)).keys == KEYS


def test_partial_or_corrupt_folders_are_named_errors(tmp_path):
    out = tmp_path / 'idx'
    GalleryIndex(GALLERY, KEYS, FP).save(str(out))
    with pytest.raises(IndexFormatError, match='gallery index folder not found'):
        GalleryIndex.load(str(tmp_path / 'nope'))
    npy = (out / 'embeddings.npy').read_bytes()
    (out / 'embeddings.npy').write_bytes(npy[:-4])
    with pytest.raises(IndexFormatError, match=r'embeddings.npy.* does not match the sha256'):
        GalleryIndex.load(str(out))
    os.remove(out / 'embeddings.npy')
    with pytest.raises(IndexFormatError, match='is incomplete: embeddings.npy is missing'):
        GalleryIndex.load(str(out))
    (out / 'embeddings.npy').write_bytes(npy)
    (out / 'index.json').write_text('{"format": "sdfn_plugin.GalleryIndex", "keys": [')
    with pytest.raises(IndexFormatError, match=r'index.json.* is not valid JSON'):
        GalleryIndex.load(str(out))


def test_fingerprint_mismatch_names_the_parts(tmp_path):
    GalleryIndex(GALLERY, KEYS, FP).save(str(tmp_path / 'idx'))
    other = dict(FP, weights='w2', transform=[{'type': 'Resize'}])
    with pytest.raises(FingerprintMismatchError, match='differs in weights, transform') as info:
        GalleryIndex.load(str(tmp_path / 'idx'), expected_fingerprint=other)
    assert info.value.parts == ['weights', 'transform']
    # a side without transform record does not compare it
    assert fingerprint_differences(dict(FP, transform=None), dict(FP, transform=[{'type': 'Resize'}])) == []


def test_merge_keeps_order_and_checks_fingerprints():
    a, b = GalleryIndex(GALLERY[:3], KEYS[:3], FP), GalleryIndex(GALLERY[3:], KEYS[3:], FP)
    merged = GalleryIndex.merge([a, b])
    assert merged.keys == KEYS and torch.equal(merged.embeddings, GALLERY)
    with pytest.raises(FingerprintMismatchError, match=r"differs in \['weights'\]"):
        GalleryIndex.merge([a, GalleryIndex(GALLERY[3:], KEYS[3:], dict(FP, weights='w3'))])


def test_faiss_exact_and_exhaustive_ivf_equal_torch():
    pytest.importorskip('faiss')
    g = torch.Generator().manual_seed(3)
    gallery, query = torch.randn(200, 8, generator=g), torch.randn(6, 8, generator=g)
    keys = [str(i) for i in range(200)]
    exclude = torch.tensor([5, -1, 7, -1, 0, 199])
    _, expected = GalleryIndex(gallery, keys).search(query, 10, exclude)
    for approximate in (None, dict(type='ivf', nlist=4, nprobe=4)):  # probing every cell is exhaustive
        index = GalleryIndex(gallery, keys, backend='faiss', approximate=approximate)
        _, rows = index.search(query, 10, exclude)
        assert torch.equal(rows, expected), approximate
    with pytest.raises(ValueError, match="approximate search needs backend='faiss'"):
        GalleryIndex(gallery, keys, approximate=dict(type='hnsw'))

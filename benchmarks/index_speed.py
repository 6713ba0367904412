"""Gallery-index speed: build throughput, one-query search on a large float16 index, size on disk, recall
of approximate faiss search.

    OMP_NUM_THREADS=2 python benchmarks/index_speed.py [--images 512] [--gallery 1000000] [--dim 512]

(a) build: ``model.prepare_gallery(ImageListDataset(folder))`` (PNG decoding in DataLoader workers,
    overlapped with the encoder) against the bare ``model.extract_gallery`` forward on the same images,
    already decoded and normalised, in the same batches. Target: >= 0.9x the bare throughput.
(b) search: one query against an ``N x D`` float16 ``GalleryIndex`` (torch backend, top-10) against the bare
    product of that query row with the gallery matrix (``q @ G.T`` in float16). Target: <= 1.5x.
(c) size: the saved index folder against ``N * D * 2`` bytes. Target: <= +5%.
(d) approximate faiss (IVF, HNSW) recall@10 against exact search on a clustered gallery (``--approx-n``).
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def _median_time(fn, repeats: int) -> float:
    return _median_times([fn], repeats)[0]


def _median_times(fns, repeats: int) -> list:
    """Median seconds of each function, runs interleaved (a shared machine's load drifts alike for all)."""
    for fn in fns:
        fn()  # warm-up
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def _model(tmp: str):
    from sdfn_plugin.registry import MODELS
    from sdfn_plugin.utils import register_all_modules
    register_all_modules()
    vocab = osp.join(tmp, 'vocab.txt')
    with open(vocab, 'w') as f:
        f.write('<pad>\n<unk>\nadd\n')
    # the quick-start TIRG image tower (configs/_base_/models/tirg_smallcnn_lstm.py) at its 64 px input
    return MODELS.build(dict(
        type='ComposedRetriever',
        image_encoder=dict(type='SmallCNN', channels=(16, 32, 64, 128), out_dim=512, coord_channels=True,
                           pool='flatten', input_size=64),
        text_encoder=dict(type='LSTMTextEncoder', vocab_file=vocab, embed_dim=8, hidden_dim=8, out_dim=512),
        fusion=dict(type='TIRG', image_dim=512, text_dim=512, embed_dim=512),
        losses=[dict(type='BatchClassificationLoss')])).eval()


def bench_build(num_images: int, batch_size: int, num_workers: int, repeats: int) -> None:
    from PIL import Image

    from sdfn_plugin.datasets import ImageListDataset
    from sdfn_plugin.datasets.transforms import read_image
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        folder = osp.join(tmp, 'images')
        os.makedirs(folder)
        for i in range(num_images):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(osp.join(folder, f'{i:06d}.png'))
        model = _model(tmp)
        dataset = ImageListDataset(folder)
        images = [read_image(p) for p in dataset.paths]
        batches = [model.data_preprocessor({'inputs': {'img': images[s:s + batch_size]}}, False)['inputs']['img']
                   for s in range(0, num_images, batch_size)]

        @torch.no_grad()
        def bare():
            for b in batches:
                model.extract_gallery(b)

        def build():
            model.prepare_gallery(dataset, batch_size, num_workers, progress=False, fingerprint=False)

        t_bare, t_build = _median_times([bare, build], repeats)
    print(f'(a) build {num_images} 64x64 PNGs, batch {batch_size}, {num_workers} decoding worker(s), '
          f'{torch.get_num_threads()} threads: bare encoder forward {num_images / t_bare:.0f} images/s, '
          f'prepare_gallery {num_images / t_build:.0f} images/s -> {t_bare / t_build:.2f}x the bare throughput '
          '(target >= 0.9x)')


def bench_search(num_gallery: int, dim: int, repeats: int) -> None:
    from sdfn_plugin.models.retrievers import GalleryIndex
    gen = torch.Generator().manual_seed(0)
    gallery = torch.randn(num_gallery, dim, generator=gen).half()
    query = torch.randn(1, dim, generator=gen).half()
    keys = [f'/data/gallery/{i // 1000:05d}/{i:08d}.jpg' for i in range(num_gallery)]
    index = GalleryIndex(gallery, keys, dtype='float16')
    t_bare, t_search = _median_times([lambda: query @ gallery.t(), lambda: index.search(query, 10)], repeats)
    scores, rows = index.search(query, 10)
    assert rows[0].tolist() == (query @ gallery.t()).float()[0].topk(10).indices.tolist() or \
        torch.equal(scores[0], (query @ gallery.t()).float()[0].topk(10).values)
    print(f'(b) one query, {num_gallery} x {dim} float16 index, top-10, {torch.get_num_threads()} threads: '
          f'bare q @ G.T {t_bare * 1e3:.1f} ms, index.search {t_search * 1e3:.1f} ms -> '
          f'{t_search / t_bare:.2f}x (target <= 1.5x)')
    with tempfile.TemporaryDirectory(dir=os.environ.get('INDEX_BENCH_TMP')) as tmp:
        start = time.perf_counter()
        index.save(osp.join(tmp, 'idx'))
        t_save = time.perf_counter() - start
        size = sum(osp.getsize(osp.join(tmp, 'idx', f)) for f in os.listdir(osp.join(tmp, 'idx')))
        start = time.perf_counter()
        GalleryIndex.load(osp.join(tmp, 'idx'))
        t_load = time.perf_counter() - start
    raw = num_gallery * dim * 2
    print(f'(c) index on disk {size / 2**20:.1f} MiB vs N*D*2 = {raw / 2**20:.1f} MiB -> '
          f'+{(size / raw - 1) * 100:.2f}% (target <= +5%); save {t_save:.1f} s, load (with sha256 check) '
          f'{t_load:.1f} s')


def bench_approximate(num_gallery: int, dim: int, num_queries: int) -> None:
    try:
        import faiss  # noqa: F401
    except ImportError:
        print('(d) skipped: faiss is not installed (pip install faiss-cpu)')
        return
    from sdfn_plugin.models.retrievers import GalleryIndex
    gen = torch.Generator().manual_seed(1)
    # clustered data (image embeddings are not uniform on the sphere): 1000 centres + noise
    centres = torch.randn(1000, dim, generator=gen)
    gallery = centres[torch.randint(0, 1000, (num_gallery, ), generator=gen)] + 0.5 * torch.randn(
        num_gallery, dim, generator=gen)
    query = centres[torch.randint(0, 1000, (num_queries, ), generator=gen)] + 0.5 * torch.randn(
        num_queries, dim, generator=gen)
    keys = [str(i) for i in range(num_gallery)]
    exact_index = GalleryIndex(gallery, keys)
    start = time.perf_counter()
    _, exact = exact_index.search(query, 10)
    t_exact = time.perf_counter() - start
    print(f'(d) approximate faiss on {num_gallery} x {dim} (clustered), {num_queries} queries, recall@10 vs exact '
          f'(exact torch search {t_exact * 1e3:.0f} ms):')
    for approximate in (dict(type='ivf', nprobe=16), dict(type='ivf', nprobe=64), dict(type='hnsw', m=32, ef_search=64)):
        index = GalleryIndex(gallery, keys, backend='faiss', approximate=approximate)
        start = time.perf_counter()
        index._faiss_index()
        t_build = time.perf_counter() - start
        start = time.perf_counter()
        _, rows = index.search(query, 10)
        t_search = time.perf_counter() - start
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows.tolist(), exact.tolist())])
        print(f'    {approximate}: recall@10 {recall:.3f}, build {t_build:.1f} s, search {t_search * 1e3:.0f} ms')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=512)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=1)
    parser.add_argument('--gallery', type=int, default=1_000_000)
    parser.add_argument('--dim', type=int, default=512)
    parser.add_argument('--approx-n', type=int, default=100_000)
    parser.add_argument('--approx-dim', type=int, default=64)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--only', choices=['build', 'search', 'approximate'], default=None)
    args = parser.parse_args(argv)
    if args.only in (None, 'build'):
        bench_build(args.images, args.batch_size, args.num_workers, args.repeats)
    if args.only in (None, 'search'):
        bench_search(args.gallery, args.dim, args.repeats)
    if args.only in (None, 'approximate'):
        bench_approximate(args.approx_n, args.approx_dim, 200)


if __name__ == '__main__':
    main()

"""tools/build_index.py (single process and 2 gloo ranks) and tools/test.py --out rankings.json."""
import glob
import json
import os
import os.path as osp

import torch

from sdfn_plugin.apis import get_model
from sdfn_plugin.apis.index_builder import ShardBuildError, build_index
from sdfn_plugin.models.retrievers import GalleryIndex
from sdfn_plugin.testing.dist import run_distributed


def _gallery_list(css_root, path):
    images = sorted(glob.glob(osp.join(css_root, '*', 'images', 'test_*.png')))
    with open(path, 'w') as f:
        f.write('\n'.join(images) + '\n')
    return images


def _build_on_rank(rank, world, cfg, ckpt, listing, out, broken_listing):
    model = get_model(cfg, ckpt)
    result = build_index(model, listing, out, batch_size=1, num_workers=0)
    # then a build whose second shard is all undecodable images: every rank raises at once (none waits for
    # the process-group timeout), the failing rank with its own error
    try:
        build_index(model, broken_listing, out + '_broken', batch_size=1, num_workers=0, skip_bad=True)
        failure = None
    except ShardBuildError as exc:
        failure = str(exc)
    return failure if result.index is None else (result.index.keys, result.index.embeddings, failure)


def test_two_ranks_write_shards_and_merge_into_the_single_process_index(tiny_tirg, css_root, tmp_path):
    cfg, ckpt = tiny_tirg
    images = _gallery_list(css_root, tmp_path / 'gallery.txt')
    bad = tmp_path / 'bad'
    bad.mkdir()
    broken = [str(bad / f'broken{i}.png') for i in range(2)]
    for path in broken:
        with open(path, 'wb') as f:
            f.write(b'\x89PNG broken')
    (bad / 'list.txt').write_text('\n'.join(images[:2] + broken) + '\n')
    merged = run_distributed(_build_on_rank, 2, cfg, ckpt, str(tmp_path / 'gallery.txt'), str(tmp_path / 'two'),
                             str(bad / 'list.txt'))
    assert merged[1] == ('build_index: rank(s) [1] failed while encoding its shard: RuntimeError: gallery '
                         'encoding: none of the 2 images could be decoded')  # only rank 0 merges
    assert merged[0][2] == 'build_index: rank(s) [1] failed while encoding its shard; see the log of those ranks'
    assert not (tmp_path / 'two_broken').exists()
    single = build_index(get_model(cfg, ckpt), str(tmp_path / 'gallery.txt'), str(tmp_path / 'one'), batch_size=1,
                         num_workers=0).index
    assert single.keys == images == merged[0][0]
    assert torch.equal(single.embeddings, merged[0][1])
    on_disk = GalleryIndex.load(str(tmp_path / 'two'), expected_fingerprint=single.fingerprint)
    assert on_disk.keys == images and torch.equal(on_disk.embeddings, single.embeddings)
    assert sorted(os.listdir(tmp_path)) == ['bad', 'gallery.txt', 'one', 'two']  # the shards are gone, also the
    # good one of the failed build


def test_cli_build_index_and_test_rankings_agree(tiny_tirg, css_root, tmp_path, capsys):
    # the tools' main() in this process: a subprocess would pay the imports again
    from sdfn_plugin.tools import build_index as build_tool
    from sdfn_plugin.tools import test as test_tool
    cfg, ckpt = tiny_tirg
    images = _gallery_list(css_root, tmp_path / 'gallery.txt')
    with open(tmp_path / 'gallery.txt', 'a') as f:
        (tmp_path / 'broken.png').write_bytes(b'\x89PNG broken')
        f.write(str(tmp_path / 'broken.png') + '\n')
    build_tool.main([cfg, ckpt, str(tmp_path / 'gallery.txt'), '--out', str(tmp_path / 'idx'), '--skip-bad',
                     '--dtype', 'float16', '--num-workers', '0'])
    out = capsys.readouterr().out
    assert f'{len(images)} images indexed (512-d float16)' in out and 'images/s on 1 process(es)' in out
    assert f'skipped 1 image(s) that could not be decoded, e.g. {tmp_path / "broken.png"}' in out
    test_tool.main([cfg, ckpt, '--work-dir', str(tmp_path / 'w'), '--out', str(tmp_path / 'r.json'), '--out-topk', '3'])
    assert f'rankings of 32 queries written to {tmp_path / "r.json"}' in capsys.readouterr().out
    rankings = json.loads((tmp_path / 'r.json').read_text())
    assert rankings['topk'] == 3 and len(rankings['queries']) == 32
    first = rankings['queries'][0]
    assert len(first['keys']) == len(first['scores']) == 3 and first['scores'] == sorted(first['scores'], reverse=True)
    # the same query against the built index (reference left out, as in evaluation) gives the same top-1
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from sdfn_plugin.registry import DATASETS
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        dataset = DATASETS.build(Config.fromfile(cfg).test_dataloader.dataset)
    model = get_model(cfg, ckpt)
    index = GalleryIndex.load(str(tmp_path / 'idx'), expected_fingerprint=model.gallery_fingerprint(
        dataset.gallery_dataset().pipeline.transforms))
    assert len(index) == len(images) and index.skipped == [str(tmp_path / 'broken.png')]
    model.set_gallery(index)
    item = dataset[0]
    data = model.data_preprocessor(
        {'inputs': {'ref': [item['inputs']['ref']], 'text': [item['inputs']['text']]}, 'data_samples': None}, False)
    ref_key = osp.abspath(dataset.get_data_info(0)['ref_path'])
    _, rows = model.retrieve(model.extract_query(data['inputs']['ref'], data['inputs']['text']), 3,
                             exclude=index.lookup([ref_key]))
    assert index.keys[rows[0, 0]] == first['keys'][0]

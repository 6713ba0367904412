"""CIRInferencer and tools/retrieve.py against a brute-force ranking on the tiny benchmark."""
import glob
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from sdfn_plugin.apis import CIRInferencer, get_model
from sdfn_plugin.datasets.transforms import read_image

TEXT = 'make the red circle blue'


@pytest.fixture(scope='module')
def gallery(css_root, tmp_path_factory):
    """A folder of 10 tiny test images (sorted names = gallery rows)."""
    (src, ) = glob.glob(osp.join(css_root, '*', 'images'))
    folder = tmp_path_factory.mktemp('gallery')
    for name in sorted(p for p in os.listdir(src) if p.startswith('test_'))[:10]:
        shutil.copy(osp.join(src, name), folder / name)
    return str(folder)


@pytest.fixture(scope='module')
def inferencer(tiny_tirg, gallery):
    return CIRInferencer('tirg_css', tiny_tirg[1], gallery=gallery, device='cpu')


def _brute_force(model, paths, ref_path, text, k, exclude_row):
    """Cosine similarity of the composed query with every gallery image, best first."""
    norm = model.data_preprocessor
    with torch.no_grad():
        imgs = (torch.stack([read_image(p) for p in paths]).float() - norm.mean) / norm.std
        ref = (read_image(ref_path)[None].float() - norm.mean) / norm.std
        g = torch.nn.functional.normalize(model.extract_gallery(imgs), dim=-1)
        q = torch.nn.functional.normalize(model.extract_query(ref, [text]).query, dim=-1)
    scores = (q @ g.T)[0]
    order = [int(i) for i in torch.argsort(scores, descending=True) if int(i) != exclude_row][:k]
    return order, [float(scores[i]) for i in order]


def test_ranking_equals_brute_force_and_leaves_the_reference_out(inferencer, gallery):
    paths = sorted(osp.join(gallery, p) for p in os.listdir(gallery))
    assert inferencer.index.keys == paths
    pred = inferencer((paths[3], TEXT), topk=4)['predictions'][0]
    order, scores = _brute_force(inferencer.model, paths, paths[3], TEXT, 4, exclude_row=3)
    assert pred['indices'] == order and 3 not in pred['indices']
    assert pred['keys'] == [paths[i] for i in order]
    assert pred['scores'] == pytest.approx(scores, abs=1e-5)
    # kept when asked, and the whole gallery when k exceeds it (9 others + the reference)
    kept = inferencer((paths[3], TEXT), topk=10, exclude_reference=False)['predictions'][0]
    assert kept['indices'] == _brute_force(inferencer.model, paths, paths[3], TEXT, 10, exclude_row=-1)[0]
    assert len(inferencer((paths[3], TEXT), topk=50)['predictions'][0]['keys']) == 9
    # the same file through a relative path and a symlink is still recognised as the reference
    link = osp.join(osp.dirname(gallery), 'link.png')
    if not osp.exists(link):
        os.symlink(paths[3], link)
    assert inferencer((link, TEXT), topk=4)['predictions'][0]['indices'] == order
    assert inferencer((osp.relpath(paths[3]), TEXT), topk=4)['predictions'][0]['indices'] == order


def test_array_and_pil_references_equal_the_path(inferencer, gallery):
    path = sorted(osp.join(gallery, p) for p in os.listdir(gallery))[5]
    arr = read_image(path).permute(1, 2, 0).numpy()
    out = inferencer([(path, TEXT), (arr, TEXT), (Image.fromarray(arr), TEXT)], topk=3, exclude_reference=False,
                     batch_size=2)['predictions']
    assert out[0]['indices'] == out[1]['indices'] == out[2]['indices']
    assert out[0]['scores'] == pytest.approx(out[1]['scores'], abs=1e-6)


def test_visualize_writes_a_grid_with_the_target_outlined(inferencer, gallery, tmp_path):
    path = sorted(osp.join(gallery, p) for p in os.listdir(gallery))[0]
    pred = inferencer((path, TEXT), topk=3)['predictions'][0]
    out = inferencer((path, TEXT), topk=3, show_dir=str(tmp_path / 'vis'), return_vis=True,
                     targets=[[pred['keys'][1]]])
    (png, ) = os.listdir(tmp_path / 'vis')
    grid = np.asarray(Image.open(tmp_path / 'vis' / png).convert('RGB'))
    assert np.array_equal(grid, out['visualization'][0])
    # layout of draw_retrieval_grid: pad 8, 4-px frames, 128-px thumbnails, 148-px cells; one text line
    y, x_second = 8 + 20 + 8 + 1, 8 + 2 * 148 + 1
    assert tuple(grid[y, x_second]) == (0, 170, 60)        # the target's frame is green
    assert tuple(grid[y, 8 + 148 + 1]) == (200, 200, 200)  # another result's frame is grey
    assert tuple(grid[y, 8 + 1]) == (40, 90, 200)          # the reference's frame is blue


def test_gallery_cache_is_reused_and_rebuilt_for_other_images(tiny_tirg, gallery, tmp_path, monkeypatch):
    cache = str(tmp_path / 'cache')
    first = CIRInferencer('tirg_css', tiny_tirg[1], gallery=gallery, gallery_cache=cache)
    assert sorted(os.listdir(cache)) == ['embeddings.npy', 'index.json']
    model = get_model('tirg_css', tiny_tirg[1])
    monkeypatch.setattr(type(model), 'prepare_gallery', lambda *a, **k: pytest.fail('cache not used'))
    second = CIRInferencer(model, gallery=gallery, gallery_cache=cache)
    assert torch.equal(second.index.embeddings, first.index.embeddings)
    monkeypatch.undo()
    fewer = sorted(osp.join(gallery, p) for p in os.listdir(gallery))[:4]
    third = CIRInferencer('tirg_css', tiny_tirg[1], gallery=fewer, gallery_cache=cache)
    assert third.index.keys == fewer


def test_bad_inputs_name_the_field_or_file(inferencer, tiny_tirg, gallery, tmp_path):
    from sdfn_plugin.datasets import EmptyImageFolderError
    from sdfn_plugin.models.retrievers.gallery_index import FingerprintMismatchError
    path = osp.join(gallery, sorted(os.listdir(gallery))[0])
    with pytest.raises(ValueError, match=r'query 0: the modification text is empty \(field "text"\)'):
        inferencer((path, '   '))
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG not really')
    with pytest.raises(OSError, match=f'cannot read image {str(broken)!r}'):
        inferencer((str(broken), TEXT))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(EmptyImageFolderError, match=f'image folder {str(tmp_path / "empty")!r} holds no image'):
        CIRInferencer(inferencer.model, gallery=str(tmp_path / 'empty'))
    # an index saved by this model, opened with other weights: the fingerprint names the weights
    index_dir = str(tmp_path / 'index')
    inferencer.index.save(index_dir)
    other = get_model('tirg_css', tiny_tirg[1])
    with torch.no_grad():
        other.image_encoder.proj.weight.add_(0.01)
    with pytest.raises(FingerprintMismatchError, match=f'gallery index {index_dir!r} was built by another model: '
                                                       'it differs in weights'):
        CIRInferencer(other, gallery=index_dir)


def test_retrieve_tool_prints_topk_and_writes_json_and_grid(inferencer, tiny_tirg, gallery, tmp_path, capsys):
    from sdfn_plugin.tools.retrieve import main
    index_dir = str(tmp_path / 'index')
    inferencer.index.save(index_dir)
    ref = inferencer.index.keys[2]
    main(['tirg_css', tiny_tirg[1], '--index', index_dir, '--image', ref, '--text', TEXT, '--topk', '3',
          '--show-out', str(tmp_path / 'grid.png'), '--json-out', str(tmp_path / 'res.json')])
    out = capsys.readouterr().out
    expected = inferencer((ref, TEXT), topk=3)['predictions'][0]
    lines = [line.split() for line in out.splitlines() if line[:3].strip().isdigit()]
    assert [(int(r), k) for r, _, k in lines] == [(i + 1, k) for i, k in enumerate(expected['keys'])]
    assert [float(s) for _, s, _ in lines] == pytest.approx(expected['scores'], abs=1e-4)
    with open(tmp_path / 'res.json') as f:
        res = json.load(f)
    assert res['keys'] == expected['keys'] and res['scores'] == pytest.approx(expected['scores'], abs=1e-6)
    assert Image.open(tmp_path / 'grid.png').size[0] > 3 * 128
    # an empty text and a missing image: exit status 1, one line naming the option
    for argv, message in ((['--image', ref, '--text', ' '],
                           'error: ValueError: the modification text is empty (--text)'),
                          (['--image', str(tmp_path / 'nope.png'), '--text', TEXT],
                           f"error: FileNotFoundError: reference image not found: {str(tmp_path / 'nope.png')!r} "
                           '(--image)')):
        with pytest.raises(SystemExit) as exc:
            main(['tirg_css', tiny_tirg[1], '--index', index_dir, *argv])
        assert exc.value.code == 1
        assert capsys.readouterr().err.strip().splitlines()[-1] == message

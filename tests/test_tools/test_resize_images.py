"""tools/dataset_converters/resize_images.py: modes, resume, safety."""
import os

import pytest
from PIL import Image

from sdfn_plugin.testing.placeholders import write_truncated_jpeg
from sdfn_plugin.tools.dataset_converters.resize_images import main, resize_tree, target_size


def _tree(root):
    os.makedirs(root / 'a' / 'b')
    Image.new('RGB', (40, 20), (255, 0, 0)).save(root / 'a' / 'wide.jpg')
    Image.new('RGB', (10, 30), (0, 255, 0)).save(root / 'a' / 'b' / 'tall.JPG')
    Image.new('RGBA', (12, 12), (0, 0, 255, 128)).save(root / 'icon.png')
    (root / 'notes.txt').write_text('not an image')
    return root


def test_target_size():
    assert target_size(400, 200, 'squash', 256) == (256, 256)
    assert target_size(400, 200, 'keep-aspect', 256) == (512, 256)
    assert target_size(100, 300, 'keep-aspect', 256) == (256, 768)


def test_squash_keep_aspect_and_resume(tmp_path):
    src = _tree(tmp_path / 'in')
    out = tmp_path / 'out'
    stats = resize_tree(str(src), str(out), 'squash', 16, progress=False)
    assert (stats['total'], stats['done'], stats['failed']) == (3, 3, 0)
    for rel in ('a/wide.jpg', 'a/b/tall.JPG', 'icon.png'):
        with Image.open(out / rel) as im:
            assert im.size == (16, 16)
    assert not (out / 'notes.txt').exists()
    with Image.open(src / 'a' / 'wide.jpg') as im:
        assert im.size == (40, 20)  # originals untouched
    # resumable: everything valid is skipped; a broken output is redone
    assert resize_tree(str(src), str(out), 'squash', 16, progress=False)['skipped'] == 3
    (out / 'a' / 'wide.jpg').write_bytes(b'garbage')
    again = resize_tree(str(src), str(out), 'squash', 16, progress=False)
    assert (again['done'], again['skipped']) == (1, 2)
    keep = tmp_path / 'keep'
    assert main([str(src), str(keep), '--mode', 'keep-aspect', '--size', '8', '--workers', '2']) == 0
    with Image.open(keep / 'a' / 'wide.jpg') as im:
        assert im.size == (16, 8)
    with Image.open(keep / 'a' / 'b' / 'tall.JPG') as im:
        assert im.size == (8, 24)
    # squash outputs of non-square inputs are not valid keep-aspect outputs: redone (the square icon is)
    redo = resize_tree(str(src), str(out), 'keep-aspect', 16, progress=False)
    assert (redo['done'], redo['skipped']) == (2, 1)


def test_refuses_in_place_and_skips_nested_output(tmp_path, capsys):
    src = _tree(tmp_path / 'in')
    assert main([str(src), str(src)]) == 2
    assert 'refusing to overwrite' in capsys.readouterr().err
    with pytest.raises(ValueError):
        resize_tree(str(src), str(src / '.'), progress=False)
    nested = src / 'resized'
    assert resize_tree(str(src), str(nested), 'squash', 8, progress=False)['total'] == 3
    assert resize_tree(str(src), str(nested), 'squash', 8, progress=False)['total'] == 3  # not walked


def test_broken_input_reported(tmp_path):
    src = tmp_path / 'in'
    write_truncated_jpeg(str(src / 'broken.jpg'))
    out = tmp_path / 'out'
    assert main([str(src), str(out), '--workers', '1']) == 1
    assert not (out / 'broken.jpg').exists() and not any(p.name.endswith('.tmp') for p in out.rglob('*'))
    assert main([str(src), str(out), '--workers', '1', '--allow-truncated']) == 0

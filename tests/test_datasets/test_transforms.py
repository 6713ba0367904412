import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from sdfn_plugin.datasets.transforms import (CenterCropImages, LoadCIRImages, PackCIRInputs, RandomCropImages,
                                             RandomFlipImages, ResizeImages, read_image)
from sdfn_plugin.structures import CIRDataSample


def _rgb(h=5, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _save_png(path, arr):
    Image.fromarray(arr).save(path, format='PNG')
    return str(path)


@pytest.fixture
def truncated_jpeg(tmp_path):
    # a smooth gradient compresses into many scan bytes; cutting them in half truncates the scan
    y, x = np.mgrid[0:64, 0:64]
    arr = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    full = tmp_path / 'full.jpg'
    Image.fromarray(arr).save(full, format='JPEG', quality=95)
    data = full.read_bytes()
    path = tmp_path / 'truncated.jpg'
    path.write_bytes(data[:len(data) // 2])
    return str(path)


# --------------------------------------------------------------------------- read_image
def test_read_png_pixels(tmp_path):
    arr = _rgb()
    img = read_image(_save_png(tmp_path / 'a.png', arr))
    assert img.dtype == torch.uint8 and img.shape == (3, 5, 7)
    assert img.is_contiguous()
    assert torch.equal(img, torch.from_numpy(arr).permute(2, 0, 1))
    assert img[:, 2, 4].tolist() == arr[2, 4].tolist()


def test_read_grayscale_and_rgba_become_rgb(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(gray, mode='L').save(tmp_path / 'g.png')
    img = read_image(str(tmp_path / 'g.png'))
    assert img.shape == (3, 3, 4)
    assert all(torch.equal(img[c], torch.from_numpy(gray)) for c in range(3))
    rgba = np.concatenate([_rgb(3, 4), np.full((3, 4, 1), 255, np.uint8)], axis=-1)
    Image.fromarray(rgba, mode='RGBA').save(tmp_path / 'a.png')
    assert torch.equal(read_image(str(tmp_path / 'a.png')), torch.from_numpy(rgba[..., :3]).permute(2, 0, 1))


def test_read_palette_and_jpeg_match_pil_rgb_conversion(tmp_path):
    # read_image skips convert() for RGB files; every mode must still give PIL's RGB pixels
    Image.fromarray(_rgb(6, 8, seed=1)).convert('P').save(tmp_path / 'p.gif')
    Image.fromarray(_rgb(6, 8, seed=2)).save(tmp_path / 'j.jpg', quality=90)
    for name in ('p.gif', 'j.jpg'):
        with Image.open(tmp_path / name) as im:
            expected = torch.from_numpy(np.array(im.convert('RGB'))).permute(2, 0, 1)
        img = read_image(str(tmp_path / name))
        assert img.is_contiguous() and torch.equal(img, expected)
        img[0, 0, 0] = 7  # a writable tensor of its own


def test_missing_file(tmp_path):
    path = str(tmp_path / 'nope.png')
    with pytest.raises(FileNotFoundError, match=re.escape(repr(path))):
        read_image(path)


def test_truncated_jpeg(truncated_jpeg):
    with pytest.raises(OSError, match=re.escape(repr(truncated_jpeg))) as info:
        read_image(truncated_jpeg)
    assert 'allow_truncated' in str(info.value)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # the global flag is restored
    img = read_image(truncated_jpeg, allow_truncated=True)
    assert img.dtype == torch.uint8 and img.shape == (3, 64, 64)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_non_image_file(tmp_path):
    path = tmp_path / 'notes.png'
    path.write_text('this is not an image\n')
    with pytest.raises(OSError, match=re.escape(repr(str(path)))) as info:
        read_image(str(path))
    assert not isinstance(info.value, FileNotFoundError)


# --------------------------------------------------------------------------- LoadCIRImages
def test_load_cir_images(tmp_path, truncated_jpeg):
    ref, tgt = _rgb(seed=1), _rgb(4, 6, seed=2)
    results = {'ref_path': _save_png(tmp_path / 'r.png', ref), 'tgt_path': _save_png(tmp_path / 't.png', tgt),
               'text': 'make it red'}
    out = LoadCIRImages()(results)
    assert torch.equal(out['ref'], torch.from_numpy(ref).permute(2, 0, 1))
    assert torch.equal(out['tgt'], torch.from_numpy(tgt).permute(2, 0, 1))
    assert out['text'] == 'make it red'

    gallery = LoadCIRImages(keys=('img', ), allow_truncated=True)({'img_path': truncated_jpeg})
    assert gallery['img'].shape == (3, 64, 64)
    with pytest.raises(OSError):
        LoadCIRImages(keys=('img', ))({'img_path': truncated_jpeg})


def test_load_cir_images_missing_key(tmp_path):
    results = {'tgt_path': _save_png(tmp_path / 't.png', _rgb()), 'sample_idx': 3}
    with pytest.raises(KeyError, match="'ref_path'") as info:
        LoadCIRImages()(results)
    assert 'sample 3' in str(info.value)


# --------------------------------------------------------------------------- geometric
def test_resize_int_keeps_aspect_tuple_squashes():
    results = {'ref': torch.zeros(3, 20, 40, dtype=torch.uint8), 'tgt': torch.zeros(3, 30, 15, dtype=torch.uint8),
               'text': 'x'}
    out = ResizeImages(10)(dict(results))
    assert out['ref'].shape == (3, 10, 20) and out['tgt'].shape == (3, 20, 10)
    assert out['ref'].dtype == torch.uint8 and out['text'] == 'x'
    out = ResizeImages((8, 12))(dict(results))
    assert out['ref'].shape == (3, 8, 12) and out['tgt'].shape == (3, 8, 12)


@pytest.mark.parametrize('cls,size', [(CenterCropImages, 0), (RandomCropImages, -2)] + [
    (cls, size) for cls in (ResizeImages, CenterCropImages, RandomCropImages) for size in ((4, -1), (1, 2, 3))])
def test_bad_sizes(cls, size):
    # (ResizeImages(0) is not checked at construction; torchvision raises on the first call)
    with pytest.raises(ValueError, match='size must be'):
        cls(size)


def test_center_crop():
    img = torch.arange(3 * 10 * 12, dtype=torch.int64).reshape(3, 10, 12)
    out = CenterCropImages((4, 6), keys=('img', ))({'img': img})
    assert torch.equal(out['img'], img[:, 3:7, 3:9])
    out = CenterCropImages(4, keys=('img', ))({'img': img})
    assert torch.equal(out['img'], img[:, 3:7, 4:8])


def test_random_crop_is_a_window():
    torch.manual_seed(0)
    img = torch.arange(10 * 12, dtype=torch.int64).reshape(1, 10, 12)
    for _ in range(5):
        crop = RandomCropImages((4, 5))({'ref': img})['ref']
        assert crop.shape == (1, 4, 5)
        top, left = divmod(int(crop[0, 0, 0]), 12)
        assert torch.equal(crop, img[:, top:top + 4, left:left + 5])
    full = RandomCropImages((10, 12))({'ref': img})['ref']
    assert torch.equal(full, img)


def test_random_crop_too_large():
    with pytest.raises(ValueError, match='smaller than crop'):
        RandomCropImages((8, 8))({'ref': torch.zeros(3, 10, 7)})


def test_random_flip():
    img = torch.arange(6).reshape(1, 2, 3)
    assert torch.equal(RandomFlipImages(prob=1.0)({'ref': img})['ref'], img.flip(-1))
    assert torch.equal(RandomFlipImages(prob=0.0)({'ref': img})['ref'], img)
    with pytest.raises(ValueError, match='prob'):
        RandomFlipImages(prob=1.5)


# --------------------------------------------------------------------------- PackCIRInputs
def test_pack_cir_inputs():
    ref, tgt = torch.zeros(3, 4, 4), torch.ones(3, 4, 4)
    results = {'ref': ref, 'tgt': tgt, 'text': 'make it red', 'sample_idx': 5, 'gt_gallery_idx': [2, 9],
               'ref_path': '/x/r.png', 'ref_id': 'r', 'category': 'dress', 'unrelated': 1}
    packed = PackCIRInputs()(results)
    assert set(packed) == {'inputs', 'data_samples'}
    assert set(packed['inputs']) == {'ref', 'tgt', 'text'}
    assert packed['inputs']['ref'] is ref and packed['inputs']['tgt'] is tgt
    assert packed['inputs']['text'] == 'make it red'
    sample = packed['data_samples']
    assert isinstance(sample, CIRDataSample)
    assert sample.sample_idx == 5 and sample.gt_gallery_idx == [2, 9]
    assert sample.ref_id == 'r' and sample.category == 'dress' and sample.text == 'make it red'
    assert set(sample.metainfo_keys()) == {'sample_idx', 'gt_gallery_idx', 'ref_id', 'category', 'text'}


def test_pack_gallery_item_and_custom_meta_keys():
    img = torch.zeros(3, 2, 2)
    packed = PackCIRInputs(meta_keys=('sample_idx', ))({'img': img, 'sample_idx': 0, 'img_id': 'a'})
    assert set(packed['inputs']) == {'img'}
    assert packed['data_samples'].metainfo == {'sample_idx': 0}


def test_pack_nothing_to_pack():
    with pytest.raises(KeyError, match='none of'):
        PackCIRInputs()({'sample_idx': 0, 'ref_path': 'x.png'})

"""model.prepare_gallery over an ImageListDataset: keys, bad images, fingerprint, retrieve, predict."""
import io

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sdfn_plugin.datasets import EmptyImageFolderError, ImageDecodeError, ImageListDataset
from sdfn_plugin.models.retrievers import FingerprintMismatchError, GalleryIndex
from sdfn_plugin.models.retrievers.fingerprint import fingerprint_differences
from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import CIRDataSample
from sdfn_plugin.utils import register_all_modules

register_all_modules()
COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 200, 0)]


def _model(tmp_path):
    vocab = tmp_path / 'vocab.txt'
    vocab.write_text('<pad>\n<unk>\nadd\nred\n')
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='ComposedRetriever', image_encoder=dict(type='SmallCNN', channels=(4, ), out_dim=8),
        text_encoder=dict(type='LSTMTextEncoder', vocab_file=str(vocab), embed_dim=8, hidden_dim=8, out_dim=8),
        fusion=dict(type='Concat', image_dim=8, text_dim=8, embed_dim=8),
        losses=[dict(type='BatchClassificationLoss')], topk=3)).eval()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / 'images'
    (root / 'sub').mkdir(parents=True)
    for i, color in enumerate(COLORS):
        Image.new('RGB', (12, 12), color).save(root / ('sub' if i == 3 else '') / f'{i}.png')
    (root / 'bad.jpg').write_bytes(b'not an image')
    (root / 'notes.txt').write_text('ignored: not an image extension')
    return root


def _pixels(path):
    return torch.from_numpy(__import__('numpy').asarray(Image.open(path).convert('RGB')).copy()).permute(2, 0, 1)


def test_bad_image_is_a_named_error_or_skipped_and_reported(tmp_path, folder):
    model = _model(tmp_path)
    with pytest.raises(ImageDecodeError, match=r"cannot decode image '.*bad.jpg'.*--skip-bad"):
        model.prepare_gallery(ImageListDataset(str(folder)), batch_size=2)
    dataset = ImageListDataset(str(folder), skip_bad=True)
    assert len(dataset) == 5  # bad.jpg is listed; notes.txt is not
    index = model.prepare_gallery(dataset, batch_size=2)
    good = [str(folder / '0.png'), str(folder / '1.png'), str(folder / '2.png'), str(folder / 'sub' / '3.png')]
    assert model.gallery is index and index.keys == good and index.skipped == [str(folder / 'bad.jpg')]
    data = model.data_preprocessor({'inputs': {'img': [_pixels(p) for p in good]}}, False)
    with torch.no_grad():
        expected = F.normalize(model.extract_gallery(data['inputs']['img']), dim=-1)  # CosineScorer
    torch.testing.assert_close(index.embeddings, expected)
    model.set_gallery(None)
    assert model.gallery is None


def test_empty_folder_list_file_and_missing_files(tmp_path, folder):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(EmptyImageFolderError, match="image folder '.*empty' holds no image file"):
        ImageListDataset(str(tmp_path / 'empty'))
    listing = tmp_path / 'list.txt'
    listing.write_text('# gallery\nimages/1.png\n\nimages/sub/3.png\n')
    assert ImageListDataset(str(listing)).gallery_keys() == [str(folder / '1.png'), str(folder / 'sub' / '3.png')]
    listing.write_text('images/1.png\nimages/missing.png\n')
    with pytest.raises(FileNotFoundError, match=r"1 listed image\(s\) do not exist, first: '.*missing.png'"):
        ImageListDataset(str(listing))
    with pytest.raises(ValueError, match=r"names 1 image\(s\) twice, first: '.*1.png'"):
        ImageListDataset([str(folder / '1.png'), str(folder / '1.png')])


def test_fingerprint_follows_gallery_weights_and_transform_not_query_side(tmp_path, folder):
    model = _model(tmp_path)
    dataset = ImageListDataset([str(folder / '0.png'), str(folder / '1.png')])
    index = model.prepare_gallery(dataset, batch_size=2)
    index.save(str(tmp_path / 'idx'))
    fp = model.gallery_fingerprint(dataset.pipeline.transforms)
    assert index.fingerprint == fp
    assert GalleryIndex.load(str(tmp_path / 'idx'), expected_fingerprint=fp).keys == index.keys
    with torch.no_grad():
        model.text_encoder.embedding.weight.add_(1.0)  # query side: gallery embeddings unchanged
    assert model.gallery_fingerprint(dataset.pipeline.transforms) == fp
    resized = ImageListDataset(dataset.paths, pipeline=[dict(type='LoadCIRImages', keys=('img', )),
                                                        dict(type='ResizeImages', size=(8, 8)),
                                                        dict(type='PackCIRInputs')])
    assert fingerprint_differences(fp, model.gallery_fingerprint(resized.pipeline.transforms)) == ['transform']
    with torch.no_grad():
        next(model.image_encoder.parameters()).add_(1.0)
    with pytest.raises(FingerprintMismatchError, match='differs in weights'):
        GalleryIndex.load(str(tmp_path / 'idx'), expected_fingerprint=model.gallery_fingerprint(
            dataset.pipeline.transforms))


def test_retrieve_and_predict_give_keys_and_scores_of_the_brute_force_ranking(tmp_path, folder):
    model = _model(tmp_path)
    paths = [str(folder / f'{i}.png') for i in range(3)] + [str(folder / 'sub' / '3.png')]
    index = model.prepare_gallery(ImageListDataset(paths), batch_size=4)
    refs = [_pixels(paths[0]), _pixels(paths[3])]
    samples = [CIRDataSample(metainfo=dict(sample_idx=i, gt_gallery_idx=[1], ref_gallery_idx=r))
               for i, r in enumerate([0, 3])]
    data = model.data_preprocessor({'inputs': {'ref': refs, 'text': ['add red', 'red']}, 'data_samples': samples},
                                   False)
    with torch.no_grad():
        query = model.extract_query(data['inputs']['ref'], data['inputs']['text']).query
    brute = F.normalize(query, dim=-1) @ index.embeddings.t()
    brute[0, 0] = brute[1, 3] = float('-inf')  # references excluded
    preds = model(**data, mode='predict')
    scores, rows = model.retrieve(model.extract_query(data['inputs']['ref'], data['inputs']['text']), 3,
                                  exclude=index.lookup([paths[0], paths[3]]))
    for i, pred in enumerate(preds):
        assert pred['pred_topk'].tolist() == brute[i].argsort(descending=True)[:3].tolist() == rows[i].tolist()
        assert pred['pred_keys'] == [paths[j] for j in pred['pred_topk'].tolist()]
        torch.testing.assert_close(pred['pred_scores'], brute[i].sort(descending=True).values[:3])
        torch.testing.assert_close(scores[i], pred['pred_scores'])

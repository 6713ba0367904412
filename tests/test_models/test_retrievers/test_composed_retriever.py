import pytest
import torch

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import CIRDataSample
from sdfn_plugin.utils import register_all_modules

register_all_modules()


def _vocab(tmp_path):
    path = tmp_path / 'vocab.txt'
    path.write_text('<pad>\n<unk>\nadd\nremove\nred\ncircle\nblue\nsquare\n')
    return str(path)


def _model(tmp_path, fusion='TIRG', dim=16, **kw):
    cfg = dict(
        type='ComposedRetriever',
        image_encoder=dict(type='SmallCNN', channels=(4, 8), out_dim=dim),
        text_encoder=dict(type='LSTMTextEncoder', vocab_file=_vocab(tmp_path), embed_dim=8, hidden_dim=8,
                          out_dim=dim),
        fusion=dict(type=fusion, image_dim=dim, text_dim=dim, embed_dim=dim),
        losses=[dict(type='BatchClassificationLoss', scale=4.0, learn_scale=True, parametrization='square')],
        **kw)
    return MODELS.build(cfg)


def _batch(b=4, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    texts = ['add red circle', 'remove blue square', 'add blue circle', 'remove red square'][:b]
    return dict(ref=torch.randint(0, 256, (b, 3, size, size), generator=g, dtype=torch.uint8),
                tgt=torch.randint(0, 256, (b, 3, size, size), generator=g, dtype=torch.uint8), text=texts)


def _preprocess(model, inputs, samples=None):
    data = {'inputs': {k: list(v) if k != 'text' else v for k, v in inputs.items()}, 'data_samples': samples}
    return model.data_preprocessor(data, True)


def test_loss_mode_returns_named_terms_and_backpropagates(tmp_path):
    model = _model(tmp_path)
    data = _preprocess(model, _batch())
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_bbc', 'bbc_acc', 'bbc_scale'}
    assert losses['bbc_scale'].item() == pytest.approx(16.0)
    parsed, _ = model.parse_losses(losses)
    parsed.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, name


def test_predict_equals_brute_force_ranking_with_reference_excluded(tmp_path):
    model = _model(tmp_path, topk=5).eval()
    gallery_imgs = torch.randint(0, 256, (12, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    gdata = model.data_preprocessor({'inputs': {'img': list(gallery_imgs)}}, False)
    with torch.no_grad():
        gallery = model.extract_gallery(gdata['inputs']['img'])
    model.set_gallery(gallery)
    batch = _batch()
    del batch['tgt']
    samples = [CIRDataSample(metainfo=dict(sample_idx=i, gt_gallery_idx=[i + 1], ref_gallery_idx=i)) for i in range(4)]
    data = _preprocess(model, batch, samples)
    preds = model(**data, mode='predict')
    with torch.no_grad():
        q = torch.nn.functional.normalize(model.extract_query(data['inputs']['ref'], batch['text']).query, dim=-1)
    scores = q @ torch.nn.functional.normalize(gallery, dim=-1).t()
    for i, pred in enumerate(preds):
        scores[i, i] = float('-inf')  # the reference is excluded
        assert pred['pred_topk'].tolist() == scores[i].argsort(descending=True)[:5].tolist()
        assert pred['gt_gallery_idx'] == [i + 1]
        assert i not in pred['pred_topk'].tolist()


def test_tensor_mode_and_invalid_mode(tmp_path):
    model = _model(tmp_path, fusion='Concat')
    data = _preprocess(model, _batch())
    out = model(**data, mode='tensor')
    assert out['query'].shape == (4, 16) and out['target'].shape == (4, 16)
    with pytest.raises(RuntimeError, match="Invalid mode 'foo'"):
        model(**data, mode='foo')


def test_predict_without_gallery_is_a_clear_error(tmp_path):
    model = _model(tmp_path).eval()
    batch = _batch()
    del batch['tgt']
    samples = [CIRDataSample(metainfo=dict(sample_idx=i, gt_gallery_idx=[0])) for i in range(4)]
    with pytest.raises(RuntimeError, match='PrepareGalleryHook'):
        model(**_preprocess(model, batch, samples), mode='predict')


def test_dimension_mismatch_names_both_fields(tmp_path):
    cfg = dict(type='ComposedRetriever',
               image_encoder=dict(type='SmallCNN', channels=(4, ), out_dim=16),
               text_encoder=dict(type='LSTMTextEncoder', vocab_file=_vocab(tmp_path), embed_dim=8, hidden_dim=8,
                                 out_dim=12),
               fusion=dict(type='TIRG', image_dim=16, text_dim=16, embed_dim=16),
               losses=[dict(type='BatchClassificationLoss')])
    with pytest.raises(ValueError, match=r'text_encoder.out_dim = 12 but fusion.text_dim = 16'):
        MODELS.build(cfg)


def test_unknown_fusion_type_names_the_type(tmp_path):
    cfg = dict(type='ComposedRetriever', image_encoder=dict(type='SmallCNN', out_dim=16),
               text_encoder=dict(type='LSTMTextEncoder', vocab_file=_vocab(tmp_path)),
               fusion=dict(type='NoSuchFusion'), losses=[dict(type='BatchClassificationLoss')])
    with pytest.raises(KeyError, match='NoSuchFusion is not in the'):
        MODELS.build(cfg)


def test_preprocessor_normalises_and_rejects_mixed_sizes(tmp_path):
    model = _model(tmp_path)
    img = torch.full((3, 4, 4), 255, dtype=torch.uint8)
    out = model.data_preprocessor({'inputs': {'img': [img]}}, False)['inputs']['img']
    expected = (255 - torch.tensor([123.675, 116.28, 103.53])) / torch.tensor([58.395, 57.12, 57.375])
    assert torch.allclose(out[0, :, 0, 0], expected)
    with pytest.raises(ValueError, match="images under 'img' have different shapes"):
        model.data_preprocessor({'inputs': {'img': [img, torch.zeros(3, 5, 5, dtype=torch.uint8)]}}, False)

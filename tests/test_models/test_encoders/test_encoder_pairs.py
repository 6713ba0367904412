"""Every image and text encoder x {TIRG, SDFN}: builds offline with random weights and trains one iteration."""
import pytest
import torch

from sdfn_plugin.registry import MODELS

from cir_testlib import TINY
from encoder_testlib import TINY_BERT, css_batch, minilm_dir, snapshot, train_step

D = 32  # every encoder is adapted to D channels, so one fusion config fits all

IMAGE = {
    'SmallCNN': dict(type='SmallCNN', channels=(8, 16), out_dim=D),
    'TorchvisionResNet-18': dict(type='TorchvisionResNet', depth=18, out_dim=D),
    'TimmEncoder-resnet18': dict(type='TimmEncoder', model_name='resnet18', out_dim=D),
    'TimmEncoder-vit_tiny': dict(type='TimmEncoder', model_name='vit_tiny_patch16_224',
                                 model_args=dict(img_size=64), out_dim=D),
    'OpenCLIPVisual-RN50': dict(type='OpenCLIPVisual', model_name='RN50', image_size=64, out_dim=D),
    'OpenCLIPVisual-ViT-B-32': dict(type='OpenCLIPVisual', model_name='ViT-B-32', image_size=64, out_dim=D),
}
TEXT = {
    'LSTM': dict(type='LSTMTextEncoder', embed_dim=16, hidden_dim=D, out_dim=D),
    'BiGRU': dict(type='LSTMTextEncoder', embed_dim=16, hidden_dim=D // 2, rnn='gru', bidirectional=True,
                  pooling='max'),
    'HFTextEncoder-tiny-bert': dict(type='HFTextEncoder', config=TINY_BERT, out_dim=D, max_length=16),
    'OpenCLIPText-ViT-B-32': dict(type='OpenCLIPText', model_name='ViT-B-32', max_length=16, out_dim=D),
}
FUSIONS = {
    'TIRG': dict(type='TIRG', image_dim=D, text_dim=D, embed_dim=D),
    'SDFN': dict(type='SDFN', image_dim=D, text_dim=D, embed_dim=D, num_layers=2, num_heads=4),
}
# each image encoder with the LSTM, each other text encoder with the small CNN
PAIRS = [(img, 'LSTM') for img in IMAGE] + [('SmallCNN', txt) for txt in TEXT if txt != 'LSTM']


@pytest.fixture(scope='module')
def samples(css_root):
    return css_batch(css_root, size=4)


def _text_cfg(name: str, css_root: str) -> dict:
    cfg = dict(TEXT[name])
    if cfg['type'] == 'LSTMTextEncoder':
        cfg['vocab_dataset'] = dict(type='CSSDataset', data_root=css_root, split='train', **TINY)
    if cfg['type'] == 'HFTextEncoder':
        cfg['tokenizer'] = minilm_dir()
    return cfg


@pytest.mark.parametrize('fusion', sorted(FUSIONS))
@pytest.mark.parametrize('image,text', PAIRS, ids=[f'{i}+{t}' for i, t in PAIRS])
def test_pair_builds_offline_and_trains_one_iteration(image, text, fusion, samples, css_root):
    torch.manual_seed(0)
    cfg = dict(type='ComposedRetriever', image_encoder=IMAGE[image], text_encoder=_text_cfg(text, css_root),
               fusion=FUSIONS[fusion], losses=[dict(type='BatchClassificationLoss', scale=10.0)])
    model = MODELS.build(cfg)
    before = {name: snapshot(getattr(model, name)) for name in ('image_encoder', 'text_encoder')}
    losses = train_step(model, samples)
    assert model.image_encoder.out_dim == D and model.text_encoder.out_dim == D
    assert torch.isfinite(losses['loss'])
    for name, start in before.items():
        params = [(n, p) for n, p in getattr(model, name).named_parameters() if p.requires_grad]
        # every trainable parameter is used (DDP without find_unused_parameters needs that) ...
        unused = [n for n, p in params if p.grad is None]
        assert not unused, f'{name} parameters without a gradient: {unused[:5]}'
        # ... and the step moved the encoder (zero-initialised residual BatchNorms legitimately give some
        # first-step gradients of exactly zero, so not every tensor must change)
        assert any(not torch.equal(p, start[n]) for n, p in params), f'{name} unchanged by the step'


def test_runner_weight_init_keeps_library_weights(css_root):
    """mmengine's Runner calls model.init_weights() before training; it must not re-initialise a tower's
    (pretrained) weights, although timm's ViT has an init_weights() of its own."""
    cfg = dict(type='ComposedRetriever', image_encoder=IMAGE['TimmEncoder-vit_tiny'],
               text_encoder=_text_cfg('HFTextEncoder-tiny-bert', css_root), fusion=FUSIONS['TIRG'],
               losses=[dict(type='BatchClassificationLoss', scale=10.0)])
    model = MODELS.build(cfg)
    before = {name: snapshot(getattr(model, name)) for name in ('image_encoder', 'text_encoder')}
    model.init_weights()
    for name, start in before.items():
        assert all(torch.equal(p, start[n]) for n, p in getattr(model, name).named_parameters()), name

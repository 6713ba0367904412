"""Training-speed switches on CPU: bf16 autocast steps, channels_last inputs, torch.compile of train_step
(the config keys of docs/performance.md: optim_wrapper type, model.data_preprocessor.channels_last, compile)."""
import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import CIRDataSample
from sdfn_plugin.utils import register_all_modules

register_all_modules()


def _model(tmp_path, rnn='gru', channels_last=False):
    vocab = tmp_path / 'vocab.txt'
    vocab.write_text('<pad>\n<unk>\nadd\nremove\nred\ncircle\n')
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='ComposedRetriever', data_preprocessor=dict(channels_last=channels_last),
        image_encoder=dict(type='SmallCNN', channels=(4, 8), out_dim=16),
        text_encoder=dict(type='LSTMTextEncoder', vocab_file=str(vocab), embed_dim=8, hidden_dim=8, out_dim=16,
                          rnn=rnn, dropout=0.0),
        fusion=dict(type='TIRG', image_dim=16, text_dim=16, embed_dim=16),
        losses=[dict(type='BatchClassificationLoss', scale=4.0)]))


def _batch(b=4, size=16):
    g = torch.Generator().manual_seed(0)
    images = lambda: [torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8) for _ in range(b)]  # noqa
    return {'inputs': {'ref': images(), 'tgt': images(), 'text': ['add red circle', 'remove circle', 'add red',
                                                                      'remove red circle'][:b]},
            'data_samples': [CIRDataSample(metainfo=dict(sample_idx=i)) for i in range(b)]}


def _optim(model, **wrapper):
    return build_optim_wrapper(model, dict(optimizer=dict(type='Adam', lr=1e-3), **wrapper))


def test_bf16_autocast_step_runs_on_cpu(tmp_path):
    model = _model(tmp_path).train()
    wrapper = _optim(model, type='AutocastOptimWrapper', dtype='bfloat16')
    seen = []
    model.image_encoder.register_forward_hook(lambda m, i, o: seen.append(o.pooled.dtype))
    before = [p.detach().clone() for p in model.parameters()]
    log_vars = model.train_step(_batch(), wrapper)  # the Runner's call: autocast inside optim_context
    assert seen == [torch.bfloat16]  # the convolutions ran in bf16
    assert torch.isfinite(log_vars['loss']) and log_vars['loss'] > 0
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    # outside the wrapper nothing is autocast
    model.image_encoder(torch.zeros(1, 3, 16, 16))
    assert seen[-1] == torch.float32


def test_autocast_wrapper_rejects_fp16_and_bad_device(tmp_path):
    model = _model(tmp_path)
    with pytest.raises(ValueError, match="optim_wrapper.dtype must be 'bfloat16'.*use type='AmpOptimWrapper'"):
        _optim(model, type='AutocastOptimWrapper', dtype='float16')
    with pytest.raises(ValueError, match="optim_wrapper.device_type must be None, 'cpu' or 'cuda', got 'tpu'"):
        _optim(model, type='AutocastOptimWrapper', device_type='tpu')


def test_channels_last_inputs_give_the_same_step(tmp_path):
    plain, fast = _model(tmp_path), _model(tmp_path, channels_last=True)
    fast.load_state_dict(plain.state_dict())
    data = fast.data_preprocessor(_batch(), True)
    assert data['inputs']['ref'].is_contiguous(memory_format=torch.channels_last)
    assert not plain.data_preprocessor(_batch(), True)['inputs']['ref'].is_contiguous(
        memory_format=torch.channels_last)
    losses = []
    for m in (plain, fast):
        loss, _ = m.parse_losses(m(**m.data_preprocessor(_batch(), True), mode='loss'))
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(plain.named_parameters(), fast.parameters()):
        assert a.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_compiled_train_step_matches_eager(tmp_path):
    """What the Runner does for cfg.compile = dict(backend=...): compile model.train_step."""
    eager = _model(tmp_path)
    compiled = copy.deepcopy(eager)
    compiled.train_step = torch.compile(compiled.train_step, backend='eager')
    eager_loss = eager.train_step(_batch(), _optim(eager))['loss']
    compiled_loss = compiled.train_step(_batch(), _optim(compiled))['loss']
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-5, atol=1e-6)

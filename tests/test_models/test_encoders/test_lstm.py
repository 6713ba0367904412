import pytest
import torch

from sdfn_plugin.models.encoders.text import LSTMTextEncoder, Vocabulary, build_vocabulary
from sdfn_plugin.models.encoders.text.lstm import masked_max
from sdfn_plugin.registry import DATASETS

TEXTS = ['make the red cube blue', 'remove sphere', 'add a small green cube to the left of it', 'x']
WORDS = 'make the red cube blue remove sphere add a small green to left of it'.split()


@DATASETS.register_module(name='_LSTMTestTexts', force=True)
class _TextsDataset:
    def __init__(self, texts):
        self._texts = list(texts)

    def texts(self):
        return self._texts


@pytest.fixture
def vocab_file(tmp_path):
    path = tmp_path / 'vocab.txt'
    Vocabulary(WORDS).save(str(path))
    return str(path)


def _encoder(vocab_file, seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs = {'embed_dim': 8, 'hidden_dim': 6, **kwargs}
    return LSTMTextEncoder(vocab_file=vocab_file, **kwargs).eval()


def test_shapes_and_mask(vocab_file):
    enc = _encoder(vocab_file, out_dim=5)
    out = enc(TEXTS)
    lengths = [len(t.split()) for t in TEXTS]  # every word is known, no punctuation
    assert out.tokens.shape == (4, max(lengths), 5)
    assert out.pooled.shape == (4, 5) and enc.out_dim == 5
    expected_mask = torch.tensor([[i < n for i in range(max(lengths))] for n in lengths])
    assert out.mask.dtype == torch.bool and torch.equal(out.mask, expected_mask)
    # unknown words are valid positions too (id 1, not padding)
    out = enc(['zzz qqq', 'red'])
    assert torch.equal(out.mask, torch.tensor([[True, True], [True, False]]))


@pytest.mark.parametrize('kwargs,width', [({}, 6), ({'bidirectional': True}, 12),
                                          ({'rnn': 'gru', 'num_layers': 2}, 6),
                                          ({'bidirectional': True, 'out_dim': 3}, 3)])
def test_out_dim(vocab_file, kwargs, width):
    enc = _encoder(vocab_file, **kwargs)
    assert enc.out_dim == width
    assert enc(TEXTS).pooled.shape == (4, width)


@pytest.mark.parametrize('kwargs', [{}, {'out_dim': 5}, {'rnn': 'gru'}])
def test_last_pooling_is_padding_invariant(vocab_file, kwargs):
    enc = _encoder(vocab_file, pooling='last', **kwargs)
    with torch.no_grad():
        batch = enc(TEXTS)
        for i, text in enumerate(TEXTS):
            alone = enc([text])
            n = alone.tokens.shape[1]
            assert alone.mask.all()
            # the sentence feature is the output at the last valid step of the text alone
            torch.testing.assert_close(alone.pooled[0], alone.tokens[0, -1], rtol=0, atol=0)
            torch.testing.assert_close(batch.pooled[i], alone.tokens[0, n - 1], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(batch.tokens[i, :n], alone.tokens[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('rnn', ['lstm', 'gru'])
def test_bidirectional_last_pooling_takes_both_final_states(vocab_file, rnn):
    enc = _encoder(vocab_file, pooling='last', bidirectional=True, rnn=rnn)
    with torch.no_grad():
        batch = enc(TEXTS)
        for i, text in enumerate(TEXTS):
            ids = enc.tokenize([text])
            # the RNN's own final hidden states: h_n[0] forward (read every word), h_n[1] backward
            _, h_n = enc.rnn(enc.embedding(ids))
            h_n = h_n[0] if rnn == 'lstm' else h_n
            expected = torch.cat([h_n[0, 0], h_n[1, 0]])
            torch.testing.assert_close(batch.pooled[i], expected, rtol=1e-5, atol=1e-6)
            n = ids.shape[1]
            if n > 1:  # not the backward output at the last word, which has read one word
                assert not torch.allclose(batch.pooled[i, 6:], batch.tokens[i, n - 1, 6:])


def test_max_pooling_is_masked_max(vocab_file):
    enc = _encoder(vocab_file, pooling='max', out_dim=4)
    with torch.no_grad():
        out = enc(TEXTS)
        for i, text in enumerate(TEXTS):
            n = int(out.mask[i].sum())
            manual = torch.stack([out.tokens[i, j] for j in range(n)]).max(dim=0).values
            assert torch.equal(out.pooled[i], manual)
            torch.testing.assert_close(enc([text]).pooled[0], manual, rtol=1e-5, atol=1e-6)


def test_masked_max_padding_values_on_a_hand_tensor():
    words = torch.tensor([[[-1.0, 2.0], [-3.0, -4.0], [9.0, 9.0]],   # 2 valid steps, 1 padded step
                          [[-5.0, 1.0], [-2.0, -6.0], [-7.0, 3.0]]])  # 3 valid steps
    mask = torch.tensor([[True, True, False], [True, True, True]])
    assert torch.equal(masked_max(words, mask), torch.tensor([[-1.0, 2.0], [-2.0, 3.0]]))
    # AMC: the padded step counts as 0, so a negative channel of the shorter sentence becomes 0
    assert torch.equal(masked_max(words, mask, 'zero'), torch.tensor([[0.0, 2.0], [-2.0, 3.0]]))


def test_zero_padding_max_pooling_matches_amc(vocab_file):
    enc = _encoder(vocab_file, pooling='max', max_padding='zero', out_dim=4)
    with torch.no_grad():
        out = enc(TEXTS)
        true_max = masked_max(out.tokens, out.mask)
        longest = int(out.mask.sum(1).argmax())
        for i in range(len(TEXTS)):
            expected = true_max[i] if i == longest else true_max[i].clamp(min=0)
            assert torch.equal(out.pooled[i], expected)
        shorter = [i for i in range(len(TEXTS)) if i != longest]
        assert (true_max[shorter] < 0).any()  # the option changes something on this batch


def test_max_length_truncates(vocab_file):
    enc = _encoder(vocab_file, max_length=2)
    out = enc(TEXTS)
    assert out.tokens.shape[1] == 2
    assert torch.equal(enc.tokenize(['red cube blue', 'x']), torch.tensor([[4, 5], [1, 0]]))


def test_vocabulary_from_file(vocab_file):
    enc = _encoder(vocab_file)
    assert enc.vocab == Vocabulary.load(vocab_file)
    assert enc.embedding.num_embeddings == len(WORDS) + 2
    assert enc.embedding.padding_idx == 0


def test_vocabulary_from_dataset_config():
    vocab = build_vocabulary(None, dict(type='_LSTMTestTexts', texts=['b a', 'a c']), specials=('<and>',))
    assert vocab.itos == ['<pad>', '<unk>', '<and>', 'a', 'b', 'c']
    enc = LSTMTextEncoder(vocab_dataset=dict(type='_LSTMTestTexts', texts=['b a', 'a c']),
                          embed_dim=4, hidden_dim=4)
    assert enc.vocab.itos == ['<pad>', '<unk>', 'a', 'b', 'c']


def test_both_or_neither_vocabulary_source(vocab_file):
    with pytest.raises(ValueError, match='exactly one of vocab_file'):
        LSTMTextEncoder(embed_dim=4, hidden_dim=4)
    with pytest.raises(ValueError, match='exactly one of vocab_file'):
        LSTMTextEncoder(vocab_file=vocab_file, vocab_dataset=dict(type='_LSTMTestTexts', texts=['a']),
                        embed_dim=4, hidden_dim=4)


@pytest.mark.parametrize('kwargs,match', [({'pooling': 'mean'}, 'pooling'), ({'rnn': 'rnn'}, 'rnn'),
                                          ({'max_length': 0}, 'max_length'),
                                          ({'pooling': 'max', 'max_padding': 0}, 'max_padding must be one of'),
                                          ({'max_padding': 'zero'}, "applies to pooling='max' only")])
def test_bad_arguments(vocab_file, kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTMTextEncoder(vocab_file=vocab_file, embed_dim=4, hidden_dim=4, **kwargs)


def test_empty_batch_and_empty_text(vocab_file):
    enc = _encoder(vocab_file)
    with pytest.raises(ValueError, match='empty batch'):
        enc([])
    with pytest.raises(ValueError, match='empty modification text'):
        enc(['red', ' '])


def test_state_dict_round_trip_and_vocabulary_mismatch(tmp_path, vocab_file):
    src = _encoder(vocab_file, seed=0)
    dst = _encoder(vocab_file, seed=1)
    dst.load_state_dict(src.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(dst(TEXTS).pooled, src(TEXTS).pooled, rtol=0, atol=0)

    other_file = tmp_path / 'other.txt'
    Vocabulary(WORDS[:-1] + ['right']).save(str(other_file))  # same size, one word differs
    other = _encoder(str(other_file))
    with pytest.raises(ValueError, match='vocabulary'):
        other.load_state_dict(src.state_dict())
    # the check survives a real checkpoint file
    torch.save(src.state_dict(), tmp_path / 'ckpt.pth')
    state = torch.load(tmp_path / 'ckpt.pth', weights_only=True)
    with pytest.raises(ValueError, match='vocabulary'):
        other.load_state_dict(state)
    dst.load_state_dict(state)


def test_glove_init_and_freeze(tmp_path, vocab_file):
    glove = tmp_path / 'glove.txt'
    glove.write_text('red 1 2 3 4\ncube 0.5 0.5 0.5 0.5\n', encoding='utf-8')
    enc = LSTMTextEncoder(vocab_file=vocab_file, embed_dim=4, hidden_dim=4, glove_file=str(glove),
                          freeze_embeddings=True)
    w = enc.embedding.weight
    assert torch.equal(w[enc.vocab.stoi['red']], torch.tensor([1., 2., 3., 4.]))
    assert torch.equal(w[enc.vocab.stoi['cube']], torch.full((4, ), 0.5))
    assert torch.equal(w[0], torch.zeros(4))
    assert not w.requires_grad


def test_gradients_flow_in_train_mode(vocab_file):
    enc = _encoder(vocab_file, out_dim=3).train()
    enc(TEXTS).pooled.sum().backward()
    assert enc.embedding.weight.grad is not None
    assert enc.embedding.weight.grad[0].abs().sum() == 0  # padding row never gets a gradient
    assert all(p.grad is not None for p in enc.rnn.parameters())


@pytest.mark.parametrize('rnn', ['lstm', 'gru'])
def test_runs_under_cpu_bf16_autocast_with_float32_recurrence(vocab_file, rnn):
    enc = _encoder(vocab_file, pooling='max', out_dim=4, rnn=rnn)
    with torch.no_grad():
        ref = enc(TEXTS)
        with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
            out = enc(TEXTS)
    # the projection runs in bf16 under autocast; the recurrence itself stays float32
    assert out.pooled.dtype == torch.bfloat16
    torch.testing.assert_close(out.pooled.float(), ref.pooled, rtol=2e-2, atol=2e-2)

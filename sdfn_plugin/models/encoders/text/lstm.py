"""Recurrent text encoder over word embeddings (TIRG, AMC, SDFN)."""
from typing import List, Optional, Sequence

import torch
from mmengine.logging import MMLogger
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from sdfn_plugin.registry import DATASETS, MODELS
from sdfn_plugin.structures import TextFeatures

from .glove import load_glove
from .vocabulary import Vocabulary

_POOLING = ('last', 'max')
_MAX_PADDING = ('neg_inf', 'zero')


def masked_max(words: torch.Tensor, mask: torch.Tensor, padding: str = 'neg_inf') -> torch.Tensor:
    """Max over the steps of ``words`` ``(B, L, D)`` with padded steps (``mask`` False) filled by
    ``-inf`` (``'neg_inf'``: the max of the valid steps) or by 0 (``'zero'``: the official AMC code
    pools the zero-padded output of ``pad_packed_sequence``, so every sentence shorter than the
    longest of its batch gets ``max(valid max, 0)`` per channel)."""
    fill = float('-inf') if padding == 'neg_inf' else 0.0
    return words.masked_fill(~mask.unsqueeze(-1), fill).amax(dim=1)


def build_vocabulary(vocab_file: Optional[str], vocab_dataset: Optional[dict],
                     specials: Sequence[str] = (), vocab: Optional[Sequence[str]] = None) -> Vocabulary:
    """Vocabulary from a file, from the training texts of a dataset config, or
    from a saved word list (``vocab``: what checkpoints store, id = position).

    Building from the dataset config (the usual case) reads annotations only;
    the resulting word list is also stored in checkpoints and checked on load,
    so a trained model is rebuilt from its checkpoint with ``vocab`` alone
    (:func:`sdfn_plugin.apis.get_model` does this).
    """
    if sum(src is not None for src in (vocab_file, vocab_dataset, vocab)) != 1:
        raise ValueError('text encoder: give exactly one of vocab_file (path), vocab_dataset '
                         '(the training dataset config whose texts define the vocabulary) or vocab (word list)')
    if vocab is not None:
        return Vocabulary.from_itos(vocab, 'text_encoder.vocab')
    if vocab_file is not None:
        return Vocabulary.load(vocab_file)
    dataset = DATASETS.build(vocab_dataset)
    if not hasattr(dataset, 'texts'):
        raise TypeError(f'vocab_dataset type {type(dataset).__name__} has no texts() method')
    return Vocabulary.from_texts(dataset.texts(), specials=specials)


@MODELS.register_module()
class LSTMTextEncoder(nn.Module):
    """Word embeddings -> (Bi)LSTM/GRU -> word features, mask and sentence feature.

    * TIRG (google/tirg ``text_model.py``): random 512-d embeddings, LSTM 512,
      sentence = output at the last valid step, then dropout 0.1 + Linear.
    * AMC / SDFN: GloVe-300 embeddings, LSTM 1024, words = all outputs,
      sentence = max over valid steps (``pooling='max'``).

    Tokenisation happens here (the tokenizer belongs to the encoder); inputs are
    raw strings.

    Args:
        vocab_file / vocab_dataset / vocab: vocabulary source, see :func:`build_vocabulary`.
        embed_dim: word embedding size (300 with GloVe).
        hidden_dim: recurrent hidden size per direction.
        out_dim: optional Linear after dropout applied to words and sentence.
        pooling: ``'last'`` (TIRG; bidirectional: both directions' final
            states, the official ARTEMIS BiGRU) or ``'max'`` (AMC/SDFN, masked).
        max_padding: padding value of the ``'max'`` pooling, see :func:`masked_max`:
            ``'neg_inf'`` (a true masked max) or ``'zero'`` (official AMC).
        glove_file: local GloVe text file to initialise embeddings (OOV: N(0,1)).
        rnn: ``'lstm'`` or ``'gru'``; ``bidirectional`` concatenates directions.
        max_length: texts are truncated to this many tokens.
    """
    # initial weights only: reset by sdfn_plugin.apis.get_model when a checkpoint restores the model
    INIT_WEIGHT_ARGS = {'glove_file': None}

    def __init__(self, vocab_file: Optional[str] = None, vocab_dataset: Optional[dict] = None,
                 embed_dim: int = 512, hidden_dim: int = 512, out_dim: Optional[int] = None,
                 num_layers: int = 1, bidirectional: bool = False, rnn: str = 'lstm',
                 pooling: str = 'last', dropout: float = 0.1, glove_file: Optional[str] = None,
                 freeze_embeddings: bool = False, specials: Sequence[str] = (), max_length: int = 64,
                 vocab: Optional[Sequence[str]] = None, max_padding: str = 'neg_inf') -> None:
        super().__init__()
        if pooling not in _POOLING:
            raise ValueError(f'LSTMTextEncoder.pooling must be one of {_POOLING}, got {pooling!r}')
        if max_padding not in _MAX_PADDING:
            raise ValueError(f'LSTMTextEncoder.max_padding must be one of {_MAX_PADDING}, got {max_padding!r}')
        if max_padding != 'neg_inf' and pooling != 'max':
            raise ValueError(f"LSTMTextEncoder.max_padding={max_padding!r} applies to pooling='max' only, "
                             f'got pooling={pooling!r}')
        if rnn not in ('lstm', 'gru'):
            raise ValueError(f"LSTMTextEncoder.rnn must be 'lstm' or 'gru', got {rnn!r}")
        if max_length < 1:
            raise ValueError(f'LSTMTextEncoder.max_length must be >= 1, got {max_length}')
        self.vocab = build_vocabulary(vocab_file, vocab_dataset, specials, vocab)
        MMLogger.get_current_instance().info(f'text vocabulary: {len(self.vocab)} tokens')
        self.embedding = nn.Embedding(len(self.vocab), embed_dim, padding_idx=0)
        if glove_file is not None:
            weight, _ = load_glove(glove_file, self.vocab, embed_dim)
            self.embedding.weight.data.copy_(weight)
        self.embedding.weight.requires_grad_(not freeze_embeddings)
        rnn_cls = nn.LSTM if rnn == 'lstm' else nn.GRU
        self.rnn = rnn_cls(embed_dim, hidden_dim, num_layers=num_layers, batch_first=True,
                           bidirectional=bidirectional)
        width = hidden_dim * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(width, out_dim) if out_dim else nn.Identity()
        self.out_dim = out_dim or width
        self.pooling = pooling
        self.max_padding = max_padding
        self.max_length = max_length

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Padded id matrix ``(B, L)`` (0 = padding)."""
        ids = [self.vocab.encode(t)[:self.max_length] for t in texts]
        out = torch.zeros(len(ids), max(len(i) for i in ids), dtype=torch.long)
        for row, seq in enumerate(ids):
            out[row, :len(seq)] = torch.tensor(seq)
        return out

    def forward(self, texts: List[str]) -> TextFeatures:
        if len(texts) == 0:
            raise ValueError('LSTMTextEncoder got an empty batch of texts')
        device = self.embedding.weight.device
        ids = self.tokenize(texts)
        lengths = (ids != 0).sum(1)  # stays on CPU: pack_padded_sequence requires CPU lengths
        ids = ids.to(device)
        mask = ids != 0
        embedded = self.embedding(ids)
        # The recurrence runs in float32 even under autocast: oneDNN has no bf16 LSTM on CPUs without
        # native bf16 (it fails to build the primitive), and the recurrence is a small part of the cost.
        with torch.autocast(device_type=device.type, enabled=False):
            packed = pack_padded_sequence(embedded.float(), lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
        raw, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        words = self.proj(self.dropout(raw))
        rows, last = torch.arange(len(texts), device=device), lengths.to(device) - 1
        if self.pooling == 'last' and self.rnn.bidirectional:
            # each direction's final state: forward at the last word, backward at the first word
            # (the backward output at the last word has read that word only)
            half = self.rnn.hidden_size
            final = torch.cat([raw[rows, last, :half], raw[:, 0, half:]], dim=-1)
            sentence = self.proj(self.dropout(final))
        elif self.pooling == 'last':
            sentence = words[rows, last]
        else:
            sentence = masked_max(words, mask, self.max_padding)
        return TextFeatures(tokens=words, mask=mask, pooled=sentence)

    def encode_text(self, texts: List[str], normalize: bool = False) -> torch.Tensor:
        pooled = self(texts).pooled
        return nn.functional.normalize(pooled, dim=-1) if normalize else pooled

    # The vocabulary is part of the model: store it in checkpoints and refuse a
    # checkpoint trained with a different one (ids would silently mean other words).
    def get_extra_state(self) -> dict:
        return {'vocab': list(self.vocab.itos)}

    def set_extra_state(self, state: dict) -> None:
        saved = state.get('vocab') if isinstance(state, dict) else None
        if saved is not None and saved != self.vocab.itos:
            raise ValueError(
                f'checkpoint vocabulary ({len(saved)} tokens) differs from the one built from the config '
                f'({len(self.vocab)} tokens): text_encoder.vocab_dataset/vocab_file must match training')

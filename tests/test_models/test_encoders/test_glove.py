import re

import pytest
import torch

from sdfn_plugin.models.encoders.text.glove import load_glove
from sdfn_plugin.models.encoders.text.vocabulary import Vocabulary


def _write(tmp_path, lines, name='glove.txt'):
    path = tmp_path / name
    path.write_text(''.join(line + '\n' for line in lines), encoding='utf-8')
    return str(path)


def _row(*values):
    return torch.tensor([float(v) for v in values])


def test_found_rows_pad_row_and_coverage(tmp_path):
    vocab = Vocabulary(['red', 'blue', 'cube', 'sphere'])  # ids 2..5
    path = _write(tmp_path, [
        'the 9 9 9',  # not in the vocabulary: ignored
        'red 0.1 -0.25 3e-2',
        'sphere 1.5 2.5 -3.5',
        'blue 0 0.125 7',
    ])
    torch.manual_seed(0)
    weight, coverage = load_glove(path, vocab, 3)
    assert weight.shape == (6, 3) and weight.dtype == torch.float32
    assert torch.equal(weight[vocab.stoi['red']], _row('0.1', '-0.25', '3e-2'))
    assert torch.equal(weight[vocab.stoi['sphere']], _row(1.5, 2.5, -3.5))
    assert torch.equal(weight[vocab.stoi['blue']], _row(0, 0.125, 7))
    assert torch.equal(weight[0], torch.zeros(3))  # <pad>
    assert coverage == 3 / 4
    # 'cube' keeps its random init (not zero, not a file vector)
    assert not torch.equal(weight[vocab.stoi['cube']], torch.zeros(3))


def test_amc_fallback_and_exact_priority(tmp_path):
    vocab = Vocabulary(['t-shirt', 'mr.', "men's", 'navy/blue'])
    path = _write(tmp_path, ['tshirt 1 2 3', 'mr 4 5 6', 'mens 7 8 9', 'navy 1 1 0'])
    weight, coverage = load_glove(path, vocab, 3)
    assert torch.equal(weight[vocab.stoi['t-shirt']], _row(1, 2, 3))
    assert torch.equal(weight[vocab.stoi['mr.']], _row(4, 5, 6))
    assert torch.equal(weight[vocab.stoi["men's"]], _row(7, 8, 9))
    assert torch.equal(weight[vocab.stoi['navy/blue']], _row(1, 1, 0))
    assert coverage == 1.0


@pytest.mark.parametrize('order', ['fallback_first', 'exact_first'])
def test_exact_entry_wins_over_fallback(tmp_path, order):
    lines = ['tshirt 1 1 1', 't-shirt 2 2 2']
    if order == 'exact_first':
        lines.reverse()
    vocab = Vocabulary(['t-shirt'])
    weight, coverage = load_glove(_write(tmp_path, lines), vocab, 3)
    assert torch.equal(weight[2], _row(2, 2, 2))
    assert coverage == 1.0


def test_fallback_never_steals_another_vocabulary_word(tmp_path):
    # both 't-shirt' and 'tshirt' are vocabulary words; only 'tshirt' is in the file
    vocab = Vocabulary(['t-shirt', 'tshirt'])
    torch.manual_seed(0)
    weight, coverage = load_glove(_write(tmp_path, ['tshirt 1 2 3']), vocab, 3)
    assert torch.equal(weight[vocab.stoi['tshirt']], _row(1, 2, 3))
    assert not torch.equal(weight[vocab.stoi['t-shirt']], _row(1, 2, 3))
    assert coverage == 1 / 2


def test_multi_word_tokens_of_glove_840b_are_skipped(tmp_path):
    # glove.840B.300d contains tokens with spaces, e.g. 'at name@domain.com <300 floats>'
    # and '. . . <300 floats>'; they must not be read as a wrong-length 'at' vector.
    vocab = Vocabulary(['at', 'to'])
    path = _write(tmp_path, [
        'at 0.1 0.2 0.3',
        'to name@domain.com 9 9 9',  # before the real 'to' entry
        'to 1 2 3',
        'at name@domain.com 9 9 9',  # after the real 'at' entry
        '. . . 9 9 9',
    ])
    weight, coverage = load_glove(path, vocab, 3)
    assert torch.equal(weight[vocab.stoi['at']], _row(0.1, 0.2, 0.3))
    assert torch.equal(weight[vocab.stoi['to']], _row(1, 2, 3))
    assert coverage == 1.0


@pytest.mark.parametrize('bad_line', ['red 1 2', 'red 1 2 3 4'])
def test_wrong_vector_length_names_file_and_line(tmp_path, bad_line):
    vocab = Vocabulary(['red', 'blue'])
    path = _write(tmp_path, ['blue 1 2 3', 'other 1', bad_line])
    with pytest.raises(ValueError, match=re.escape(f'{path}:3:')) as info:
        load_glove(path, vocab, 3)
    assert 'expected 3 values' in str(info.value)


def test_missing_file(tmp_path):
    path = str(tmp_path / 'nope.txt')
    with pytest.raises(FileNotFoundError, match=re.escape(repr(path))):
        load_glove(path, Vocabulary(['red']), 3)


def test_empty_vocabulary_coverage_is_zero(tmp_path):
    weight, coverage = load_glove(_write(tmp_path, ['red 1 2 3']), Vocabulary([]), 3)
    assert weight.shape == (2, 3) and coverage == 0.0

import pytest

from sdfn_plugin.models.encoders.text.vocabulary import PAD, UNK, Vocabulary, tokenize


# --------------------------------------------------------------------------- tokenize
def test_tokenize_ascii_lowercase_no_punctuation():
    # 'é' is dropped (ASCII only), '-' is deleted (not a separator), ',' and '!' vanish.
    assert tokenize('Is Red, with shorter-sleeves! é') == ['is', 'red', 'with', 'shortersleeves']


def test_tokenize_whitespace_and_edge_cases():
    assert tokenize('  Make\tit\nBLUE  ') == ['make', 'it', 'blue']
    assert tokenize("don't / x.y") == ['dont', 'xy']  # '/' alone becomes nothing
    assert tokenize('!!! ,,,') == []
    assert tokenize('éà') == []
    assert tokenize('') == []


# --------------------------------------------------------------------------- from_texts
def test_from_texts_frequency_then_alphabetical_specials_first():
    texts = ['b a', 'A c!', 'c a', 'd']  # a:3, c:2, b:1, d:1
    vocab = Vocabulary.from_texts(texts)
    assert vocab.itos == [PAD, UNK, 'a', 'c', 'b', 'd']
    assert vocab.stoi == {PAD: 0, UNK: 1, 'a': 2, 'c': 3, 'b': 4, 'd': 5}
    assert len(vocab) == 6
    # the order of the texts does not matter
    assert Vocabulary.from_texts(list(reversed(texts))) == vocab


def test_from_texts_extra_specials_and_min_count():
    vocab = Vocabulary.from_texts(['b a', 'a c', 'c a', 'd'], min_count=2, specials=('<and>', PAD))
    assert vocab.itos == [PAD, UNK, '<and>', 'a', 'c']


def test_encode_known_unknown_and_punctuation_only():
    vocab = Vocabulary.from_texts(['red cube', 'red sphere'])
    assert vocab.itos == [PAD, UNK, 'red', 'cube', 'sphere']
    assert vocab.encode('Red, CUBE!') == [2, 3]
    assert vocab.encode('red pyramid') == [2, 1]
    assert vocab.encode('?!...') == [1]
    assert vocab.encode('éé') == [1]


@pytest.mark.parametrize('text', ['', '   ', '\n\t'])
def test_encode_empty_text_raises(text):
    vocab = Vocabulary.from_texts(['red'])
    with pytest.raises(ValueError, match='empty modification text'):
        vocab.encode(text)


# --------------------------------------------------------------------------- save / load
def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary.from_texts(['b a', 'a c', 'c a', 'd'], specials=('<and>',))
    path = tmp_path / 'vocab.txt'
    vocab.save(str(path))
    assert path.read_text(encoding='utf-8').splitlines() == vocab.itos
    loaded = Vocabulary.load(str(path))
    assert loaded == vocab
    assert loaded.itos == vocab.itos and loaded.stoi == vocab.stoi
    assert loaded.encode('a d zzz') == vocab.encode('a d zzz') == [3, 6, 1]


@pytest.mark.parametrize('content', ['red\nblue\n', f'{UNK}\n{PAD}\nred\n', ''])
def test_load_without_specials_raises(tmp_path, content):
    path = tmp_path / 'vocab.txt'
    path.write_text(content, encoding='utf-8')
    with pytest.raises(ValueError, match='must start with'):
        Vocabulary.load(str(path))


def test_equality():
    assert Vocabulary(['a', 'b']) == Vocabulary(['a', 'b', 'a'])
    assert Vocabulary(['a', 'b']) != Vocabulary(['b', 'a'])
    assert Vocabulary(['a']) != ['<pad>', '<unk>', 'a']


def test_reserved_specials_survive_tokenisation():
    from sdfn_plugin.models.encoders.text.vocabulary import Vocabulary, tokenize
    assert tokenize('Is red <and> has, sleeves', specials=('<and>', )) == ['is', 'red', '<and>', 'has', 'sleeves']
    assert tokenize('Is red <and> has', specials=()) == ['is', 'red', 'and', 'has']
    vocab = Vocabulary.from_texts(['red <and> blue', 'and red'], specials=('<and>', ))
    assert vocab.itos[:3] == ['<pad>', '<unk>', '<and>']
    assert vocab.encode('red <and> and') == [vocab.stoi['red'], 2, vocab.stoi['and']]

"""Word tokenisation and vocabularies for recurrent text encoders.

Tokenisation follows TIRG/AMC (google/tirg ``text_model.py``, KevinLight831/AMC):
keep ASCII only, lowercase, delete ``string.punctuation``, split on whitespace.
"""
import string
from collections import Counter
from typing import Dict, Iterable, List, Sequence

PAD, UNK = '<pad>', '<unk>'
_DELETE = str.maketrans('', '', string.punctuation)


def tokenize(text: str, specials: Sequence[str] = ()) -> List[str]:
    """ASCII, lowercase, punctuation removed, whitespace split.

    Whitespace-separated pieces equal to a reserved token in ``specials`` (e.g.
    ``'<and>'`` joining FashionIQ's two captions) are kept verbatim; AMC's code
    lost them to punctuation removal (``docs/sdfn.md``, Encoders).
    """
    out: List[str] = []
    for piece in text.split():
        if piece in specials:
            out.append(piece)
            continue
        ascii_piece = piece.encode('ascii', errors='ignore').decode('ascii')
        out.extend(ascii_piece.lower().translate(_DELETE).split())
    return out


class Vocabulary:
    """Word <-> id mapping with ``<pad>`` = 0 and ``<unk>`` = 1.

    TIRG uses ``<UNK>`` = 0 and pads with 0 too; a separate padding id changes
    nothing because padded positions are masked, and keeps ids unambiguous.

    Args:
        words: the vocabulary words (specials are prepended automatically).
        specials: extra reserved tokens after ``<pad>``/``<unk>`` (e.g. ``'<and>'``).
    """

    def __init__(self, words: Iterable[str], specials: Sequence[str] = ()) -> None:
        self.specials = tuple(s for s in specials if s not in (PAD, UNK))
        self.itos: List[str] = [PAD, UNK] + list(self.specials)
        seen = set(self.itos)
        for w in words:
            if w not in seen:
                self.itos.append(w)
                seen.add(w)
        self.stoi: Dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def from_texts(cls, texts: Iterable[str], min_count: int = 1,
                   specials: Sequence[str] = ()) -> 'Vocabulary':
        """Vocabulary of all words occurring ``>= min_count`` times, most frequent first
        (ties alphabetical, so the result does not depend on text order)."""
        counts = Counter(w for t in texts for w in tokenize(t, specials) if w not in specials)
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(words, specials)

    @classmethod
    def load(cls, path: str) -> 'Vocabulary':
        """Read a vocabulary file: one word per line, ids = line numbers."""
        with open(path, encoding='utf-8') as f:
            itos = [line.rstrip('\n') for line in f]
        return cls.from_itos(itos, f'vocabulary file {path!r}')

    @classmethod
    def from_itos(cls, itos: Sequence[str], source: str = 'vocabulary') -> 'Vocabulary':
        """The vocabulary whose id ``i`` is ``itos[i]`` (a saved word list: a file or a checkpoint)."""
        itos = list(itos)
        if itos[:2] != [PAD, UNK] or not all(isinstance(w, str) for w in itos):
            raise ValueError(f'{source} must start with {PAD!r} and {UNK!r} (a list of words, id = position)')
        vocab = cls([])
        vocab.itos = itos
        vocab.specials = tuple(w for w in itos[2:] if w.startswith('<') and w.endswith('>'))
        vocab.stoi = {w: i for i, w in enumerate(itos)}
        return vocab

    def save(self, path: str) -> None:
        with open(path, 'w', encoding='utf-8') as f:
            f.write('\n'.join(self.itos) + '\n')

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text``; a text with no word left maps to ``[<unk>]``.

        Raises:
            ValueError: for an empty or whitespace-only text (always a data error).
        """
        if not text or not text.strip():
            raise ValueError(f'empty modification text {text!r}: every query needs a text '
                             '(check the dataset annotation that produced it)')
        ids = [self.stoi.get(w, 1) for w in tokenize(text, self.specials)]
        return ids or [1]

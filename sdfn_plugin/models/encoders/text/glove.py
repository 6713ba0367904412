"""Reading GloVe vectors from a local text file (no download)."""
import os
from typing import Dict, Tuple

import torch
from mmengine.logging import MMLogger

from .vocabulary import Vocabulary


def _fallback_forms(word: str):
    # AMC's retries for GloVe misses: drop '-', '.', "'" and keep the part before '/'.
    yield word.replace('-', '')
    yield word.replace('.', '')
    yield word.replace("'", '')
    yield word.split('/')[0]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_glove(path: str, vocab: Vocabulary, dim: int) -> Tuple[torch.Tensor, float]:
    """Embedding matrix ``(len(vocab), dim)`` initialised from a GloVe text file.

    Words missing from the file keep an N(0, 1) init (AMC); ``<pad>`` is zero.
    Returns the matrix and the fraction of non-special vocabulary words found,
    which is also logged.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'glove_file: no such file {path!r} (download e.g. glove.840B.300d.txt yourself)')
    wanted: Dict[str, int] = {w: i for i, w in enumerate(vocab.itos) if i >= 2}
    for idx, word in enumerate(vocab.itos[2:], start=2):
        for alt in _fallback_forms(word):
            wanted.setdefault(alt, idx)  # exact vocabulary words keep priority
    weight = torch.randn(len(vocab), dim)
    weight[0] = 0
    found = set()
    with open(path, encoding='utf-8', errors='ignore') as f:
        for lineno, line in enumerate(f, 1):
            word, _, rest = line.rstrip().partition(' ')
            idx = wanted.get(word)
            if idx is None or (idx in found and vocab.itos[idx] != word):
                continue
            values = rest.split(' ')
            if len(values) > dim and not all(_is_number(v) for v in values[:len(values) - dim]):
                continue  # a multi-word token of glove.840B ('at name@domain.com', '. . .'), never a vocab word
            if len(values) != dim:
                raise ValueError(f'{path}:{lineno}: expected {dim} values after the word, got {len(values)}')
            weight[idx] = torch.tensor([float(v) for v in values])
            found.add(idx)
    coverage = len(found) / max(len(vocab) - 2, 1)
    MMLogger.get_current_instance().info(
        f'GloVe {os.path.basename(path)}: {len(found)}/{len(vocab) - 2} vocabulary words found '
        f'({100 * coverage:.1f}%)')
    return weight, coverage

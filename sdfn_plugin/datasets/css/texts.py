"""Modification texts: templates, synonyms, referring expressions and a parser.

Texts are lowercase ASCII words separated by single spaces, no punctuation.
Positions are single hyphenated tokens (``top-left`` ... ``bottom-right``).

Referring expressions ("the large red circle", "the square at the top-center",
"the object in the bottom-right") always identify exactly one object of the
reference scene: a random subset of the object's attributes is named, and the
position is appended whenever that subset alone would match several objects
(and also at random with probability :data:`P_EXTRA_POSITION`).

:func:`parse_modification` inverts :func:`modification_text` given the
reference scene; it is used by the tests to check the text/target semantics.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .scene import (ATTRIBUTES, COLORS, POSITIONS, SHAPES, SIZES, CSSObject,
                    Modification, Scene)

#: Probability of naming each attribute in a referring expression.
P_ATTRIBUTE = 0.6
#: Probability of naming the position although the attributes are unique.
P_EXTRA_POSITION = 0.2

ADD_TEMPLATES: Tuple[str, ...] = (
    'add a {obj} to the {pos}',
    'put a {obj} in the {pos}',
    'insert a {obj} at the {pos}',
    'place a {obj} in the {pos}',
    'draw a {obj} at the {pos}',
)
REMOVE_TEMPLATES: Tuple[str, ...] = (
    'remove the {desc}',
    'take away the {desc}',
    'delete the {desc}',
    'get rid of the {desc}',
    'erase the {desc}',
)
CHANGE_TEMPLATES: Dict[str, Tuple[str, ...]] = {
    'color': (
        'make the {desc} {value}',
        'change the {desc} to {value}',
        'turn the {desc} {value}',
        'paint the {desc} {value}',
        'color the {desc} {value}',
    ),
    'shape': (
        'change the {desc} into a {value}',
        'turn the {desc} into a {value}',
        'make the {desc} a {value}',
        'transform the {desc} into a {value}',
    ),
    'size': (
        'make the {desc} {value}',
        'change the {desc} to {value}',
        'resize the {desc} to {value}',
        'make the {desc} {comparative}',
        '{verb} the {desc}',
    ),
}
SIZE_COMPARATIVE = {'large': 'bigger', 'small': 'smaller'}
SIZE_VERB = {'large': 'enlarge', 'small': 'shrink'}

ADD_VERBS = frozenset({'add', 'put', 'insert', 'place', 'draw'})
REMOVE_VERBS = frozenset({'remove', 'take', 'delete', 'get', 'erase'})
CHANGE_VERBS = frozenset(
    {'make', 'change', 'turn', 'paint', 'color', 'transform', 'resize'}
    | set(SIZE_VERB.values()))
_FILLERS = frozenset({'a', 'to', 'into', 'in', 'at', 'the', 'of', 'rid',
                      'away', 'object'})


def _choice(rng: np.random.Generator, seq: Sequence):
    return seq[int(rng.integers(len(seq)))]


def _matches(obj: CSSObject, attrs: Dict[str, str]) -> bool:
    return all(getattr(obj, a) == v for a, v in attrs.items())


def describe_object(scene: Scene, cell: int, rng: np.random.Generator) -> str:
    """Referring expression (without the leading "the") for ``cell``."""
    obj = scene.cells[cell]
    attrs = {a: getattr(obj, a) for a in ATTRIBUTES if rng.random() < P_ATTRIBUTE}
    extra_position = rng.random() < P_EXTRA_POSITION
    prep = _choice(rng, ('in', 'at'))
    num_matches = sum(_matches(o, attrs) for _, o in scene.objects())
    words = [attrs[a] for a in ('size', 'color') if a in attrs]
    words.append(attrs.get('shape', 'object'))
    if num_matches > 1 or extra_position:
        words += [prep, 'the', POSITIONS[cell]]
    return ' '.join(words)


def modification_text(scene: Scene, mod: Modification,
                      rng: np.random.Generator) -> str:
    """Random natural-language text for ``mod`` applied to ``scene``."""
    if mod.kind == 'add':
        obj = mod.new_object
        return _choice(rng, ADD_TEMPLATES).format(
            obj=f'{obj.size} {obj.color} {obj.shape}', pos=POSITIONS[mod.cell])
    desc = describe_object(scene, mod.cell, rng)
    if mod.kind == 'remove':
        return _choice(rng, REMOVE_TEMPLATES).format(desc=desc)
    template = _choice(rng, CHANGE_TEMPLATES[mod.attribute])
    return template.format(
        desc=desc, value=mod.value,
        comparative=SIZE_COMPARATIVE.get(mod.value),
        verb=SIZE_VERB.get(mod.value))


# ----------------------------------------------------------------- parsing
_WORD_ATTR = {**{c: 'color' for c in COLORS}, **{s: 'shape' for s in SHAPES},
              **{z: 'size' for z in SIZES}}


def _parse_words(words: Sequence[str], text: str
                 ) -> Tuple[Dict[str, str], Optional[int]]:
    attrs: Dict[str, str] = {}
    position = None
    for word in words:
        if word in _WORD_ATTR:
            if _WORD_ATTR[word] in attrs:
                raise ValueError(f'attribute named twice in {text!r}')
            attrs[_WORD_ATTR[word]] = word
        elif word in POSITIONS:
            position = POSITIONS.index(word)
        elif word not in _FILLERS:
            raise ValueError(f'unexpected word {word!r} in {text!r}')
    return attrs, position


def resolve_object(scene: Scene, attrs: Dict[str, str],
                   position: Optional[int]) -> int:
    """Cell of the unique object matching ``attrs`` (and ``position``)."""
    cells: List[int] = [
        c for c, o in scene.objects()
        if _matches(o, attrs) and (position is None or c == position)]
    if len(cells) != 1:
        raise ValueError(f'description {attrs} / position {position} matches '
                         f'{len(cells)} objects')
    return cells[0]


def parse_modification(text: str, scene: Scene) -> Modification:
    """Parse a generated text against its reference scene.

    Raises:
        ValueError: if the text is malformed or does not identify exactly one
            object of ``scene``.
    """
    words = text.split()
    if not words or ' '.join(words) != text:
        raise ValueError(f'malformed text {text!r}')
    verb = words[0]
    if verb in ADD_VERBS:
        attrs, position = _parse_words(words[1:], text)
        if len(attrs) != 3 or position is None:
            raise ValueError(f'add text must name all attributes and a '
                             f'position: {text!r}')
        return Modification('add', position, new_object=CSSObject(**attrs))
    if 'the' not in words:
        raise ValueError(f'no referring expression in {text!r}')
    start = words.index('the') + 1
    if verb in REMOVE_VERBS:
        attrs, position = _parse_words(words[start:], text)
        return Modification('remove', resolve_object(scene, attrs, position))
    if verb not in CHANGE_VERBS:
        raise ValueError(f'unknown verb {verb!r} in {text!r}')
    inverse_verb = {v: k for k, v in SIZE_VERB.items()}
    inverse_comp = {v: k for k, v in SIZE_COMPARATIVE.items()}
    if verb in inverse_verb:
        attribute, value, desc = 'size', inverse_verb[verb], words[start:]
    else:
        last = words[-1]
        value = inverse_comp.get(last, last)
        if value not in _WORD_ATTR:
            raise ValueError(f'no new value at the end of {text!r}')
        attribute, desc = _WORD_ATTR[value], words[start:-1]
    attrs, position = _parse_words(desc, text)
    return Modification('change', resolve_object(scene, attrs, position),
                        attribute=attribute, value=value)

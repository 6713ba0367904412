"""Structured scene model of the CSS-style synthetic benchmark.

A scene is a 3x3 grid of cells; each cell is empty or holds one
:class:`CSSObject` (shape x colour x size).  Cells are indexed row-major,
``0 = top-left`` ... ``8 = bottom-right`` (see :data:`POSITIONS`).

The *canonical key* of a scene lists its occupied cells in cell-index order as
``"<position>:<size>-<color>-<shape>"`` joined by ``"|"``, e.g.
``"top-left:large-red-circle|center:small-blue-square"``.  Two scenes (and thus
two rendered images) depict the same content iff their keys are equal.  The
key of the empty scene is ``""`` (the generator never produces one).

A :class:`Modification` is the structured form of a query text; applying it
to the reference scene yields the target scene (:func:`apply_modification`).
"""
from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple

#: Colour name -> RGB.  All values are pairwise distinct and none is close to
#: the white background.
COLOR_RGB: Dict[str, Tuple[int, int, int]] = {
    'red': (220, 30, 30),
    'green': (30, 160, 40),
    'blue': (30, 60, 220),
    'yellow': (235, 200, 20),
    'purple': (140, 40, 180),
    'cyan': (20, 190, 200),
    'gray': (120, 120, 120),
    'brown': (130, 80, 30),
}
COLORS: Tuple[str, ...] = tuple(COLOR_RGB)
SHAPES: Tuple[str, ...] = ('square', 'circle', 'triangle')
SIZES: Tuple[str, ...] = ('small', 'large')
POSITIONS: Tuple[str, ...] = (
    'top-left', 'top-center', 'top-right',
    'center-left', 'center', 'center-right',
    'bottom-left', 'bottom-center', 'bottom-right',
)
NUM_CELLS = len(POSITIONS)
ATTRIBUTES: Tuple[str, ...] = ('size', 'color', 'shape')
ATTRIBUTE_VALUES: Dict[str, Tuple[str, ...]] = {
    'size': SIZES, 'color': COLORS, 'shape': SHAPES}
MOD_KINDS: Tuple[str, ...] = ('add', 'remove', 'change')


@dataclass(frozen=True)
class CSSObject:
    """One object: ``shape`` in :data:`SHAPES`, ``color`` in :data:`COLORS`,
    ``size`` in :data:`SIZES`."""
    shape: str
    color: str
    size: str

    def __post_init__(self):
        for attr in ATTRIBUTES:
            if getattr(self, attr) not in ATTRIBUTE_VALUES[attr]:
                raise ValueError(
                    f'invalid {attr} {getattr(self, attr)!r}; expected one of '
                    f'{ATTRIBUTE_VALUES[attr]}')

    @property
    def combo(self) -> Tuple[str, str]:
        """The (colour, shape) pair used for held-out combinations."""
        return (self.color, self.shape)

    def replace(self, attr: str, value: str) -> 'CSSObject':
        fields = {a: getattr(self, a) for a in ATTRIBUTES}
        fields[attr] = value
        return CSSObject(**fields)

    def key(self) -> str:
        return f'{self.size}-{self.color}-{self.shape}'

    @classmethod
    def from_key(cls, key: str) -> 'CSSObject':
        size, color, shape = key.split('-')
        return cls(shape=shape, color=color, size=size)


@dataclass(frozen=True)
class Scene:
    """Immutable 3x3 scene: ``cells[i]`` is the object in cell ``i`` or None."""
    cells: Tuple[Optional[CSSObject], ...]

    def __post_init__(self):
        if len(self.cells) != NUM_CELLS:
            raise ValueError(f'a scene has {NUM_CELLS} cells, got '
                             f'{len(self.cells)}')

    @classmethod
    def empty(cls) -> 'Scene':
        return cls((None, ) * NUM_CELLS)

    @property
    def num_objects(self) -> int:
        return sum(obj is not None for obj in self.cells)

    def objects(self) -> Iterator[Tuple[int, CSSObject]]:
        """Yield ``(cell, object)`` for the occupied cells, in cell order."""
        for cell, obj in enumerate(self.cells):
            if obj is not None:
                yield cell, obj

    def occupied_cells(self) -> Tuple[int, ...]:
        return tuple(c for c, obj in enumerate(self.cells) if obj is not None)

    def empty_cells(self) -> Tuple[int, ...]:
        return tuple(c for c, obj in enumerate(self.cells) if obj is None)

    def with_cell(self, cell: int, obj: Optional[CSSObject]) -> 'Scene':
        cells = list(self.cells)
        cells[cell] = obj
        return Scene(tuple(cells))

    def key(self) -> str:
        """Canonical string key (see module docstring)."""
        return '|'.join(f'{POSITIONS[c]}:{obj.key()}'
                        for c, obj in self.objects())

    @classmethod
    def from_key(cls, key: str) -> 'Scene':
        cells = [None] * NUM_CELLS
        if key:
            for item in key.split('|'):
                pos, obj_key = item.split(':')
                cell = POSITIONS.index(pos)
                if cells[cell] is not None:
                    raise ValueError(f'cell {pos!r} occupied twice in {key!r}')
                cells[cell] = CSSObject.from_key(obj_key)
        return cls(tuple(cells))


@dataclass(frozen=True)
class Modification:
    """Structured modification.

    * ``kind='add'``: put ``new_object`` into the empty cell ``cell``.
    * ``kind='remove'``: empty the occupied cell ``cell``.
    * ``kind='change'``: set attribute ``attribute`` of the object in ``cell``
      to ``value`` (which differs from the current value).
    """
    kind: str
    cell: int
    new_object: Optional[CSSObject] = None
    attribute: Optional[str] = None
    value: Optional[str] = None


def apply_modification(scene: Scene, mod: Modification) -> Scene:
    """Return the scene obtained by applying ``mod`` to ``scene``.

    Raises:
        ValueError: if the modification is not applicable to the scene.
    """
    current = scene.cells[mod.cell]
    if mod.kind == 'add':
        if current is not None or mod.new_object is None:
            raise ValueError(f'cannot add to occupied cell {POSITIONS[mod.cell]}')
        return scene.with_cell(mod.cell, mod.new_object)
    if mod.kind == 'remove':
        if current is None:
            raise ValueError(f'cannot remove from empty cell {POSITIONS[mod.cell]}')
        return scene.with_cell(mod.cell, None)
    if mod.kind == 'change':
        if current is None:
            raise ValueError(f'cannot change empty cell {POSITIONS[mod.cell]}')
        if getattr(current, mod.attribute) == mod.value:
            raise ValueError(f'change of {mod.attribute} to {mod.value!r} is a no-op')
        return scene.with_cell(mod.cell, current.replace(mod.attribute, mod.value))
    raise ValueError(f'unknown modification kind {mod.kind!r}')


def touched_combos(scene: Scene, mod: Modification) -> Tuple[Tuple[str, str], ...]:
    """(colour, shape) pairs of the object touched by ``mod``: the added object,
    the removed object, or the object before and after a change."""
    if mod.kind == 'add':
        return (mod.new_object.combo, )
    before = scene.cells[mod.cell]
    if mod.kind == 'remove':
        return (before.combo, )
    return (before.combo, before.replace(mod.attribute, mod.value).combo)

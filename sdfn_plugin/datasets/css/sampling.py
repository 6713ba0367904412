"""Random scenes, queries and held-out combinations.

Held-out combinations
    :data:`NUM_HELDOUT` = 6 of the 24 (colour, shape) pairs, drawn from the
    seed: 6 distinct colours, each shape held out with exactly 2 of them
    (:func:`heldout_combos`).

Which object a query *touches*
    the added object (add), the removed object (remove), or the changed
    object, both before and after the change (change).

Train queries
    never touch a held-out combination: it is neither added, removed, changed
    nor changed into (so it never occurs in a train text either).  Held-out
    combinations may still occur, untouched, in train reference scenes and
    therefore in their target scenes.
Test references
    each carries ``test_mods_per_ref`` queries (one per kind, see
    :func:`assign_groups`) that share its rendered image, so the image
    nearest to a reference is not a shortcut to its target.
Test queries
    half of them (balanced per kind, chosen per reference) are *held-out queries*:
    the added object, the removed object, or the object after a change has a
    held-out combination (for a colour/shape change the object before the
    change may or may not).  The other half follow the train rule.  The
    ``heldout`` flag of a query is true iff it touches a held-out combination,
    which is exactly the held-out half.
Reference scenes
    uniformly random in both splits: number of objects uniform in the range
    allowed for the kind (add: ``[min, max-1]``, remove: ``[max(min+1, 2),
    max]``, change: ``[min, max]``; for a test reference, the intersection of
    the ranges of its kinds), so reference and target stay within
    ``[min_objects, max_objects]`` and are never empty; distinct random cells,
    independent uniform attributes; scenes without a valid modification (for
    every kind of a test reference) are rejected and redrawn (rejection
    sampling keeps the object count).
Kinds
    add / remove / change are assigned in equal proportions (up to rounding)
    and shuffled; a change picks colour, shape or size uniformly.
"""
from typing import FrozenSet, List, Sequence, Tuple

import numpy as np

from .config import CSSGenerationConfig
from .scene import (ATTRIBUTE_VALUES, ATTRIBUTES, COLORS, MOD_KINDS, NUM_CELLS,
                    SHAPES, SIZES, CSSObject, Modification, Scene,
                    touched_combos)

NUM_HELDOUT = 6
_MAX_ATTEMPTS = 10000

Combo = Tuple[str, str]


def heldout_combos(seed: int) -> List[Combo]:
    """The held-out (colour, shape) pairs of ``seed``, in colour order."""
    rng = np.random.default_rng([seed, 7])
    colors = rng.permutation(len(COLORS))[:NUM_HELDOUT]
    shapes = rng.permutation(np.arange(NUM_HELDOUT) % len(SHAPES))
    combos = sorted(zip(colors.tolist(), shapes.tolist()))
    return [(COLORS[c], SHAPES[s]) for c, s in combos]


def split_rng(seed: int, split: str, stream: int) -> np.random.Generator:
    """Independent generator per (seed, split, stream)."""
    return np.random.default_rng([seed, ('train', 'test').index(split), stream])


def object_count_range(kind: str, cfg: CSSGenerationConfig) -> Tuple[int, int]:
    """Inclusive range of reference-scene object counts for ``kind``."""
    if kind == 'add':
        return cfg.min_objects, cfg.max_objects - 1
    if kind == 'remove':
        return max(cfg.min_objects + 1, 2), cfg.max_objects
    return cfg.min_objects, cfg.max_objects


def random_scene(rng: np.random.Generator, num_objects: int) -> Scene:
    cells = [None] * NUM_CELLS
    chosen = rng.choice(NUM_CELLS, size=num_objects, replace=False)
    attrs = rng.integers(0, (len(SHAPES), len(COLORS), len(SIZES)),
                         size=(num_objects, 3))
    for cell, (s, c, z) in zip(chosen.tolist(), attrs.tolist()):
        cells[cell] = CSSObject(shape=SHAPES[s], color=COLORS[c], size=SIZES[z])
    return Scene(tuple(cells))


def _candidates(scene: Scene, kind: str, attribute: str, heldout: bool,
                heldout_set: FrozenSet[Combo]) -> List[Modification]:
    """Valid remove/change modifications of ``scene`` under the split rule."""
    mods = []
    for cell, obj in scene.objects():
        if kind == 'remove':
            if (obj.combo in heldout_set) == heldout:
                mods.append(Modification('remove', cell))
            continue
        for value in ATTRIBUTE_VALUES[attribute]:
            if value == getattr(obj, attribute):
                continue
            after = obj.replace(attribute, value).combo
            if heldout:
                ok = after in heldout_set
            else:
                ok = after not in heldout_set and obj.combo not in heldout_set
            if ok:
                mods.append(Modification('change', cell, attribute=attribute,
                                         value=value))
    return mods


def _add_modification(rng: np.random.Generator, scene: Scene, heldout: bool,
                      heldout_set: FrozenSet[Combo]) -> Modification:
    """A random object added to a random empty cell of ``scene``."""
    empty = scene.empty_cells()
    cell = empty[int(rng.integers(len(empty)))]
    allowed = [(c, s) for c in COLORS for s in SHAPES
               if ((c, s) in heldout_set) == heldout]
    color, shape = allowed[int(rng.integers(len(allowed)))]
    size = SIZES[int(rng.integers(len(SIZES)))]
    return Modification('add', cell,
                        new_object=CSSObject(shape=shape, color=color, size=size))


def sample_group(rng: np.random.Generator, kinds: Sequence[str], heldout: bool,
                 heldout_list: Sequence[Combo], cfg: CSSGenerationConfig
                 ) -> Tuple[Scene, List[Modification]]:
    """One reference scene and one modification per entry of ``kinds``
    (a train query is the case ``kinds = (kind, )``).

    The object count is uniform in the intersection of the kinds' ranges
    (:func:`object_count_range`); scenes where some kind has no valid
    modification under the split rule are rejected.  Distinct kinds give
    distinct targets (add/remove change the object count, change keeps it).
    """
    if len(set(kinds)) != len(kinds):
        raise ValueError(f'kinds of one reference must be distinct, got {kinds}')
    heldout_set = frozenset(heldout_list)
    ranges = [object_count_range(k, cfg) for k in kinds]
    lo, hi = max(r[0] for r in ranges), min(r[1] for r in ranges)
    if lo > hi:
        raise ValueError(f'no object count allows all of {kinds} with '
                         f'min_objects={cfg.min_objects}, '
                         f'max_objects={cfg.max_objects}')
    num_objects = int(rng.integers(lo, hi + 1))
    attributes = {k: ATTRIBUTES[int(rng.integers(len(ATTRIBUTES)))]
                  for k in kinds if k == 'change'}
    for _ in range(_MAX_ATTEMPTS):
        scene = random_scene(rng, num_objects)
        mods = []
        for kind in kinds:
            if kind == 'add':
                mods.append(_add_modification(rng, scene, heldout, heldout_set))
                continue
            cands = _candidates(scene, kind, attributes.get(kind), heldout,
                                heldout_set)
            if not cands:
                break
            mods.append(cands[int(rng.integers(len(cands)))])
        else:
            return scene, mods
    raise RuntimeError(f'could not sample a reference for {kinds} '
                       f'(heldout={heldout})')


def assign_groups(rng: np.random.Generator, num: int, per_ref: int,
                  with_heldout: bool) -> List[Tuple[Tuple[str, ...], bool]]:
    """Shuffled (kinds, heldout) per reference for ``num`` queries (train:
    ``per_ref=1``, no held-out queries).

    Reference ``g`` (before shuffling) takes the next ``per_ref`` kinds of the
    add/remove/change cycle (the last one fewer if ``per_ref`` does not divide
    ``num``), so kinds stay balanced; the held-out flag is shared by a
    reference's queries and alternates every 3 queries of the cycle, so each
    kind has half held-out queries (up to rounding).
    """
    groups = []
    for g, start in enumerate(range(0, num, per_ref)):
        size = min(per_ref, num - start)
        kinds = tuple(MOD_KINDS[(start + j) % 3] for j in range(size))
        groups.append((kinds, with_heldout and (start // 3) % 2 == 1))
    order = rng.permutation(len(groups))
    return [groups[i] for i in order.tolist()]


def query_is_heldout(scene: Scene, mod: Modification,
                     heldout_list: Sequence[Combo]) -> bool:
    heldout_set = frozenset(heldout_list)
    return any(c in heldout_set for c in touched_combos(scene, mod))

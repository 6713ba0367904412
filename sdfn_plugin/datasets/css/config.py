"""Generation config of the CSS-style synthetic benchmark."""
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict

from .scene import NUM_CELLS

#: Version of the on-disk format (``annotations.json`` and ``manifest.json``).
#: Bump it whenever generated content changes for an unchanged config, so that
#: cached datasets are regenerated.
FORMAT_VERSION = 2

#: Smallest supported ``image_size`` (below it objects degenerate to a few
#: pixels).
MIN_IMAGE_SIZE = 12


@dataclass(frozen=True)
class CSSGenerationConfig:
    """Parameters of a generated CSS-style dataset.

    Args:
        seed: non-negative seed; all randomness (held-out combinations,
            scenes, texts, jitter) derives from it.
        num_train: number of train queries (``2 * num_train`` train images).
        num_test: number of test queries.
        test_mods_per_ref: test queries sharing one (rendered) reference
            image, one per modification kind (add / remove / change), as in
            the CSS dataset of TIRG.  With 1, the gallery image closest to a
            reference is usually its target (one edit away), so image-only
            retrieval scores well; with 3, siblings one edit away compete
            and only the text tells them apart.  The test split has
            ``ceil(num_test / k) + num_test`` images; train queries always
            have their own reference.
        image_size: side of the square RGB images in pixels.
        min_objects: minimum number of objects of every (reference and
            target) scene, >= 1.
        max_objects: maximum number of objects of every scene; must be
            greater than ``min_objects`` (so that add and remove queries
            exist) and at most 9.
    """
    seed: int = 0
    num_train: int = 10000
    num_test: int = 2000
    image_size: int = 64
    min_objects: int = 1
    max_objects: int = 5
    test_mods_per_ref: int = 3

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f'CSSGenerationConfig.{f.name} must be an int, '
                                 f'got {value!r}')
        _check(self.seed >= 0, 'seed', f'must be >= 0, got {self.seed}')
        _check(self.num_train >= 1, 'num_train',
               f'must be >= 1, got {self.num_train}')
        _check(self.num_test >= 1, 'num_test',
               f'must be >= 1, got {self.num_test}')
        _check(self.image_size >= MIN_IMAGE_SIZE, 'image_size',
               f'must be >= {MIN_IMAGE_SIZE}, got {self.image_size}')
        _check(self.min_objects >= 1, 'min_objects',
               f'must be >= 1, got {self.min_objects}')
        _check(self.max_objects <= NUM_CELLS, 'max_objects',
               f'must be <= {NUM_CELLS} (grid cells), got {self.max_objects}')
        _check(self.max_objects > self.min_objects, 'max_objects',
               f'must be > min_objects ({self.min_objects}) so that add and '
               f'remove queries exist, got {self.max_objects}')
        _check(1 <= self.test_mods_per_ref <= 3, 'test_mods_per_ref',
               f'must be 1, 2 or 3 (one query per modification kind), got '
               f'{self.test_mods_per_ref}')
        # a reference that admits both an add and a remove needs
        # max(min+1, 2) <= n <= max-1 objects
        _check(self.test_mods_per_ref == 1
               or max(self.min_objects + 1, 2) <= self.max_objects - 1,
               'test_mods_per_ref',
               f'> 1 needs references that allow both add and remove '
               f'(max_objects >= max(min_objects + 2, 3)), got '
               f'min_objects={self.min_objects}, max_objects={self.max_objects}')

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def dirname(self) -> str:
        """Name of the dataset folder, e.g. ``css_seed0_n10000-2000_px64``;
        ``_obj{min}-{max}`` is appended when the object range is not the
        default 1-5, ``_k{test_mods_per_ref}`` when that is not 3."""
        name = (f'css_seed{self.seed}_n{self.num_train}-{self.num_test}'
                f'_px{self.image_size}')
        default = CSSGenerationConfig.__dataclass_fields__
        if (self.min_objects != default['min_objects'].default
                or self.max_objects != default['max_objects'].default):
            name += f'_obj{self.min_objects}-{self.max_objects}'
        if self.test_mods_per_ref != default['test_mods_per_ref'].default:
            name += f'_k{self.test_mods_per_ref}'
        return name


def _check(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise ValueError(f'CSSGenerationConfig.{field} {message}')

"""Generation, caching and atomic writing of the CSS-style benchmark.

Layout of a generated dataset folder ``<root>/<cfg.dirname()>``::

    annotations.json   # see :mod:`.annotations`
    images/<split>_<index>.png
    manifest.json      # format version, config, counts, annotation sha256

Images are listed reference first, then the targets of its queries: a train
query ``i`` uses images ``2*i`` (reference) and ``2*i + 1`` (target); a test
reference is followed by its ``test_mods_per_ref`` targets.  Each image is
rendered with its own jitter.  Everything derives from
``cfg.seed`` through independent numpy generators (:func:`split_rng`), so the
same config always yields the same annotations and, with the same Pillow/zlib,
byte-identical files.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from mmengine.utils import ProgressBar

from .annotations import ANNOTATION_FILE, SPLITS, validate_annotations
from .config import FORMAT_VERSION, CSSGenerationConfig
from .render import render_scene, sample_jitter
from .scene import COLORS, POSITIONS, SHAPES, SIZES, Scene, apply_modification
from .sampling import (assign_groups, heldout_combos, query_is_heldout,
                       sample_group, split_rng)
from .texts import modification_text

MANIFEST_FILE = 'manifest.json'
IMAGE_DIR = 'images'
# Streams of split_rng.
_QUERY_STREAM, _JITTER_STREAM = 0, 1
_BAR_CHUNK = 256


def dataset_dir(root: str, cfg: CSSGenerationConfig) -> str:
    """Folder of the dataset generated for ``cfg`` under ``root``."""
    return os.path.join(root, cfg.dirname())


def build_metainfo(cfg: CSSGenerationConfig) -> Dict[str, Any]:
    return {
        'colors': list(COLORS),
        'shapes': list(SHAPES),
        'sizes': list(SIZES),
        'positions': list(POSITIONS),
        'heldout_combos': [list(c) for c in heldout_combos(cfg.seed)],
    }


def generate_split(cfg: CSSGenerationConfig, split: str
                   ) -> Tuple[Dict[str, List[dict]], List[Scene]]:
    """Sample the queries of ``split`` (no rendering).

    Returns:
        ``({'images': [...], 'queries': [...]}, scenes)`` where ``scenes[k]``
        is the structured scene of ``images[k]``.
    """
    heldout = heldout_combos(cfg.seed)
    rng = split_rng(cfg.seed, split, _QUERY_STREAM)
    if split == 'train':  # one query per reference, never held out
        groups = assign_groups(rng, cfg.num_train, 1, with_heldout=False)
    else:
        groups = assign_groups(rng, cfg.num_test, cfg.test_mods_per_ref, with_heldout=True)
    num_images = len(groups) + sum(len(kinds) for kinds, _ in groups)
    width = max(6, len(str(num_images - 1)))
    images, queries, scenes = [], [], []

    def add_image(scene: Scene) -> str:
        image_id = f'{split}_{len(images):0{width}d}'
        images.append({'id': image_id, 'file': f'{IMAGE_DIR}/{image_id}.png',
                       'scene': scene.key()})
        scenes.append(scene)
        return image_id

    for kinds, is_heldout in groups:
        ref, mods = sample_group(rng, kinds, is_heldout, heldout, cfg)
        ref_id = add_image(ref)
        for kind, mod in zip(kinds, mods):
            tgt = apply_modification(ref, mod)
            text = modification_text(ref, mod, rng)
            assert query_is_heldout(ref, mod, heldout) == is_heldout
            queries.append({'ref': ref_id, 'tgt': add_image(tgt), 'text': text,
                            'kind': kind, 'heldout': is_heldout})
    return {'images': images, 'queries': queries}, scenes


def build_annotations(cfg: CSSGenerationConfig
                      ) -> Tuple[Dict[str, Any], Dict[str, List[Scene]]]:
    """Annotation dict of ``cfg`` and the structured scenes per split."""
    ann: Dict[str, Any] = {'format_version': FORMAT_VERSION,
                           'config': cfg.to_dict(),
                           'metainfo': build_metainfo(cfg)}
    scenes = {}
    for split in SPLITS:
        ann[split], scenes[split] = generate_split(cfg, split)
    return ann, scenes


def _render_split(folder: str, cfg: CSSGenerationConfig, split: str,
                  images: List[dict], scenes: List[Scene],
                  bar: Optional[ProgressBar]) -> None:
    jitter = sample_jitter(split_rng(cfg.seed, split, _JITTER_STREAM),
                           len(images))
    for k, (image, scene) in enumerate(zip(images, scenes)):
        render_scene(scene, cfg.image_size, jitter[k]).save(
            os.path.join(folder, image['file']), format='PNG')
        if bar is not None and ((k + 1) % _BAR_CHUNK == 0
                                or k + 1 == len(images)):
            bar.update((k % _BAR_CHUNK) + 1)


def _dump_json(path: str, obj: Any) -> str:
    """Write ``obj`` as JSON (fsynced); return the sha256 of the bytes."""
    data = json.dumps(obj, separators=(',', ':')).encode('utf-8')
    with open(path, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(data).hexdigest()


def write_dataset(folder: str, cfg: CSSGenerationConfig,
                  progress: bool = True) -> None:
    """Generate the dataset of ``cfg`` into the existing folder ``folder``.

    ``manifest.json`` is written last.
    """
    ann, scenes = build_annotations(cfg)
    validate_annotations(ann)
    os.makedirs(os.path.join(folder, IMAGE_DIR), exist_ok=True)
    total = sum(len(ann[s]['images']) for s in SPLITS)
    bar = None
    if progress:
        print(f'Generating CSS dataset {cfg.dirname()} ({total} images)',
              file=sys.stdout, flush=True)
        bar = ProgressBar(total, file=sys.stdout)
    for split in SPLITS:
        _render_split(folder, cfg, split, ann[split]['images'], scenes[split],
                      bar)
    if bar is not None:
        bar.file.write('\n')
        bar.file.flush()
    sha = _dump_json(os.path.join(folder, ANNOTATION_FILE), ann)
    _dump_json(os.path.join(folder, MANIFEST_FILE), _manifest(cfg, ann, sha))


def _manifest(cfg: CSSGenerationConfig, ann: Dict[str, Any],
              sha: str) -> Dict[str, Any]:
    return {
        'format_version': FORMAT_VERSION,
        'config': cfg.to_dict(),
        'num_images': {s: len(ann[s]['images']) for s in SPLITS},
        'num_queries': {s: len(ann[s]['queries']) for s in SPLITS},
        'annotations_sha256': sha,
    }


def is_complete(folder: str, cfg: CSSGenerationConfig) -> bool:
    """Whether ``folder`` holds a complete dataset generated for ``cfg``:
    its manifest has the current format version and ``cfg``, and the
    annotation file matches the manifest's checksum."""
    try:
        with open(os.path.join(folder, MANIFEST_FILE), encoding='utf-8') as f:
            manifest = json.load(f)
        with open(os.path.join(folder, ANNOTATION_FILE), 'rb') as f:
            sha = hashlib.sha256(f.read()).hexdigest()
    except (OSError, ValueError):
        return False
    return (isinstance(manifest, dict)
            and manifest.get('format_version') == FORMAT_VERSION
            and manifest.get('config') == cfg.to_dict()
            and manifest.get('annotations_sha256') == sha)


def ensure_css(root: str,
               cfg: CSSGenerationConfig = CSSGenerationConfig(),
               progress: bool = True) -> str:
    """Generate the CSS-style dataset of ``cfg`` under ``root`` unless cached.

    The dataset lives in ``<root>/<cfg.dirname()>``.  If that folder already
    holds a complete dataset (:func:`is_complete`), nothing is done.
    Otherwise it is generated into a temporary sibling folder
    (``.<dirname>.tmp-*``) which is renamed atomically at the end; an
    interrupted run therefore never leaves a folder under the final name (its
    temporary folder is removed on exceptions, and is otherwise ignored).

    Args:
        root: parent folder (created if missing).
        cfg: generation parameters.
        progress: show an mmengine progress bar while rendering.

    Returns:
        Path of the dataset's ``annotations.json``.
    """
    if not isinstance(cfg, CSSGenerationConfig):
        raise TypeError(f'cfg must be a CSSGenerationConfig, got {type(cfg)}')
    final = dataset_dir(root, cfg)
    ann_path = os.path.join(final, ANNOTATION_FILE)
    if is_complete(final, cfg):
        return ann_path
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{cfg.dirname()}.tmp-', dir=root)
    try:
        os.chmod(tmp, 0o755)
        write_dataset(tmp, cfg, progress=progress)
        _publish(tmp, final, cfg)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ann_path


def _publish(tmp: str, final: str, cfg: CSSGenerationConfig) -> None:
    """Atomically rename ``tmp`` to ``final``, replacing a stale ``final``."""
    stale = None
    if os.path.lexists(final):
        if is_complete(final, cfg):  # a concurrent run finished first
            shutil.rmtree(tmp, ignore_errors=True)
            return
        stale = f'{tmp}.stale'
        os.rename(final, stale)
    try:
        os.rename(tmp, final)
    except OSError:
        if not is_complete(final, cfg):
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # lost a race to another run
    if stale is not None:
        if os.path.isdir(stale) and not os.path.islink(stale):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            os.remove(stale)

"""Tests of the deterministic CSS-style benchmark generator."""
import dataclasses
import hashlib
import json
import os
import re
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from sdfn_plugin.datasets.css import (CSSGenerationConfig, ensure_css,
                                      load_css_annotations)
from sdfn_plugin.datasets.css import generator as gen
from sdfn_plugin.datasets.css.render import (BACKGROUND, cell_center,
                                             render_scene, sample_jitter)
from sdfn_plugin.datasets.css.sampling import heldout_combos, query_is_heldout
from sdfn_plugin.datasets.css.scene import (COLOR_RGB, COLORS, POSITIONS,
                                            SHAPES, CSSObject, Scene,
                                            apply_modification)
from sdfn_plugin.datasets.css.texts import parse_modification

TINY = CSSGenerationConfig(seed=3, num_train=60, num_test=20, image_size=32)
TEXT_RE = re.compile(r'^[a-z-]+( [a-z-]+)*$')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('css'))
    path = ensure_css(root, TINY, progress=False)
    return root, path, load_css_annotations(path)


def _tree_digest(folder):
    digest = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            full = os.path.join(dirpath, name)
            with open(full, 'rb') as f:
                digest[os.path.relpath(full, folder)] = hashlib.md5(
                    f.read()).hexdigest()
    return digest


def _scenes(split_ann):
    return {im['id']: Scene.from_key(im['scene']) for im in split_ann['images']}


# ------------------------------------------------------------------ config
@pytest.mark.parametrize('field,value', [
    ('seed', -1), ('num_train', 0), ('num_test', -5), ('image_size', 8),
    ('min_objects', 0), ('max_objects', 10), ('max_objects', 1),
    ('num_train', 1.5), ('image_size', True), ('test_mods_per_ref', 0),
    ('test_mods_per_ref', 4)])
def test_config_validation_names_field(field, value):
    with pytest.raises(ValueError, match=rf'CSSGenerationConfig\.{field}\b'):
        CSSGenerationConfig(**{field: value})


def test_config_frozen_and_dirname():
    cfg = CSSGenerationConfig()
    assert dataclasses.asdict(cfg) == dict(seed=0, num_train=10000, num_test=2000,
                                           image_size=64, min_objects=1,
                                           max_objects=5, test_mods_per_ref=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1
    assert cfg.dirname() == 'css_seed0_n10000-2000_px64'
    assert CSSGenerationConfig(seed=2, min_objects=2, max_objects=4).dirname() == \
        'css_seed2_n10000-2000_px64_obj2-4'
    assert TINY.dirname() == 'css_seed3_n60-20_px32'
    assert CSSGenerationConfig(test_mods_per_ref=1).dirname() == \
        'css_seed0_n10000-2000_px64_k1'


def test_config_grouped_test_split_needs_add_and_remove_room():
    # 1-2 objects: an add needs 1 object, a remove 2, so no reference has both
    with pytest.raises(ValueError, match=r'test_mods_per_ref > 1 needs .*'
                       r'min_objects=1, max_objects=2'):
        CSSGenerationConfig(min_objects=1, max_objects=2)
    assert CSSGenerationConfig(min_objects=1, max_objects=2,
                               test_mods_per_ref=1).max_objects == 2


# ------------------------------------------------------- format and counts
def test_layout_counts_and_images(tiny):
    root, path, ann = tiny
    folder = os.path.dirname(path)
    assert path == os.path.join(root, 'css_seed3_n60-20_px32', 'annotations.json')
    assert ann['format_version'] == 2
    assert ann['config'] == dataclasses.asdict(TINY)
    meta = ann['metainfo']
    assert meta['colors'] == list(COLORS) and len(set(COLOR_RGB.values())) == 8
    assert meta['shapes'] == ['square', 'circle', 'triangle']
    assert meta['sizes'] == ['small', 'large']
    assert meta['positions'] == list(POSITIONS)
    # train: image 2i is the reference and 2i+1 the target of query i
    images, queries = ann['train']['images'], ann['train']['queries']
    assert len(queries) == 60 and len(images) == 120
    for i, q in enumerate(queries):
        assert (q['ref'], q['tgt']) == (images[2 * i]['id'], images[2 * i + 1]['id'])
    # test: 20 queries on ceil(20 / 3) = 7 references, each followed by its targets
    images, queries = ann['test']['images'], ann['test']['queries']
    assert len(queries) == 20 and len(images) == 7 + 20
    ids = [im['id'] for im in images]
    order = []
    for q in queries:
        if q['ref'] not in order:
            order.append(q['ref'])
        order.append(q['tgt'])
    assert order == ids
    per_ref = Counter(q['ref'] for q in queries)
    assert sorted(per_ref.values()) == [2] + [3] * 6
    for split in ('train', 'test'):
        images = ann[split]['images']
        assert len({im['id'] for im in images}) == len(images)
        for im in images:
            assert im['id'].startswith(f'{split}_')
            assert im['file'] == f"images/{im['id']}.png"
            with Image.open(os.path.join(folder, im['file'])) as img:
                assert img.mode == 'RGB' and img.size == (32, 32)
    manifest = json.load(open(os.path.join(folder, 'manifest.json')))
    assert manifest['config'] == dataclasses.asdict(TINY)
    assert manifest['num_images'] == {'train': 120, 'test': 27}
    # nothing but the dataset folder is left in root
    assert os.listdir(root) == ['css_seed3_n60-20_px32']


def test_load_css_annotations_errors(tiny, tmp_path):
    _, path, ann = tiny
    assert load_css_annotations(os.path.dirname(path)) == ann
    bad = tmp_path / 'ann.json'
    bad.write_text(json.dumps({**ann, 'format_version': 1}))
    with pytest.raises(ValueError, match=r'ann\.json.*format_version'):
        load_css_annotations(str(bad))
    broken = {k: v for k, v in ann.items() if k != 'metainfo'}
    bad.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"ann\.json.*'metainfo'"):
        load_css_annotations(str(bad))
    broken = json.loads(json.dumps(ann))
    del broken['test']['queries'][3]['tgt']
    bad.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"ann\.json.*'tgt'.*test\.queries\[3\]"):
        load_css_annotations(str(bad))
    bad.write_text('{not json')
    with pytest.raises(ValueError, match=r'ann\.json'):
        load_css_annotations(str(bad))


# ----------------------------------------------------------- determinism
def test_determinism_across_roots_and_seeds(tiny, tmp_path):
    root, path, ann = tiny
    path2 = ensure_css(str(tmp_path / 'other'), TINY, progress=False)
    assert load_css_annotations(path2) == ann
    # byte-identical files, images included
    assert _tree_digest(os.path.dirname(path2)) == _tree_digest(
        os.path.dirname(path))
    other = dataclasses.replace(TINY, seed=4)
    ann3 = load_css_annotations(ensure_css(str(tmp_path), other, progress=False))
    assert ann3['config']['seed'] == 4
    assert [q['text'] for q in ann3['train']['queries']] != \
        [q['text'] for q in ann['train']['queries']]
    assert [im['scene'] for im in ann3['test']['images']] != \
        [im['scene'] for im in ann['test']['images']]


# ---------------------------------------------------------------- caching
def test_cache_hit_does_not_regenerate(tiny, monkeypatch, capsys):
    root, path, _ = tiny
    folder = os.path.dirname(path)
    probe = [path, os.path.join(folder, 'manifest.json'),
             os.path.join(folder, 'images', 'train_000000.png')]
    before = [os.stat(p).st_mtime_ns for p in probe]

    def boom(*args, **kwargs):
        raise AssertionError('dataset regenerated')

    monkeypatch.setattr(gen, 'write_dataset', boom)
    assert ensure_css(root, TINY) == path
    assert [os.stat(p).st_mtime_ns for p in probe] == before
    assert capsys.readouterr().out == ''  # no progress bar on a cache hit


def test_interrupted_and_leftover_runs(tmp_path, monkeypatch, capsys):
    cfg = dataclasses.replace(TINY, num_train=9, num_test=6)
    root = str(tmp_path)
    final = os.path.join(root, cfg.dirname())
    calls = []
    real_render = gen.render_scene

    def crash_after_10(*args, **kwargs):
        calls.append(1)
        if len(calls) > 10:
            raise RuntimeError('simulated crash')
        return real_render(*args, **kwargs)

    monkeypatch.setattr(gen, 'render_scene', crash_after_10)
    with pytest.raises(RuntimeError, match='simulated crash'):
        ensure_css(root, cfg, progress=False)
    assert os.listdir(root) == []  # temp folder removed, no final folder
    monkeypatch.setattr(gen, 'render_scene', real_render)

    # leftover of a killed run (annotations, no manifest) under the temp name,
    # and a half dataset under the final name: neither counts as complete
    leftover = os.path.join(root, f'.{cfg.dirname()}.tmp-killed')
    for folder in (leftover, final):
        os.makedirs(os.path.join(folder, 'images'))
        with open(os.path.join(folder, 'annotations.json'), 'w') as f:
            f.write('{}')
    written = []
    real_write = gen.write_dataset
    monkeypatch.setattr(gen, 'write_dataset',
                        lambda *a, **k: (written.append(1), real_write(*a, **k)))
    path = ensure_css(root, cfg, progress=True)
    assert written == [1]
    out = capsys.readouterr().out
    assert '26/26' in out  # mmengine progress bar over all images (18 train, 2 + 6 test)
    ann = load_css_annotations(path)
    assert len(ann['train']['images']) == 18
    assert len(os.listdir(os.path.join(final, 'images'))) == 26
    assert sorted(os.listdir(root)) == sorted(
        [cfg.dirname(), os.path.basename(leftover)])
    # a tampered annotation file no longer matches the manifest checksum
    with open(path, 'a') as f:
        f.write(' ')
    ensure_css(root, cfg, progress=False)
    assert written == [1, 1]
    assert load_css_annotations(path) == ann


# -------------------------------------------------------------- semantics
def _check_split_semantics(split_ann, cfg, heldout):
    scenes = _scenes(split_ann)
    for q in split_ann['queries']:
        text, ref, tgt = q['text'], scenes[q['ref']], scenes[q['tgt']]
        assert TEXT_RE.match(text) and text.isascii(), text
        mod = parse_modification(text, ref)  # raises if ambiguous
        assert mod.kind == q['kind']
        assert apply_modification(ref, mod).key() == tgt.key(), text
        for scene in (ref, tgt):
            assert cfg.min_objects <= scene.num_objects <= cfg.max_objects
        words = text.split()
        if q['kind'] != 'add':
            # the named attributes alone are ambiguous => position is named
            named = {w for w in words if w in COLOR_RGB or w in SHAPES
                     or w in ('small', 'large')}
            obj = ref.cells[mod.cell]
            own = {obj.color, obj.shape, obj.size}
            matches = [o for _, o in ref.objects()
                       if named & own <= {o.color, o.shape, o.size}]
            if len(matches) > 1:
                assert POSITIONS[mod.cell] in words, text
        else:
            assert POSITIONS[mod.cell] in words
        assert q['heldout'] == query_is_heldout(ref, mod, heldout)
    return scenes


def test_query_semantics_tiny(tiny):
    _, _, ann = tiny
    heldout = [tuple(c) for c in ann['metainfo']['heldout_combos']]
    for split in ('train', 'test'):
        _check_split_semantics(ann[split], TINY, heldout)


def test_query_semantics_and_balance_larger_sample():
    cfg = CSSGenerationConfig(seed=11, num_train=900, num_test=300,
                              min_objects=2, max_objects=6)
    ann, scenes = gen.build_annotations(cfg)
    heldout = heldout_combos(cfg.seed)
    for split in ('train', 'test'):
        parsed = _check_split_semantics(ann[split], cfg, heldout)
        assert [s.key() for s in scenes[split]] == \
            [parsed[im['id']].key() for im in ann[split]['images']]
        kinds = Counter(q['kind'] for q in ann[split]['queries'])
        n = len(ann[split]['queries'])
        assert set(kinds) == {'add', 'remove', 'change'}
        assert max(kinds.values()) - min(kinds.values()) <= 1
        for kind in kinds:  # several templates/synonyms per kind
            verbs = {q['text'].split()[0] for q in ann[split]['queries']
                     if q['kind'] == kind}
            assert len(verbs) >= 3, (kind, verbs)
        counts = Counter(s.num_objects for s in scenes[split])
        assert set(counts) == set(range(2, 7))
        assert all(s.key() != '' for s in scenes[split])
    # mentioned positions: forced when ambiguous and sometimes otherwise
    with_pos = sum(any(p in q['text'].split() for p in POSITIONS)
                   for q in ann['train']['queries'] if q['kind'] != 'add')
    assert 0.1 < with_pos / 600 < 0.9
    assert sum(q['heldout'] for q in ann['test']['queries']) / n >= 0.4


def test_test_references_carry_one_query_per_kind():
    cfg = CSSGenerationConfig(seed=5, num_train=3, num_test=300)
    ann, scenes = gen.build_annotations(cfg)
    test = ann['test']
    scene_of = dict(zip([im['id'] for im in test['images']], scenes['test']))
    groups = {}
    for q in test['queries']:
        groups.setdefault(q['ref'], []).append(q)
    assert len(groups) == 100 and len(test['images']) == 400
    for ref_id, qs in groups.items():
        ref = scene_of[ref_id]
        assert sorted(q['kind'] for q in qs) == ['add', 'change', 'remove']
        assert len({q['heldout'] for q in qs}) == 1  # held-out flag per reference
        targets = [scene_of[q['tgt']] for q in qs]
        assert len({t.key() for t in targets}) == 3
        for q, tgt in zip(qs, targets):
            assert apply_modification(ref, parse_modification(q['text'], ref)) == tgt
            assert tgt.num_objects - ref.num_objects == {'add': 1, 'remove': -1, 'change': 0}[q['kind']]
    assert sum(q['heldout'] for q in test['queries']) == 150
    # k = 1 restores one reference per query
    single, _ = gen.build_annotations(dataclasses.replace(cfg, test_mods_per_ref=1))
    assert len(single['test']['images']) == 600
    assert len({q['ref'] for q in single['test']['queries']}) == 300


# --------------------------------------------------------------- held-out
def test_heldout_combos_split_rule(tiny):
    _, _, ann = tiny
    combos = [tuple(c) for c in ann['metainfo']['heldout_combos']]
    assert combos == heldout_combos(TINY.seed) == heldout_combos(3)
    assert heldout_combos(0) != heldout_combos(1)
    assert len(set(combos)) == 6 and len({c for c, _ in combos}) == 6
    assert Counter(s for _, s in combos) == {s: 2 for s in SHAPES}
    assert all(c in COLORS and s in SHAPES for c, s in combos)
    heldout = set(combos)
    for split in ('train', 'test'):
        scenes = _scenes(ann[split])
        num_heldout = 0
        for q in ann[split]['queries']:
            ref = scenes[q['ref']]
            mod = parse_modification(q['text'], ref)
            obj = ref.cells[mod.cell]
            if mod.kind == 'add':
                new = mod.new_object
            elif mod.kind == 'change':
                new = obj.replace(mod.attribute, mod.value)
            else:
                new = obj  # the removed object
            if split == 'train':
                assert not q['heldout']
                assert new.combo not in heldout, q['text']
                assert obj is None or obj.combo not in heldout, q['text']
            elif q['heldout']:
                num_heldout += 1
                assert new.combo in heldout, q['text']
        if split == 'test':
            assert num_heldout / len(ann[split]['queries']) >= 0.3
    # held-out combos do appear (untouched) in train reference scenes
    train_objs = {o.combo for im in ann['train']['images']
                  for _, o in Scene.from_key(im['scene']).objects()}
    assert train_objs & heldout


# -------------------------------------------------------------- rendering
def test_render_colors_and_jitter():
    scene = Scene.empty()
    layout = {0: ('triangle', 'red', 'small'), 4: ('circle', 'blue', 'large'),
              5: ('square', 'yellow', 'small'), 8: ('triangle', 'gray', 'large'),
              6: ('circle', 'brown', 'small')}
    for cell, (shape, color, size) in layout.items():
        scene = scene.with_cell(cell, CSSObject(shape=shape, color=color,
                                                size=size))
    jitters = sample_jitter(np.random.default_rng(0), 50)
    arrays = []
    for jitter in jitters:
        arr = np.asarray(render_scene(scene, 64, jitter))
        assert arr.shape == (64, 64, 3) and arr.dtype == np.uint8
        for cell in range(9):
            x, y = cell_center(cell, 64)
            want = (COLOR_RGB[layout[cell][1]] if cell in layout else BACKGROUND)
            assert tuple(arr[int(y), int(x)]) == want, cell
        arrays.append(arr)
    assert not np.array_equal(arrays[0], arrays[1])  # same scene, other image
    assert len({a.tobytes() for a in arrays}) == 50
    # colour area: large objects cover more pixels than small ones
    blue = np.all(arrays[0] == COLOR_RGB['blue'], axis=-1).sum()
    yellow = np.all(arrays[0] == COLOR_RGB['yellow'], axis=-1).sum()
    assert blue > 1.5 * yellow > 0


def test_generated_images_match_scenes(tiny):
    _, path, ann = tiny
    folder = os.path.dirname(path)
    names = list(COLOR_RGB) + [None]
    palette = np.array(list(COLOR_RGB.values()) + [BACKGROUND])
    for im in ann['test']['images']:
        arr = np.asarray(Image.open(os.path.join(folder, im['file'])))
        scene = Scene.from_key(im['scene'])
        for cell in range(9):
            x, y = (int(v) for v in cell_center(cell, 32))
            obj = scene.cells[cell]
            if obj is None:
                assert tuple(arr[y, x]) == BACKGROUND
                continue
            # 32 px is tiny and anti-aliased: some pixel next to the cell
            # centre has (approximately) the object's colour
            window = arr[y - 1:y + 2, x - 1:x + 2].reshape(-1, 1, 3).astype(int)
            nearest = ((window - palette[None]) ** 2).sum(-1).argmin(-1)
            assert obj.color in {names[i] for i in nearest}, (im['id'], cell)
    # re-rendering the same scene with other jitter gives another image
    scene = Scene.from_key(ann['test']['images'][0]['scene'])
    first = np.asarray(Image.open(os.path.join(
        folder, ann['test']['images'][0]['file'])))
    other = np.asarray(render_scene(scene, 32, sample_jitter(
        np.random.default_rng(123), 1)[0]))
    assert not np.array_equal(first, other)

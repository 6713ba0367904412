"""Session setup and shared fixtures. Use these instead of building your own copies (the suite's time budget).

Parallel runs: ``pyproject.toml`` runs the suite on 2 pytest-xdist workers (``-n 2 --dist loadfile``: each test
file stays on one worker, so module-scoped fixtures are built once). Every worker (and every subprocess it
starts) runs torch with 1 thread: two multithreaded torch processes on 2 cores slow each other down many times.
``python -m pytest ... -n 0`` runs serially with torch's default threads.

Session fixtures (built once per run, shared by all workers through a file lock; treat them as read-only):

* ``css_root``: a generated tiny CSS benchmark (``cir_testlib.TINY``: 96 training / 32 test queries, 64 px).
* ``tiny_tirg``: ``(config, checkpoint)`` of TIRG trained one epoch on ``css_root`` by ``tools/train.py``.
* ``cirr_root``: the official CIRR val/test1 annotations with placeholder images and a tiny training file.
"""
import os
import sys

if os.environ.get('PYTEST_XDIST_WORKER'):  # before torch is imported by any test module
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = '1'
    if 'torch' in sys.modules:
        sys.modules['torch'].set_num_threads(1)

import os.path as osp  # noqa: E402
from typing import Callable  # noqa: E402

import pytest  # noqa: E402

from cir_testlib import TINY  # noqa: E402


def build_once(tmp_path_factory, name: str, build: Callable[[str], None]) -> str:
    """A folder that ``build(folder)`` fills once per test run: under xdist the first worker builds it (the
    others wait on a file lock and reuse it); a failed build is retried by the next worker that asks."""
    if not os.environ.get('PYTEST_XDIST_WORKER'):
        folder = str(tmp_path_factory.mktemp(name))
        build(folder)
        return folder
    from filelock import FileLock
    folder = osp.join(str(tmp_path_factory.getbasetemp().parent), name)
    with FileLock(folder + '.lock'):
        if not osp.isfile(osp.join(folder, '.built')):
            os.makedirs(folder, exist_ok=True)
            build(folder)
            open(osp.join(folder, '.built'), 'w').close()
    return folder


@pytest.fixture(scope='session')
def css_root(tmp_path_factory) -> str:
    """A generated tiny CSS benchmark shared by the whole session."""
    from sdfn_plugin.datasets.css import CSSGenerationConfig, ensure_css
    return build_once(tmp_path_factory, 'css',
                      lambda root: ensure_css(root, CSSGenerationConfig(seed=0, **TINY), progress=False))


@pytest.fixture(scope='session')
def tiny_tirg(tmp_path_factory, css_root):
    """``(config, checkpoint)`` of TIRG trained one epoch on the tiny benchmark (tools/train.py, no validation)."""
    from cir_testlib import python_cli, write_tiny_config

    def train(root: str) -> None:
        cfg = write_tiny_config(osp.join(root, 'tirg_tiny.py'), 'tirg_css.py', css_root, max_epochs=1,
                                extra='train_cfg = dict(max_epochs=1, val_interval=2)')
        proc = python_cli('train.py', cfg, '--work-dir', osp.join(root, 'work'))
        assert proc.returncode == 0, proc.stderr[-3000:]

    root = build_once(tmp_path_factory, 'tiny_tirg', train)
    return osp.join(root, 'tirg_tiny.py'), osp.join(root, 'work', 'epoch_1.pth')


def _build_cirr(root: str, official: str) -> None:
    """The official CIRR val/test1 annotations (linked), tiny placeholder images for every val and test1 image,
    and a training caption file in the val format (the official one is not in ``../shared``) over the first 12
    images of the training split: two image sets, three queries each."""
    import json
    from sdfn_plugin.testing.placeholders import write_placeholder_images
    for sub in ('captions', 'image_splits'):
        os.makedirs(osp.join(root, sub))
    for split in ('val', 'test1'):
        os.symlink(osp.join(official, 'captions', f'cap.rc2.{split}.json'),
                   osp.join(root, 'captions', f'cap.rc2.{split}.json'))
    for split in ('train', 'val', 'test1'):
        os.symlink(osp.join(official, 'image_splits', f'split.rc2.{split}.json'),
                   osp.join(root, 'image_splits', f'split.rc2.{split}.json'))
        with open(osp.join(official, 'image_splits', f'split.rc2.{split}.json')) as f:
            paths = list(json.load(f).items())
        if split == 'train':
            paths = paths[:12]
            train = []
            for s in range(2):
                members = [name for name, _ in paths[6 * s:6 * s + 6]]
                for j in range(3):
                    ref, tgt = members[j], members[j + 3]
                    train.append(dict(pairid=100 + 3 * s + j, reference=ref, target_hard=tgt,
                                      target_soft={tgt: 1.0}, caption=f'make it look like picture {j}',
                                      img_set=dict(id=s, members=members, reference_rank=j, target_rank=j + 3)))
            with open(osp.join(root, 'captions', 'cap.rc2.train.json'), 'w') as f:
                json.dump(train, f)
        write_placeholder_images(osp.normpath(osp.join(root, 'img_raw', rel)) for _, rel in paths)


@pytest.fixture(scope='session')
def cirr_root(tmp_path_factory) -> str:
    """CIRR with the official val/test1 annotation files and placeholder images (about 4,600 tiny files), plus a
    6-query training file in the val format; fails under ``CI=true`` when ``../shared/data/cirr`` is missing."""
    from cir_testlib import official_data
    official = official_data('cirr', 'captions/cap.rc2.val.json')
    return build_once(tmp_path_factory, 'cirr', lambda root: _build_cirr(root, official))


@pytest.fixture(scope='session')
def circo_root(tmp_path_factory) -> str:
    """CIRCO's official annotations (``../shared/data/circo``, copied) with a placeholder COCO gallery: one tiny
    JPEG per reference and ground truth of val and test (1,903 images) in the official layout, listed by an
    ``image_info_unlabeled2017.json`` in COCO's format. Skipped without the official files (fails under CI=true)."""
    import json
    import shutil

    from cir_testlib import official_data
    from sdfn_plugin.testing.placeholders import write_placeholder_images
    official = official_data('circo', 'annotations/val.json')

    def build(root: str) -> None:
        shutil.copytree(osp.join(official, 'annotations'), osp.join(root, 'annotations'), dirs_exist_ok=True)
        ids = set()
        for split in ('val', 'test'):
            with open(osp.join(root, 'annotations', f'{split}.json')) as f:
                for q in json.load(f):
                    ids.update([q['reference_img_id']] + q.get('gt_img_ids', []))
        coco = osp.join(root, 'COCO2017_unlabeled')
        names = [f'{i:012d}.jpg' for i in sorted(ids)]
        write_placeholder_images([osp.join(coco, 'unlabeled2017', n) for n in names])
        os.makedirs(osp.join(coco, 'annotations'), exist_ok=True)
        with open(osp.join(coco, 'annotations', 'image_info_unlabeled2017.json'), 'w') as f:
            json.dump({'info': {}, 'images': [{'id': i, 'file_name': n} for i, n in zip(sorted(ids), names)]}, f)

    return build_once(tmp_path_factory, 'circo', build)

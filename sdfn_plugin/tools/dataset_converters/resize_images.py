"""Pre-resize a folder tree of images (``tools/dataset_converters/resize_images.py``).

Usage::

    python tools/dataset_converters/resize_images.py IN_DIR OUT_DIR [--mode squash|keep-aspect]
        [--size 256] [--workers 4] [--quality 95] [--allow-truncated]

* ``--mode squash`` (default): every image becomes ``size x size``, aspect
  ratio not kept, antialiased -- what the FashionIQ start kit
  (XiaoxiaoGuo/fashion-iq ``start_kit/resize_images.py``) and AMC do before
  training (``docs/datasets.md``, Pitfalls, item 9).
* ``--mode keep-aspect``: the shorter side becomes ``size`` (aspect kept).

The relative path and file name of every image are kept under ``OUT_DIR``.
Resumable: an output that already exists, passes PIL's ``verify()`` and has
exactly the size its input maps to is skipped; outputs are written to a temporary file and renamed, so an
interrupted run never leaves a half-written image behind. Originals are never
touched: ``OUT_DIR`` must differ from ``IN_DIR`` (an ``OUT_DIR`` inside
``IN_DIR`` is skipped while walking). Work runs in a ``multiprocessing.Pool``
(``--workers``) with mmengine's progress bar. Exit status 1 if any image
failed (the first failures are printed).
"""
import argparse
import os
import sys
from typing import List, Optional, Sequence, Tuple

from PIL import Image, ImageFile

__all__ = ['main', 'parse_args', 'target_size', 'resize_one', 'collect_tasks', 'resize_tree']

_MODES = ('squash', 'keep-aspect')
_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')

Task = Tuple[str, str, str, int, int, bool]


def target_size(width: int, height: int, mode: str, size: int) -> Tuple[int, int]:
    """Output ``(width, height)`` for an input of ``width x height``."""
    if mode == 'squash':
        return size, size
    if mode != 'keep-aspect':
        raise ValueError(f'mode must be one of {_MODES}, got {mode!r}')
    if width <= height:
        return size, max(1, round(height * size / width))
    return max(1, round(width * size / height)), size


def _valid_output(src: str, dst: str, mode: str, size: int) -> bool:
    """``dst`` decodes and has exactly the size ``src`` should be resized to."""
    try:
        with Image.open(src) as im:  # header only
            expected = target_size(im.width, im.height, mode, size)
        with Image.open(dst) as im:
            got = im.size
            im.verify()
    except Exception:  # noqa: BLE001 - any failure means "redo it"
        return False
    return got == expected


def resize_one(task: Task) -> str:
    """Resize one image; returns ``'done'``, ``'skipped'`` or ``'error: ...'`` (never raises)."""
    src, dst, mode, size, quality, allow_truncated = task
    if os.path.exists(dst) and _valid_output(src, dst, mode, size):
        return 'skipped'
    tmp = f'{dst}.tmp{os.getpid()}'
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        ImageFile.LOAD_TRUNCATED_IMAGES = allow_truncated
        with Image.open(src) as im:
            fmt = im.format or 'JPEG'
            im.load()
            out = im.resize(target_size(im.width, im.height, mode, size), Image.LANCZOS)
        if fmt == 'JPEG' and out.mode not in ('RGB', 'L'):
            out = out.convert('RGB')
        os.makedirs(os.path.dirname(dst) or '.', exist_ok=True)
        kwargs = dict(quality=quality) if fmt == 'JPEG' else {}
        out.save(tmp, format=fmt, **kwargs)
        os.replace(tmp, dst)
    except Exception as err:  # noqa: BLE001 - reported per file
        if os.path.exists(tmp):
            os.remove(tmp)
        return f'error: {src}: {type(err).__name__}: {err}'
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return 'done'


def collect_tasks(in_dir: str, out_dir: str, mode: str, size: int, quality: int = 95,
                  allow_truncated: bool = False, exts: Sequence[str] = _EXTS) -> List[Task]:
    """One task per image file under ``in_dir`` (sorted), skipping ``out_dir`` if nested."""
    in_real, out_real = os.path.realpath(in_dir), os.path.realpath(out_dir)
    if in_real == out_real:
        raise ValueError(f'out_dir {out_dir!r} is the input folder: refusing to overwrite the originals')
    if not os.path.isdir(in_dir):
        raise FileNotFoundError(f'input folder not found: {in_dir!r}')
    exts = tuple(e.lower() for e in exts)
    tasks = []
    for dirpath, dirnames, filenames in os.walk(in_dir):
        dirnames[:] = sorted(d for d in dirnames if os.path.realpath(os.path.join(dirpath, d)) != out_real)
        for name in sorted(filenames):
            if name.lower().endswith(exts):
                src = os.path.join(dirpath, name)
                dst = os.path.join(out_dir, os.path.relpath(src, in_dir))
                if os.path.realpath(dst) == os.path.realpath(src):
                    raise ValueError(f'output {dst!r} would overwrite its input; choose another out_dir')
                tasks.append((src, dst, mode, size, quality, allow_truncated))
    return tasks


def resize_tree(in_dir: str, out_dir: str, mode: str = 'squash', size: int = 256, workers: int = 1,
                quality: int = 95, allow_truncated: bool = False, progress: bool = True) -> dict:
    """Resize every image of ``in_dir`` into ``out_dir``; returns counts and the errors."""
    if mode not in _MODES:
        raise ValueError(f'mode must be one of {_MODES}, got {mode!r}')
    if size < 1 or workers < 1:
        raise ValueError(f'size and workers must be >= 1, got size={size}, workers={workers}')
    tasks = collect_tasks(in_dir, out_dir, mode, size, quality, allow_truncated)
    if not tasks:
        results = []
    elif progress:
        from mmengine.utils import track_parallel_progress, track_progress
        results = track_progress(resize_one, tasks) if workers == 1 else \
            track_parallel_progress(resize_one, tasks, workers, chunksize=16)
    elif workers == 1:
        results = [resize_one(t) for t in tasks]
    else:
        from multiprocessing import Pool
        with Pool(workers) as pool:
            results = pool.map(resize_one, tasks, chunksize=16)
    errors = [r[len('error: '):] for r in results if r.startswith('error')]
    return dict(total=len(tasks), done=results.count('done'), skipped=results.count('skipped'),
                failed=len(errors), errors=errors)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('in_dir', help='folder tree of original images (never modified)')
    parser.add_argument('out_dir', help='output folder (same relative paths); must differ from in_dir')
    parser.add_argument('--mode', choices=_MODES, default='squash',
                        help='squash: size x size (FashionIQ start kit, AMC); keep-aspect: shorter side = size')
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--workers', type=int, default=max(1, min(8, os.cpu_count() or 1)))
    parser.add_argument('--quality', type=int, default=95, help='JPEG quality of the outputs')
    parser.add_argument('--allow-truncated', action='store_true', help='decode truncated JPEGs (PIL)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        stats = resize_tree(args.in_dir, args.out_dir, args.mode, args.size, args.workers, args.quality,
                            args.allow_truncated)
    except (ValueError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'\n{stats["total"]} images: {stats["done"]} resized, {stats["skipped"]} already done, '
          f'{stats["failed"]} failed')
    for err in stats['errors'][:10]:
        print(f'  failed: {err}', file=sys.stderr)
    return 1 if stats['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())

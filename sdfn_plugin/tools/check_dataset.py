"""Check every dataset of a config before training: ``python tools/check_dataset.py CONFIG``.

For each dataset section of the config (train, val and test dataloaders; each
dataset once) it reports the counts the loader derived from the annotation files
(annotation entries, queries, gallery images), duplicated annotation entries
(the loader's own ``duplicates='error'`` message), duplicated gallery images,
and every image file the split needs that is missing, zero-byte, not an image
(e.g. an HTML error page saved as ``.jpg``) or truncated/corrupt (decoded in
parallel threads with a progress bar; ``--no-decode`` checks existence only).
It ends with a summary and exits with status 1 if anything is wrong.

The same image check runs inside a training run when a dataset is built with
``verify_images=True`` (e.g. ``--cfg-options train_dataloader.dataset.verify_images=True``):
a bad file then stops the run before the first iteration.
"""
import argparse
import sys
from collections import Counter
from typing import Dict

from sdfn_plugin.cli.dataset_config import add_cfg_options_arg, build_dataset, dataset_sections, load_tool_config

__all__ = ['check_dataset', 'main']


def check_dataset(label: str, ds_cfg: dict, decode: bool = True, workers: int = 8) -> Dict[str, object]:
    """Counts and faults of one dataset section (see the module docstring)."""
    from sdfn_plugin.datasets.data_checks import IMAGE_FAULTS, find_missing_images
    result: Dict[str, object] = dict(label=label, type=ds_cfg.get('type'), errors=[])
    try:
        ds = build_dataset(ds_cfg, check_images=False)
    except ValueError as err:
        if 'duplicated' not in str(err):
            result['errors'].append(f'{type(err).__name__}: {err}')
            return result
        # the loader's message names the file, the count and the first duplicate; go on with the other checks
        result['errors'].append(f'duplicates: {err}')
        ds = build_dataset(ds_cfg, check_images=False, duplicates='keep')
    except Exception as err:  # noqa: BLE001 - reported, and the next dataset is checked
        result['errors'].append(f'{type(err).__name__}: {err}')
        return result
    gallery = getattr(ds, 'gallery', [])
    result.update(queries=len(ds), gallery=len(gallery), stats=dict(getattr(ds, 'stats', {}) or {}))
    repeated = {g: n for g, n in Counter(item['img_id'] for item in gallery).items() if n > 1}
    if repeated:
        first = next(iter(repeated))
        result['errors'].append(f'duplicates: {sum(n - 1 for n in repeated.values())} repeated gallery image(s), '
                                f'first {first!r}')
    paths = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        paths += [info[k] for k in ('ref_path', 'tgt_path') if info.get(k)]
    paths += [item['img_path'] for item in gallery]
    paths = list(dict.fromkeys(paths))
    print(f'{label}: checking {len(paths)} image files' + (' (decoding each)' if decode else ''))
    faults = find_missing_images(paths, verify=decode, workers=workers, progress=decode and sys.stdout.isatty())
    result.update(images=len(paths), faults=faults)
    for kind in ('missing', ) + IMAGE_FAULTS:
        names = [p for p, r in faults.items() if r == kind]
        if names:
            shown = ', '.join(repr(p) for p in names[:5]) + (f', ... ({len(names) - 5} more)' if len(names) > 5 else '')
            result['errors'].append(f'{kind}: {len(names)} file(s): {shown}')
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Check the annotation files and images of every dataset of a config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--splits', nargs='+', default=['train', 'val', 'test'], choices=['train', 'val', 'test'])
    parser.add_argument('--no-decode', action='store_true', help='check that files exist, without decoding them')
    parser.add_argument('--workers', type=int, default=8, help='decoding threads')
    add_cfg_options_arg(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    sections = dataset_sections(cfg, args.splits)
    if not sections:
        print(f'error: {args.config} has no dataset in {args.splits}', file=sys.stderr)
        return 1
    results = [check_dataset(label, ds, not args.no_decode, args.workers) for label, ds in sections]
    print('\nsummary')
    bad = 0
    for r in results:
        counts = ', '.join(f'{k} {r[k]}' for k in ('queries', 'gallery', 'images') if k in r)
        stats = r.get('stats') or {}
        ann = ', '.join(f'{k}={v}' for k, v in stats.items() if isinstance(v, int))
        print(f'  {r["label"]} ({r["type"]}): {counts or "not built"}' + (f' [{ann}]' if ann else '')
              + (' OK' if not r['errors'] else ''))
        for err in r['errors']:
            print(f'    - {err}')
        bad += bool(r['errors'])
    print(f'{bad} of {len(results)} dataset(s) with problems' if bad else f'all {len(results)} dataset(s) OK')
    return 1 if bad else 0


if __name__ == '__main__':
    raise SystemExit(main())

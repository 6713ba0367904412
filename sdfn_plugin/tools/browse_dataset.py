"""Look at what a config's dataset feeds the model: ``python tools/browse_dataset.py CONFIG``.

Writes a PNG grid, one row per query: the reference image | the modification
text | the correct target image(s) (for evaluation splits, the gallery items
of ``gt_gallery_idx``; the gallery index and id are printed under each). An
image that is missing or does not decode is drawn as a grey box naming the
fault, so the grid also shows what ``check_dataset.py`` would report.
"""
import argparse
import os
import textwrap
from typing import List, Tuple

from PIL import Image, ImageDraw

from sdfn_plugin.cli.dataset_config import add_cfg_options_arg, build_dataset, dataset_sections, load_tool_config

__all__ = ['THUMB', 'ROW_HEIGHT', 'grid_width', 'query_row', 'main']

THUMB = 128  #: side of each image thumbnail
TEXT_WIDTH = 300
PAD = 6
CAPTION = 14  #: height of the id line under a thumbnail
ROW_HEIGHT = THUMB + CAPTION + 2 * PAD


def grid_width(num_targets: int) -> int:
    """Width of a grid whose widest row shows ``num_targets`` targets."""
    return PAD + (THUMB + PAD) + (TEXT_WIDTH + PAD) + num_targets * (THUMB + PAD)


def _thumb(path: str) -> Image.Image:
    from sdfn_plugin.datasets.data_checks import image_problem
    fault = 'missing' if not os.path.isfile(path) else image_problem(path)
    if fault is None:
        with Image.open(path) as im:
            im = im.convert('RGB')
            scale = THUMB / max(im.size)  # up or down: placeholders and icons are smaller than a thumbnail
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))))
        canvas = Image.new('RGB', (THUMB, THUMB), (255, 255, 255))
        canvas.paste(im, ((THUMB - im.width) // 2, (THUMB - im.height) // 2))
        return canvas
    canvas = Image.new('RGB', (THUMB, THUMB), (160, 160, 160))
    ImageDraw.Draw(canvas).text((6, THUMB // 2 - 6), fault, fill=(150, 0, 0))
    return canvas


def query_row(ds, idx: int, max_targets: int) -> Tuple[str, str, List[Tuple[str, str]]]:
    """``(reference path, text, [(target path, label), ...])`` of query ``idx``."""
    info = ds.get_data_info(idx)
    if 'gt_gallery_idx' in info:
        targets = [(ds.gallery[g]['img_path'], f'#{g} {ds.gallery[g]["img_id"]}')
                   for g in info['gt_gallery_idx'][:max_targets]]
    else:
        targets = [(info['tgt_path'], str(info.get('tgt_id', '')))]
    return info['ref_path'], info['text'], targets


def render(rows: List[Tuple[str, str, List[Tuple[str, str]]]], labels: List[str]) -> Image.Image:
    width = grid_width(max([len(t) for _, _, t in rows] + [1]))
    grid = Image.new('RGB', (width, ROW_HEIGHT * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for r, ((ref, text, targets), label) in enumerate(zip(rows, labels)):
        y = r * ROW_HEIGHT + PAD
        grid.paste(_thumb(ref), (PAD, y))
        draw.text((PAD, y + THUMB + 1), label[:22], fill=(0, 0, 0))
        x = PAD + THUMB + PAD
        lines = textwrap.wrap(text, 44)[:9]
        draw.multiline_text((x + 4, y + 4), '\n'.join(lines), fill=(0, 0, 90))
        x += TEXT_WIDTH + PAD
        for path, tlabel in targets:
            grid.paste(_thumb(path), (x, y))
            draw.text((x, y + THUMB + 1), tlabel[:22], fill=(0, 90, 0))
            x += THUMB + PAD
        draw.line([(0, (r + 1) * ROW_HEIGHT - 1), (width, (r + 1) * ROW_HEIGHT - 1)], fill=(200, 200, 200))
    return grid


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Write a PNG grid of queries: reference | text | target(s)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--split', default='val', choices=['train', 'val', 'test'], help='which dataloader')
    parser.add_argument('--index', type=int, default=0, help='which dataset of a list of dataloaders (FashionIQ)')
    parser.add_argument('--num', type=int, default=8, help='number of queries (rows)')
    parser.add_argument('--start', type=int, default=0, help='first query index')
    parser.add_argument('--max-targets', type=int, default=3, help='correct images shown per query')
    parser.add_argument('--out', default='browse_dataset.png', help='output PNG')
    add_cfg_options_arg(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    sections = [ds for _, ds in dataset_sections(cfg, (args.split, ))]
    if not sections:
        raise SystemExit(f'{args.config}: no {args.split}_dataloader dataset')
    if not 0 <= args.index < len(sections):
        raise SystemExit(f'--index {args.index}: the {args.split} split has {len(sections)} dataset(s)')
    ds = build_dataset(sections[args.index], check_images=False, duplicates='keep')  # look, do not judge
    stop = min(len(ds), args.start + args.num)
    if args.start >= stop:
        raise SystemExit(f'--start {args.start}: the dataset has {len(ds)} queries')
    rows = [query_row(ds, i, args.max_targets) for i in range(args.start, stop)]
    labels = [f'query {i}' for i in range(args.start, stop)]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    render(rows, labels).save(args.out, 'PNG')
    print(f'wrote {args.out}: queries {args.start}..{stop - 1} of {len(ds)} ({type(ds).__name__}, {args.split})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())

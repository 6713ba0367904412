"""Encode a folder or list of images into a gallery index:
``python tools/build_index.py CONFIG CHECKPOINT IMAGE_DIR_OR_LIST --out INDEX_DIR``
(``mim run sdfn_plugin build_index ...``; many GPUs/nodes: ``torchrun --nproc-per-node 8 tools/build_index.py
... --launcher pytorch``, each rank encodes a shard, rank 0 merges them; ``--out`` must be on a shared disk).
"""
import argparse
import os


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Build a gallery index (embeddings.npy + index.json) from images')
    parser.add_argument('config', help='config file or shipped config name (e.g. tirg_css)')
    parser.add_argument('checkpoint', help='trained checkpoint (.pth)')
    parser.add_argument('images', help='image folder (searched recursively) or a text file with one path a line')
    parser.add_argument('--out', required=True, help='index folder to write (replaced atomically)')
    parser.add_argument('--skip-bad', action='store_true',
                        help='leave out images that cannot be decoded (counted and listed in index.json)')
    parser.add_argument('--batch-size', type=int, default=32, help='images per encoder call')
    parser.add_argument('--num-workers', type=int, default=2, help='DataLoader workers decoding images')
    parser.add_argument('--dtype', choices=['float32', 'float16'], default='float32', help='storage dtype')
    parser.add_argument('--device', default=None, help='cuda / cpu (default: cuda when available)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='job launcher (pytorch: torchrun)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true', help='show full tracebacks on errors')
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.num_workers < 0:
        parser.error(f'--batch-size must be >= 1 and --num-workers >= 0, got {args.batch_size}, {args.num_workers}')
    return args


def _init_launcher(launcher: str) -> None:
    import torch
    if launcher == 'none':
        return
    if torch.cuda.is_available():
        from mmengine.dist import init_dist
        init_dist(launcher, backend='nccl')
    elif launcher == 'pytorch':  # CPU ranks (torchrun sets RANK, WORLD_SIZE, MASTER_ADDR/PORT)
        torch.distributed.init_process_group('gloo')
    else:
        raise RuntimeError(f'--launcher {launcher} needs CUDA devices; on CPU use --launcher pytorch (torchrun)')


def main(argv=None) -> None:
    args = parse_args(argv)
    from sdfn_plugin.cli.common import run_main

    def _run():
        import torch
        from mmengine.dist import get_dist_info

        from sdfn_plugin.apis import get_model
        from sdfn_plugin.apis.index_builder import build_index
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
        _init_launcher(args.launcher)
        device = args.device or (f'cuda:{torch.cuda.current_device()}' if torch.cuda.is_available() else 'cpu')
        model = get_model(args.config, args.checkpoint, device=device)
        result = build_index(model, args.images, args.out, batch_size=args.batch_size,
                             num_workers=args.num_workers, dtype=args.dtype, skip_bad=args.skip_bad)
        rank, world = get_dist_info()
        if rank == 0:
            index = result.index
            print(f'{len(index)} images indexed ({index.dim}-d {index.dtype}) in {result.seconds:.1f} s: '
                  f'{result.images_per_s:.1f} images/s on {world} process(es)')
            if result.skipped:
                print(f'skipped {len(result.skipped)} image(s) that could not be decoded, e.g. {result.skipped[0]}')
            print(f'index written to {args.out}')

    run_main(_run, args.debug)


if __name__ == '__main__':
    main()

"""Retrieve from a gallery index: ``python tools/retrieve.py CONFIG CHECKPOINT --index INDEX_DIR
--image REF --text "..." [--topk 10] [--show-out grid.png] [--json-out res.json]``
(``mim run sdfn_plugin retrieve ...``). Build the index with ``tools/build_index.py``."""
import argparse
import json
import os
import os.path as osp


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Top-k gallery images for a reference image and a modification text')
    from sdfn_plugin.cli.retrieval_args import add_model_and_index_args
    add_model_and_index_args(parser)
    parser.add_argument('--image', required=True, help='reference image')
    parser.add_argument('--text', required=True, help='modification text')
    parser.add_argument('--topk', type=int, default=10, help='how many results (default 10)')
    parser.add_argument('--keep-reference', action='store_true',
                        help='keep the reference in its own ranking when it is in the gallery (left out by default)')
    parser.add_argument('--show-out', help='write a grid PNG (reference, text, top-k with scores)')
    parser.add_argument('--json-out', help='write {"keys": [...], "scores": [...]} as JSON')
    parser.add_argument('--debug', action='store_true', help='show full tracebacks on errors')
    return parser.parse_args(argv)


def retrieve(args: argparse.Namespace) -> dict:
    from sdfn_plugin.apis import CIRInferencer
    if not osp.isfile(args.image):
        raise FileNotFoundError(f'reference image not found: {args.image!r} (--image)')
    if not args.text.strip():
        raise ValueError('the modification text is empty (--text)')
    inferencer = CIRInferencer(args.config, args.checkpoint, gallery=args.index, device=args.device)
    out = inferencer((args.image, args.text), topk=args.topk, exclude_reference=not args.keep_reference,
                     return_vis=bool(args.show_out))
    pred = out['predictions'][0]
    width = max((len(k) for k in pred['keys']), default=3)
    print(f'top-{len(pred["keys"])} of {len(inferencer.index)} gallery images for {args.image!r} + {args.text!r}:')
    for rank, (key, score) in enumerate(zip(pred['keys'], pred['scores']), 1):
        print(f'{rank:>3}  {score:+.4f}  {key:<{width}}')
    if args.show_out:
        from PIL import Image
        os.makedirs(osp.dirname(osp.abspath(args.show_out)), exist_ok=True)
        Image.fromarray(out['visualization'][0]).save(args.show_out, format='PNG')
        print(f'grid written to {args.show_out}')
    if args.json_out:
        os.makedirs(osp.dirname(osp.abspath(args.json_out)), exist_ok=True)
        with open(args.json_out, 'w') as f:
            json.dump({'image': args.image, 'text': args.text, 'keys': pred['keys'], 'scores': pred['scores']},
                      f, indent=2)
        print(f'results written to {args.json_out}')
    return pred


def main(argv=None) -> None:
    args = parse_args(argv)
    from sdfn_plugin.cli.common import run_main
    run_main(lambda: retrieve(args), args.debug)


if __name__ == '__main__':
    main()

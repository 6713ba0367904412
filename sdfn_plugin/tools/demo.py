"""A local demo page: ``python tools/demo.py CONFIG CHECKPOINT --index INDEX_DIR [--port 7860]
[--host 127.0.0.1]`` (``mim run sdfn_plugin demo ...``), then open http://127.0.0.1:7860.

Pick or upload a reference image, type a modification and see the top-k gallery images with their
scores. It listens on 127.0.0.1 (this machine only) unless ``--host`` says otherwise."""
import argparse


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Serve a local composed-retrieval demo page')
    from sdfn_plugin.cli.retrieval_args import add_model_and_index_args
    add_model_and_index_args(parser)
    parser.add_argument('--port', type=int, default=7860, help='port (default 7860; 0 = any free port)')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to bind (default 127.0.0.1; 0.0.0.0 exposes the page to the network)')
    parser.add_argument('--topk', type=int, default=10, help='default number of results (default 10)')
    parser.add_argument('--debug', action='store_true', help='show full tracebacks on errors')
    return parser.parse_args(argv)


def serve(args: argparse.Namespace) -> None:
    from sdfn_plugin.apis import CIRInferencer
    from sdfn_plugin.apis.demo_server import DemoApp, make_server
    inferencer = CIRInferencer(args.config, args.checkpoint, gallery=args.index, device=args.device)
    server = make_server(DemoApp(inferencer, args.topk), args.host, args.port)
    host, port = server.server_address[:2]
    print(f'demo of {len(inferencer.index)} gallery images at http://{host}:{port} (Ctrl+C stops it)', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print('stopped')
    finally:
        server.server_close()


def main(argv=None) -> None:
    args = parse_args(argv)
    from sdfn_plugin.cli.common import run_main
    run_main(lambda: serve(args), args.debug)


if __name__ == '__main__':
    main()

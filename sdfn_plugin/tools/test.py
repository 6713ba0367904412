"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--metrics-out FILE]`` (``--no-checkpoint``
for training-free models)
(``mim test sdfn_plugin CONFIG --checkpoint CHECKPOINT`` passes the checkpoint positionally)."""
import argparse
import json

from mmengine.dist import get_rank
from mmengine.runner import Runner


def parse_args(argv=None) -> argparse.Namespace:
    from sdfn_plugin.cli.common import add_checkpoint_args, add_common_args
    parser = argparse.ArgumentParser(description='Evaluate a composed image retrieval model')
    add_checkpoint_args(parser)
    parser.add_argument('--metrics-out', help='write the final metrics as flat JSON {"name": value}')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from sdfn_plugin.cli.common import load_test_config, run_main

    def _run():
        import sdfn_plugin  # noqa: F401
        cfg = load_test_config(args)
        metrics = Runner.from_cfg(cfg).test()
        if args.metrics_out and get_rank() == 0:
            flat = {k: float(v) for k, v in metrics.items()}
            with open(args.metrics_out, 'w') as f:
                json.dump(flat, f, indent=2, sort_keys=True)
            print(f'metrics written to {args.metrics_out}')

    run_main(_run, args.debug)


if __name__ == '__main__':
    main()

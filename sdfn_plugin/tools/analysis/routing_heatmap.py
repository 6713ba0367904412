"""Plot what SDFN's routers learned: mean routing per layer transition and the most frequent paths.

    python tools/analysis/routing_heatmap.py CONFIG CHECKPOINT --out routing.png [--paths-out paths.npy]

Runs the config's test split through the mmengine Runner (``mode='predict'`` returns each query's routing
probabilities as ``paths``), then writes a PNG heatmap with
:func:`sdfn_plugin.visualization.plot_routing_heatmap`.
"""
import argparse

import numpy as np
from mmengine.hooks import Hook


class _CollectPaths(Hook):
    priority = 'LOW'

    def __init__(self) -> None:
        self.paths = []

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        for out in outputs or []:
            if 'paths' not in out:
                raise KeyError("predictions carry no 'paths': the model's fusion is not SDFN "
                               '(only fusions with predict_aux_keys=("paths",) can be plotted)')
            self.paths.append(np.asarray(out['paths'], dtype=np.float32))


def parse_args(argv=None) -> argparse.Namespace:
    from sdfn_plugin.cli.common import add_checkpoint_args, add_common_args
    parser = argparse.ArgumentParser(description='Routing heatmap of a trained SDFN model')
    add_checkpoint_args(parser)
    parser.add_argument('--out', required=True, help='output PNG file')
    parser.add_argument('--paths-out', help='also save the (queries, P) routing matrix as .npy')
    parser.add_argument('--top', type=int, default=10, help='how many frequent paths to list')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from sdfn_plugin.cli.common import (build_runner, check_output_path, checkpoint_policy, load_test_config,
                                        run_main)

    def _run():
        import sdfn_plugin  # noqa: F401
        from sdfn_plugin.visualization import plot_routing_heatmap
        check_output_path(args.out, '--out')
        check_output_path(args.paths_out, '--paths-out')
        cfg = load_test_config(args)
        with checkpoint_policy(args):
            runner = build_runner(cfg)
            collector = _CollectPaths()
            runner.register_hook(collector)
            runner.test()
        paths = np.stack(collector.paths)
        fusion = (runner.model.module if hasattr(runner.model, 'module') else runner.model).fusion
        if args.paths_out:
            np.save(args.paths_out, paths)
        plot_routing_heatmap(paths, list(fusion.module_names), fusion.num_layers, args.out, top=args.top)
        print(f'routing heatmap of {len(paths)} queries written to {args.out}')

    run_main(_run, args.debug)


if __name__ == '__main__':
    main()

"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--metrics-out FILE] [--out RANKINGS.json]``
(``--no-checkpoint`` for training-free models)
(``mim test sdfn_plugin CONFIG --checkpoint CHECKPOINT`` passes the checkpoint positionally)."""
import argparse
import json

from mmengine.dist import get_rank


def parse_args(argv=None) -> argparse.Namespace:
    from sdfn_plugin.cli.common import add_checkpoint_args, add_common_args
    parser = argparse.ArgumentParser(description='Evaluate a composed image retrieval model')
    add_checkpoint_args(parser)
    parser.add_argument('--metrics-out', help='write the final metrics as flat JSON {"name": value}')
    parser.add_argument('--out', help='write each query\'s top-K gallery keys (image paths) and scores as JSON; '
                        'with several test datasets one file per dataset: <name>.<prefix>.json')
    parser.add_argument('--out-topk', type=int, default=None,
                        help='results per query in --out (default: all that the model returns, model.topk)')
    add_common_args(parser)
    return parser.parse_args(argv)


def add_rankings_output(cfg, out: str, topk=None) -> None:
    """Add a ``DumpRankings`` metric to the test evaluator(s) (one file per dataset of a multi-dataset loop)."""
    import os.path as osp
    evaluator = cfg.test_evaluator
    if isinstance(cfg.test_dataloader, (list, tuple)):  # MultiTestLoop: one evaluator per dataloader
        stem, ext = osp.splitext(out)
        evaluators = []
        for i, ev in enumerate(evaluator):
            metrics = list(ev) if isinstance(ev, (list, tuple)) else [ev]
            prefix = metrics[0].get('prefix') or str(i)
            evaluators.append(metrics + [dict(type='DumpRankings', out_file=f'{stem}.{prefix}{ext or ".json"}',
                                              topk=topk)])
        cfg.test_evaluator = evaluators
    else:
        metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
        cfg.test_evaluator = metrics + [dict(type='DumpRankings', out_file=out, topk=topk)]


def main(argv=None) -> None:
    args = parse_args(argv)
    from sdfn_plugin.cli.common import build_runner, check_output_path, checkpoint_policy, load_test_config, run_main

    def _run():
        import sdfn_plugin  # noqa: F401
        check_output_path(args.metrics_out, '--metrics-out')
        cfg = load_test_config(args)
        if args.out:
            check_output_path(args.out, '--out')
            add_rankings_output(cfg, args.out, args.out_topk)
        with checkpoint_policy(args):
            metrics = build_runner(cfg).test()
        if args.metrics_out and get_rank() == 0:
            flat = {k: float(v) for k, v in metrics.items()}
            with open(args.metrics_out, 'w') as f:
                json.dump(flat, f, indent=2, sort_keys=True)
            print(f'metrics written to {args.metrics_out}')

    run_main(_run, args.debug)


if __name__ == '__main__':
    main()

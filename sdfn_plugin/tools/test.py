"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--metrics-out FILE] [--out RANKINGS.json]
[--submission DIR]`` (``--no-checkpoint`` for training-free models)
(``mim test sdfn_plugin CONFIG --checkpoint CHECKPOINT`` passes the checkpoint positionally)."""
import argparse
import json
import os.path as osp
from typing import Callable, Optional

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
    parser.add_argument('--submission', metavar='DIR',
                        help="write the evaluation server's file(s) of the test dataset into DIR (e.g. CIRR test1) "
                        'and validate them; with several test datasets one sub-folder per dataset: DIR/<prefix>')
    add_common_args(parser)
    return parser.parse_args(argv)


def _append_per_dataset(cfg, metric_for: Callable[[int, Optional[str]], dict]) -> None:
    """Append ``metric_for(i, name)`` to the test evaluator of each test dataloader ``i``; ``name`` (for
    naming that dataset's output) is its first metric's prefix or position with several dataloaders
    (a MultiTestLoop), ``None`` with one."""
    multi = isinstance(cfg.test_dataloader, (list, tuple))
    evaluator = cfg.test_evaluator
    evaluators = [list(ev) if isinstance(ev, (list, tuple)) else [ev] for ev in evaluator] if multi else \
        [list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]]
    loaders = list(cfg.test_dataloader) if multi else [cfg.test_dataloader]
    if len(evaluators) != len(loaders):
        raise ValueError(f'{len(loaders)} test dataloaders but {len(evaluators)} test evaluators; give one per dataloader')
    for i, metrics in enumerate(evaluators):
        metrics.append(metric_for(i, str(metrics[0].get('prefix') or i) if multi else None))
    cfg.test_evaluator = evaluators if multi else evaluators[0]


def add_rankings_output(cfg, out: str, topk=None) -> None:
    """Add a ``DumpRankings`` metric to the test evaluator(s) (one file per dataset of a multi-dataset loop:
    ``<stem>.<name><ext>``)."""
    stem, ext = osp.splitext(out)
    _append_per_dataset(cfg, lambda i, name: dict(
        type='DumpRankings', out_file=out if name is None else f'{stem}.{name}{ext or ".json"}', topk=topk))


def add_submission_output(cfg, out_dir: str) -> None:
    """Append each test dataset's ``submission_metric`` (``dict(type=..., out_dir=...)``) to its evaluator.

    The metric type comes from the dataset class (``BaseCIRDataset.submission_metric``); a dataset without one
    is an error naming its class. Several test dataloaders write to ``out_dir/<metric prefix or position>``."""
    from sdfn_plugin.registry import DATASETS
    from sdfn_plugin.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    loaders = list(cfg.test_dataloader) if isinstance(cfg.test_dataloader, (list, tuple)) else [cfg.test_dataloader]

    def submission_metric(i: int, name: Optional[str]) -> dict:
        ds_type = loaders[i]['dataset']['type']
        cls = DATASETS.get(ds_type) if isinstance(ds_type, str) else ds_type
        if cls is None:
            raise KeyError(f'--submission: test dataset type {ds_type!r} is not registered')
        metric = getattr(cls, 'submission_metric', None)
        if metric is None:
            raise ValueError(f'--submission: the test dataset {cls.__name__} has no evaluation-server format '
                             '(its submission_metric is None); submissions exist for e.g. CIRRDataset (test1)')
        return dict(type=metric, out_dir=out_dir if name is None else osp.join(out_dir, name))

    _append_per_dataset(cfg, submission_metric)


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
        if args.submission:
            if osp.isfile(args.submission):
                raise NotADirectoryError(f'--submission {args.submission} is a file; give a folder')
            add_submission_output(cfg, args.submission)
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

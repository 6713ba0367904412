"""Shared command-line plumbing of the tools in ``sdfn_plugin/tools`` (train, test, print_config...)."""
import argparse
import os
import os.path as osp
import sys
import traceback
from typing import Callable

from mmengine.config import Config, DictAction


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='folder for logs and checkpoints (default ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_epochs=2 (key=value, dotted keys)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (pytorch: torchrun / torch.distributed.launch)')
    # torch.distributed.launch passes --local-rank; torchrun only sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true', help='show full tracebacks on errors')


def load_config(args: argparse.Namespace) -> Config:
    from sdfn_plugin.engine.cpu_malloc import configure_from_env_cfg

    from sdfn_plugin.cli.config_check import check_config
    from sdfn_plugin.cli.config_file import load_config_file
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = load_config_file(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    check_config(cfg, args.config)
    # before the Runner allocates anything: the CPU allocator policy of this process and its workers
    configure_from_env_cfg(cfg.get('env_cfg'))
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config.split('::')[-1]))[0])
    return cfg


def add_checkpoint_args(parser: argparse.ArgumentParser) -> None:
    """The ``config checkpoint`` positionals of evaluation tools (mim test passes the checkpoint positionally)."""
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file')
    # mim test insists on --checkpoint: there, `--checkpoint none` means the same as --no-checkpoint
    parser.add_argument('--no-checkpoint', action='store_true',
                        help='evaluate the model as the config builds it (training-free models, e.g. zero-shot)')


def load_test_config(args: argparse.Namespace) -> Config:
    """Config of an evaluation tool: the checkpoint must exist and becomes ``load_from``
    (none with ``--no-checkpoint`` or the checkpoint ``none``)."""
    if args.no_checkpoint and args.checkpoint is not None:
        raise ValueError(f'give a checkpoint ({args.checkpoint!r}) or --no-checkpoint, not both')
    if args.no_checkpoint or (args.checkpoint is not None and args.checkpoint.lower() == 'none'
                              and not osp.isfile(args.checkpoint)):
        return load_config(args)
    if args.checkpoint is None:
        raise ValueError('no checkpoint given: pass CHECKPOINT, or --no-checkpoint for a model that needs no training '
                         '(e.g. the zero-shot configs; with mim test: --checkpoint none)')
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint!r}')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    return cfg


def run_main(fn: Callable[[], None], debug: bool) -> None:
    """Run ``fn``; on failure print one clear last line (full traceback with --debug)."""
    try:
        fn()
    except KeyboardInterrupt:
        print('interrupted: resume with --resume (loses at most the work since the last checkpoint)',
              file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - the CLI boundary
        if debug or os.environ.get('SDFN_DEBUG') == '1':
            traceback.print_exc()
        print(f'error: {type(err).__name__}: {err}', file=sys.stderr)
        sys.exit(1)

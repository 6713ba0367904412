"""Shared command-line plumbing of the tools in ``sdfn_plugin/tools`` (train, test, print_config...)."""
import argparse
import os
import os.path as osp
import sys
import traceback
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from mmengine.config import Config, DictAction


class KeyValueAction(DictAction):
    """mmengine's ``DictAction`` with a clear argparse error for an item without ``=``."""

    def __call__(self, parser, namespace, values, option_string=None):
        for kv in values:
            if '=' not in kv:
                raise argparse.ArgumentError(self, f'{kv!r} is not KEY=VALUE (e.g. train_cfg.max_epochs=2)')
        super().__call__(parser, namespace, values, option_string)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='folder for logs and checkpoints (default ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=KeyValueAction,
                        help='override config entries, e.g. train_cfg.max_epochs=2 (key=value, dotted keys)')
    add_load_args(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (pytorch: torchrun / torch.distributed.launch)')
    # torch.distributed.launch passes --local-rank; torchrun only sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true', help='show full tracebacks on errors')


def add_load_args(parser: argparse.ArgumentParser) -> None:
    """``--allow-partial`` and ``--unsafe-load``: how this run loads checkpoints (see :func:`checkpoint_policy`)."""
    parser.add_argument('--allow-partial', action='store_true',
                        help='load the matching part of a checkpoint whose keys or shapes differ from the model '
                             '(logs what was skipped); default: such a checkpoint is an error')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='unpickle checkpoints fully (weights_only=False); a crafted file can run code: only for '
                             'files you trust that safe loading refuses')


@contextmanager
def checkpoint_policy(args: argparse.Namespace) -> Iterator[None]:
    """Apply the run's ``--allow-partial`` / ``--unsafe-load`` to every checkpoint loaded in the block
    (Runner resume/load_from, ensemble members, ``init_cfg`` Pretrained)."""
    from sdfn_plugin.utils.checkpoint import load_policy
    with load_policy(allow_partial=getattr(args, 'allow_partial', False),
                     unsafe=getattr(args, 'unsafe_load', False)):
        yield


def check_output_path(path: Optional[str], flag: str) -> None:
    """Fail before any work when an output file's folder does not exist (or the path is a folder)."""
    if path is None:
        return
    folder = osp.dirname(osp.abspath(path))
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{flag} {path}: the folder {folder} does not exist')
    if osp.isdir(path):
        raise IsADirectoryError(f'{flag} {path} is a folder; give a file name')


def build_runner(cfg: Config):
    """The config's Runner: ``runner_type`` (``CIRRunner`` from ``_base_/default_runtime.py``) from the
    ``sdfn_plugin`` runner registry, whose checkpoint loads are safe and strict."""
    from sdfn_plugin.registry import RUNNERS
    if cfg.get('runner_type') is None:
        # configs written before runner_type existed (or not inheriting default_runtime) still get the safe
        # loader: mmengine's plain Runner cannot read a full checkpoint's message hub under weights_only=True
        cfg.runner_type = 'CIRRunner'
    return RUNNERS.build(cfg)


def load_config(args: argparse.Namespace) -> Config:
    from sdfn_plugin.cli.config_file import load_config_file
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = load_config_file(args.config)
    # imported after the file is read: a missing or unparsable config fails at once, not after torch's imports
    from sdfn_plugin.cli.config_check import check_config
    from sdfn_plugin.engine.cpu_malloc import configure_from_env_cfg
    if args.cfg_options:
        from .data_root import merge_cfg_options
        merge_cfg_options(cfg, args.cfg_options)  # data_root=... reaches every dataset (see data_root.py)
    check_config(cfg, args.config)
    # before the Runner allocates anything: the CPU allocator policy of this process and its workers
    configure_from_env_cfg(cfg.get('env_cfg'))
    cfg.launcher = args.launcher
    _cpu_process_group(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config.split('::')[-1]))[0])
    return cfg


def _cpu_process_group(cfg: Config) -> None:
    """``--launcher pytorch`` on a machine without CUDA (CPU DDP, e.g. a smoke run under torchrun).

    mmengine's pytorch launcher calls ``torch.cuda.set_device`` and fails there, and its DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU modules. The Runner reuses an initialised process
    group, so it is created here (gloo: nccl needs GPUs), and the wrapper gets ``device_ids=None``."""
    import torch
    import torch.distributed as dist
    if cfg.launcher != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group('gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


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
    from sdfn_plugin.utils.checkpoint import check_checkpoint_file
    check_checkpoint_file(args.checkpoint)
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

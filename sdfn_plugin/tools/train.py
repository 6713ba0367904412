"""Train a composed image retrieval model with the mmengine Runner.

Run directly (``python tools/train.py CONFIG``) or through openmim
(``mim train sdfn_plugin CONFIG``), which finds this file inside the installed
package. Multi-GPU: ``torchrun --nproc-per-node G tools/train.py CONFIG --launcher pytorch``.
"""
import argparse


def parse_args(argv=None) -> argparse.Namespace:
    from sdfn_plugin.cli.common import add_common_args
    parser = argparse.ArgumentParser(description='Train a composed image retrieval model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CHECKPOINT, or from the latest checkpoint of the work dir if no path given')
    parser.add_argument('--amp', action='store_true', help='mixed precision (AmpOptimWrapper)')
    parser.add_argument('--no-validate', action='store_true', help='skip evaluation during training')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale lr by the total batch size')
    add_common_args(parser)
    return parser.parse_args(argv)


def build_cfg(args: argparse.Namespace):
    from sdfn_plugin.cli.common import load_config
    cfg = load_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        from sdfn_plugin.utils.checkpoint import check_checkpoint_file
        cfg.resume, cfg.load_from = True, check_checkpoint_file(args.resume)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    from sdfn_plugin.cli.common import build_runner, checkpoint_policy, run_main

    def _run():
        import sdfn_plugin  # noqa: F401  (registries)
        cfg = build_cfg(args)
        with checkpoint_policy(args):
            build_runner(cfg).train()

    run_main(_run, args.debug)


if __name__ == '__main__':
    main()

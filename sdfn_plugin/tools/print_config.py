"""Print the fully merged config: ``python tools/print_config.py CONFIG [--cfg-options k=v ...] [--out FILE]``.

Through openmim: ``mim run sdfn_plugin print_config CONFIG``. ``CONFIG`` is a path, or a shipped config named
with the package prefix (``sdfn_plugin::sdfn_css.py``). Inherited ``_base_`` files and ``--cfg-options`` are
applied and the config is checked as ``tools/train.py`` checks it, so what is printed is what a run gets.
"""
import argparse


def parse_args(argv=None) -> argparse.Namespace:
    from sdfn_plugin.cli.common import KeyValueAction
    parser = argparse.ArgumentParser(description='Print the merged config of a composed image retrieval run')
    parser.add_argument('config', help="config file path, or a shipped config such as 'sdfn_plugin::sdfn_css.py'")
    parser.add_argument('--cfg-options', nargs='+', action=KeyValueAction,
                        help='override config entries, e.g. train_cfg.max_epochs=2 (key=value, dotted keys)')
    parser.add_argument('--out', help='also write the merged config to this .py/.json/.yml file')
    parser.add_argument('--debug', action='store_true', help='show full tracebacks on errors')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from sdfn_plugin.cli.common import check_output_path, run_main

    def _run():
        check_output_path(args.out, '--out')
        from sdfn_plugin.cli.config_check import check_config
        from sdfn_plugin.cli.config_file import load_config_file
        cfg = load_config_file(args.config)
        if args.cfg_options:
            from sdfn_plugin.cli.data_root import merge_cfg_options
            merge_cfg_options(cfg, args.cfg_options)  # as train/test do: data_root=... reaches every dataset
        check_config(cfg, args.config)
        print(cfg.pretty_text)
        if args.out:
            cfg.dump(args.out)
            print(f'config written to {args.out}')

    run_main(_run, args.debug)


if __name__ == '__main__':
    main()

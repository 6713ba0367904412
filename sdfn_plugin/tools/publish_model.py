"""Publish a trained checkpoint: ``python tools/publish_model.py IN.pth OUT_NAME``
(``mim run sdfn_plugin publish_model IN.pth OUT_NAME``).

Keeps the model weights and drops what only training needs: the optimizer and
scheduler states, the message hub, EMA's raw copy (``ema_state_dict``; the
``state_dict`` of an EMA run already holds the evaluated EMA weights) and SDFN's
path memory (one row per training sample, Eq. 4 of arXiv 2405.15451). Writes
``OUT_NAME-<first 8 hex digits of its sha256>.pth``, loadable with
``torch.load(weights_only=True)`` and :func:`sdfn_plugin.apis.get_model`.
"""
import argparse
import hashlib
import os
import os.path as osp
from typing import Any, Dict, List, Tuple

import torch


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Strip a training checkpoint for release')
    parser.add_argument('in_file', help='training checkpoint (.pth)')
    parser.add_argument('out_name', help='output name without the hash, e.g. work_dirs/tirg_css (".pth" is dropped)')
    parser.add_argument('--debug', action='store_true', help='show full tracebacks on errors')
    return parser.parse_args(argv)


def strip_checkpoint(ckpt: Dict[str, Any], source: str) -> Tuple[Dict[str, Any], List[str]]:
    """The published dict (``state_dict`` + a small ``meta``) and the names of what was dropped."""
    from sdfn_plugin.utils.checkpoint import state_dict_of
    from sdfn_plugin.models.losses.path_memory import path_memory_keys
    from sdfn_plugin.version import __version__
    state = dict(state_dict_of(ckpt, source))
    memory = path_memory_keys(state)
    for key in memory:
        del state[key]
    dropped = [k for k in ckpt if k not in ('state_dict', 'meta')] + memory
    old_meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    # the config text lets users see how the model was built; dataset_meta names the benchmark
    meta = {k: old_meta[k] for k in ('cfg', 'dataset_meta', 'mmengine_version', 'epoch', 'iter') if k in old_meta}
    meta['sdfn_plugin_version'] = __version__
    return {'state_dict': state, 'meta': meta}, dropped


def publish(in_file: str, out_name: str) -> str:
    """Write the stripped checkpoint and return its path."""
    from sdfn_plugin.utils.checkpoint import load_checkpoint_file
    published, dropped = strip_checkpoint(load_checkpoint_file(in_file), in_file)
    if out_name.endswith('.pth'):
        out_name = out_name[:-len('.pth')]
    os.makedirs(osp.dirname(osp.abspath(out_name)), exist_ok=True)
    tmp = f'{out_name}.tmp.pth'
    torch.save(published, tmp)
    with open(tmp, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    final = f'{out_name}-{digest[:8]}.pth'
    os.replace(tmp, final)
    size_in, size_out = osp.getsize(in_file), osp.getsize(final)
    print(f'dropped: {", ".join(dropped) if dropped else "nothing"}')
    print(f'{in_file} ({size_in / 2**20:.2f} MiB) -> {final} ({size_out / 2**20:.2f} MiB), sha256 {digest}')
    return final


def main(argv=None) -> None:
    args = parse_args(argv)
    from sdfn_plugin.cli.common import run_main
    run_main(lambda: publish(args.in_file, args.out_name), args.debug)


if __name__ == '__main__':
    main()

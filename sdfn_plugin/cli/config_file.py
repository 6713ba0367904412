"""Load a config file from any directory, with ``_base_`` entries that name shipped configs.

A user's config may inherit the configs shipped inside the installed package with the package prefix, e.g.::

    _base_ = ['sdfn_plugin::sdfn_css.py']                     # a method config
    _base_ = ['sdfn_plugin::_base_/models/sdfn_r50_lstm.py']  # or any file under sdfn_plugin/configs

mmengine 0.10.7 spells external bases the same way (``mmdet::...``), but only for the packages of its own
``MODULE2PACKAGE`` table and only for the ``.mim`` layout; for ``sdfn_plugin`` it stops with "mmengine does not
support to load sdfn_plugin config". :func:`load_config_file` resolves the prefix itself: while it parses, it
wraps mmengine's base-path lookup (restored afterwards, so nothing global changes) and maps the prefix to the
``configs`` folder next to this package's own ``__init__.py``. That folder is where the configs are in a
regular install, an editable install and a checkout on ``PYTHONPATH`` alike (no ``pkg_resources`` lookup).
"""
import contextlib
import os.path as osp
from typing import Iterator, Optional, Tuple

from mmengine.config import Config

PACKAGE_PREFIX = 'sdfn_plugin::'


def shipped_config_dir() -> str:
    """The ``configs`` folder of the imported ``sdfn_plugin`` package."""
    return osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')


def resolve_config_path(path: str) -> str:
    """``sdfn_plugin::<relative path>`` -> the shipped file; any other path is returned unchanged.

    Raises:
        FileNotFoundError: the prefixed file is not among the shipped configs (names the folder searched).
    """
    if not path.startswith(PACKAGE_PREFIX):
        return path
    rel = path[len(PACKAGE_PREFIX):]
    root = shipped_config_dir()
    full = osp.normpath(osp.join(root, rel))
    if osp.isabs(rel) or not full.startswith(root + osp.sep):
        raise ValueError(f'{path!r}: the part after {PACKAGE_PREFIX!r} must be a path relative to {root}')
    if not osp.isfile(full):
        raise FileNotFoundError(f'{path!r}: no shipped config {rel!r} in {root} '
                                "(names as in `mim search sdfn_plugin --field config`, e.g. 'sdfn_css.py')")
    return full


@contextlib.contextmanager
def package_bases() -> Iterator[None]:
    """While active, ``Config.fromfile`` resolves ``_base_`` entries that start with ``sdfn_plugin::``."""
    raw = Config.__dict__['_get_cfg_path']  # the staticmethod object itself, restored unchanged
    original = raw.__func__

    def _get_cfg_path(cfg_path: str, filename: str) -> Tuple[str, Optional[str]]:
        if cfg_path.startswith(PACKAGE_PREFIX):
            # scope None: the shipped bases already set default_scope='sdfn_plugin', as a local base would
            return resolve_config_path(cfg_path), None
        return original(cfg_path, filename)

    Config._get_cfg_path = staticmethod(_get_cfg_path)
    try:
        yield
    finally:
        Config._get_cfg_path = raw


def load_config_file(path: str) -> Config:
    """``Config.fromfile`` for a config anywhere on disk or a shipped one (``sdfn_plugin::sdfn_css.py``)."""
    full = resolve_config_path(path)
    if not osp.isfile(full):
        raise FileNotFoundError(f'config file not found: {path!r}')
    with package_bases():
        return Config.fromfile(full)

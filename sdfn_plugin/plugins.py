"""Discovery of third-party components through the ``sdfn_plugin.plugins`` entry-point group.

A distribution declares, e.g. in its ``pyproject.toml``::

    [project.entry-points."sdfn_plugin.plugins"]
    myext = "myext.sdfn"          # a module whose import registers components
    other = "other.pkg:register"  # or a callable, called once

Loading is lazy: this module is listed in the ``locations`` of the registries
plugins extend (``MODELS``, ``DATASETS``, ``TRANSFORMS``, ``METRICS``,
``HOOKS``), so it runs on the first build. A failing plugin emits a warning and
the host keeps working; ``SDFN_PLUGIN_AUTOLOAD=0`` turns discovery off.
Entry points live in the distribution's metadata: changing them needs a reinstall.
"""
import os
import warnings
from importlib.metadata import entry_points
from typing import Dict

GROUP = 'sdfn_plugin.plugins'
_loaded: Dict[str, str] = {}


def load_plugins(force: bool = False) -> Dict[str, str]:
    """Load every plugin once; returns ``{entry point name: 'ok' | error text}``."""
    if os.environ.get('SDFN_PLUGIN_AUTOLOAD', '1') == '0':
        return {}
    if _loaded and not force:
        return dict(_loaded)
    for ep in entry_points(group=GROUP):
        try:
            obj = ep.load()
            if ep.attr and callable(obj):
                obj()
            _loaded[ep.name] = 'ok'
        except Exception as err:  # a broken plugin must not break the host
            _loaded[ep.name] = f'{type(err).__name__}: {err}'
            warnings.warn(f'sdfn_plugin: plugin {ep.name!r} ({ep.value}) failed to load: {err}', stacklevel=2)
    return dict(_loaded)


load_plugins()

"""Helpers for using the package outside a Runner (scripts, notebooks, tests)."""
from mmengine.registry import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every module that registers components and set the default scope.

    Runners do this through ``default_scope='sdfn_plugin'``; scripts that build
    components directly from configs call this first.
    """
    import sdfn_plugin.datasets  # noqa: F401
    import sdfn_plugin.engine  # noqa: F401
    import sdfn_plugin.evaluation  # noqa: F401
    import sdfn_plugin.models  # noqa: F401
    import sdfn_plugin.plugins  # noqa: F401
    if init_default_scope:
        never_created = DefaultScope.get_current_instance() is None or \
            not DefaultScope.check_instance_created('sdfn_plugin')
        if never_created:
            DefaultScope.get_instance('sdfn_plugin', scope_name='sdfn_plugin')

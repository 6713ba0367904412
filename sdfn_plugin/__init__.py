"""sdfn_plugin: composed image retrieval for the OpenMMLab stack (SDFN and baselines)."""
from .version import __version__
from .utils import register_all_modules

__all__ = ['__version__', 'register_all_modules']

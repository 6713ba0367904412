from .hooks import *  # noqa: F401,F403
from .loops import MultiTestLoop, MultiValLoop, summarize_subsets  # noqa: F401

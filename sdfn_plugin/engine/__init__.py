from .hooks import *  # noqa: F401,F403
from .loops import MultiTestLoop, MultiValLoop, summarize_subsets  # noqa: F401
from .autocast_optim_wrapper import AutocastOptimWrapper  # noqa: F401
from .runner import CIRRunner  # noqa: F401

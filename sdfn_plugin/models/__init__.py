from .encoders import *  # noqa: F401,F403
from .fusions import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .retrievers import *  # noqa: F401,F403
from .scorers import *  # noqa: F401,F403
from .weight_init import SafePretrainedInit  # noqa: F401

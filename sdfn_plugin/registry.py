"""Child registries of every mmengine root registry, scoped ``sdfn_plugin``.

One file, mmpretrain style. ``locations`` makes registration lazy: the first
``build``/``get`` imports the listed modules, so a training script that never
imports the package still finds ``type='TIRG'`` under ``default_scope``.
Third-party plugins (entry-point group ``sdfn_plugin.plugins``) are loaded on
the same occasion through :mod:`sdfn_plugin.plugins`.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

_PLUGINS = 'sdfn_plugin.plugins'

RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, locations=['sdfn_plugin.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS, locations=['sdfn_plugin.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['sdfn_plugin.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['sdfn_plugin.engine', _PLUGINS])
STRATEGIES = Registry('strategy', parent=MMENGINE_STRATEGIES, locations=['sdfn_plugin.engine'])

DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['sdfn_plugin.datasets', _PLUGINS])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS, locations=['sdfn_plugin.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, locations=['sdfn_plugin.datasets', _PLUGINS])

# Encoders, fusion blocks, routers, scorers and losses all live in MODELS (mmpretrain convention).
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['sdfn_plugin.models', _PLUGINS])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['sdfn_plugin.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, locations=['sdfn_plugin.models'])

OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, locations=['sdfn_plugin.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=['sdfn_plugin.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, locations=['sdfn_plugin.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, locations=['sdfn_plugin.engine'])

METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['sdfn_plugin.evaluation', _PLUGINS])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR, locations=['sdfn_plugin.evaluation'])

TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, locations=['sdfn_plugin.models'])
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS, locations=['sdfn_plugin.engine'])
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS, locations=['sdfn_plugin.engine'])
LOG_PROCESSORS = Registry('log_processor', parent=MMENGINE_LOG_PROCESSORS, locations=['sdfn_plugin.engine'])
INFERENCERS = Registry('inferencer', parent=MMENGINE_INFERENCERS, locations=['sdfn_plugin.engine'])
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS, locations=['sdfn_plugin.datasets'])

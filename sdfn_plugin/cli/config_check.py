"""Boundary checks on a loaded config, before the Runner builds anything."""
import difflib
import inspect
from typing import Iterator, Optional, Tuple

from mmengine.config import Config
from mmengine.runner import Runner


def runner_keys() -> set:
    return set(inspect.signature(Runner.__init__).parameters) - {'self'} | {'runner_type'}


def check_config(cfg: Config, path: str) -> None:
    """Reject top-level keys that look like misspelt Runner sections.

    Old-style configs legitimately define helper variables (``data_root``,
    ``train_pipeline``...), so unknown keys are allowed unless they are close to
    a Runner argument -- a typo such as ``train_dataloder`` would otherwise be
    silently ignored and the run would train on nothing or on defaults.
    """
    known = runner_keys()
    for key in cfg.keys():
        if key in known or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
        if close:
            raise KeyError(f'{path}: unknown top-level key {key!r}; did you mean {close[0]!r}?')
    if cfg.get('default_scope') != 'sdfn_plugin':
        raise ValueError(f"{path}: default_scope must be 'sdfn_plugin' (inherit configs/_base_/default_runtime.py), "
                         f'got {cfg.get("default_scope")!r}')
    if 'model' not in cfg:
        raise KeyError(f'{path}: no model section')
    check_metric_topk(cfg, path)


def _model_topk(model_cfg) -> Optional[int]:
    """``model.topk``, or the model class's default; ``None`` if the model has no such setting."""
    if 'topk' in model_cfg:
        return model_cfg['topk']
    from sdfn_plugin.registry import MODELS
    name = str(model_cfg.get('type', ''))
    cls = MODELS.get(name.split('.', 1)[1] if name.startswith('sdfn_plugin.') else name)
    if cls is None:
        return None
    param = inspect.signature(cls.__init__).parameters.get('topk')
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def _metric_topks(evaluator, where: str) -> Iterator[Tuple[str, tuple]]:
    """``(config path, K values)`` of every metric with a ``topk`` in an evaluator section
    (a metric dict, a list of them, or ``dict(metrics=...)``)."""
    if isinstance(evaluator, (list, tuple)):
        for i, item in enumerate(evaluator):
            yield from _metric_topks(item, f'{where}[{i}]')
    elif isinstance(evaluator, dict):
        if 'metrics' in evaluator:
            yield from _metric_topks(evaluator['metrics'], f'{where}.metrics')
        elif 'topk' in evaluator:
            topk = evaluator['topk']
            yield where, tuple(topk) if isinstance(topk, (list, tuple)) else (topk, )


def check_metric_topk(cfg: Config, path: str) -> None:
    """A metric K above ``model.topk`` is an error: the model returns only ``model.topk``
    gallery indices per query, so R@K would silently equal R@topk."""
    model_topk = _model_topk(cfg.model)
    if not isinstance(model_topk, int):
        return
    for section in ('val_evaluator', 'test_evaluator'):
        for where, ks in _metric_topks(cfg.get(section), section):
            too_big = [k for k in ks if isinstance(k, int) and k > model_topk]
            if too_big:
                raise ValueError(
                    f'{path}: {where}.topk asks for K = {max(too_big)} but model.topk = {model_topk}: the model '
                    f'returns only {model_topk} gallery indices per query, so R@{max(too_big)} would silently '
                    f'equal R@{model_topk}; set model.topk >= {max(too_big)} or drop it from {where}.topk')

"""Validation/test over several evaluation datasets, each with its own gallery and evaluator.

FashionIQ ranks every query against the gallery of its own category
(``docs/datasets.md``, FashionIQ evaluation), so the three categories are three
evaluation datasets. mmengine's ``ValLoop``/``TestLoop`` take one dataloader;
these loops take a list, run them one after the other (``PrepareGalleryHook``
installs the first dataset's gallery at ``before_*_epoch``; the loop makes the
model re-encode the gallery of each later dataset),
merge the metrics of the per-dataset evaluators (whose prefixes must differ,
e.g. the category names) and add the protocol summary::

    val_cfg = dict(type='MultiValLoop', summary=dict(name='avg', keys=('R@10', 'R@50')))
    val_dataloader = [dict(..., dataset=dict(type='FashionIQDataset', split='val', categories='dress')), ...]
    val_evaluator = [dict(type='RecallAtK', topk=(10, 50), prefix='dress'), ...]

gives ``dress/R@10``, ``dress/R@50``, ..., ``avg/R@10``, ``avg/R@50`` (unweighted
means over the datasets, as in the FashionIQ tables) and ``avg`` = the mean of
the ``avg/*`` values = (avg R@10 + avg R@50) / 2.
"""
import copy
from typing import Dict, List, Optional, Sequence, Union

from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.runner import TestLoop, ValLoop
from torch.utils.data import DataLoader

from sdfn_plugin.registry import LOOPS

from .hooks.prepare_gallery_hook import prepare_evaluation_gallery

__all__ = ['MultiValLoop', 'MultiTestLoop', 'summarize_subsets']


def summarize_subsets(metrics: Dict[str, float], prefixes: Sequence[str], keys: Sequence[str],
                      name: str = 'avg') -> Dict[str, float]:
    """``{name}/{key}`` = unweighted mean over ``prefixes`` of ``{prefix}/{key}``,
    and ``name`` = the mean of those values.

    >>> m = {'dress/R@10': 10.0, 'dress/R@50': 30.0, 'shirt/R@10': 20.0, 'shirt/R@50': 40.0}
    >>> summarize_subsets(m, ['dress', 'shirt'], ['R@10', 'R@50'])
    {'avg/R@10': 15.0, 'avg/R@50': 35.0, 'avg': 25.0}
    """
    if not prefixes or not keys:
        raise ValueError('summarize_subsets needs at least one prefix and one key')
    out = {}
    for key in keys:
        missing = [f'{p}/{key}' for p in prefixes if f'{p}/{key}' not in metrics]
        if missing:
            raise KeyError(f'summary over {list(prefixes)}: metrics {missing} not found (have {sorted(metrics)}); '
                           "check the evaluators' prefix and topk")
        out[f'{name}/{key}'] = sum(float(metrics[f'{p}/{key}']) for p in prefixes) / len(prefixes)
    out[name] = sum(out[f'{name}/{key}'] for key in keys) / len(keys)
    return out


class _MultiEvalMixin:
    """Shared by :class:`MultiValLoop` and :class:`MultiTestLoop`."""

    _stage = 'val'

    def __init__(self, runner, dataloader: Union[Sequence, dict, DataLoader],
                 evaluator: Union[Sequence, dict, Evaluator], fp16: bool = False,
                 summary: Optional[dict] = None) -> None:
        self._setup(runner, dataloader, evaluator, summary)
        # the mmengine loop (next in the MRO) keeps the first built pair as dataloader/evaluator
        super().__init__(runner, self.dataloaders[0], self.evaluators[0], fp16=fp16)

    def run(self) -> dict:
        return self._run_all()

    def _setup(self, runner, dataloader, evaluator, summary: Optional[dict]) -> None:
        loaders = list(dataloader) if isinstance(dataloader, (list, tuple)) else [dataloader]
        if not loaders:
            raise ValueError(f'{type(self).__name__}: the {self._stage}_dataloader list is empty')
        if isinstance(evaluator, (list, tuple)) and len(evaluator) == len(loaders):
            evaluators = list(evaluator)  # one evaluator config (dict or list of metrics) per dataloader
        elif isinstance(evaluator, (dict, Evaluator)) and len(loaders) == 1:
            evaluators = [evaluator]
        else:
            n = len(evaluator) if isinstance(evaluator, (list, tuple)) else 1
            raise ValueError(f'{type(self).__name__}: give one {self._stage}_evaluator per {self._stage} dataloader '
                             f'(got {n} evaluator(s) for {len(loaders)} dataloader(s)); each with its own '
                             "metric prefix, e.g. dict(type='RecallAtK', topk=(10, 50), prefix='dress')")
        diff_rank_seed = runner._randomness_cfg.get('diff_rank_seed', False)
        self.dataloaders: List[DataLoader] = [
            runner.build_dataloader(copy.deepcopy(d), seed=runner.seed, diff_rank_seed=diff_rank_seed)
            if isinstance(d, dict) else d for d in loaders]
        self.evaluators: List[Evaluator] = [e if isinstance(e, Evaluator) else runner.build_evaluator(e)
                                            for e in evaluators]
        prefixes = []
        for loader, ev in zip(self.dataloaders, self.evaluators):
            if hasattr(loader.dataset, 'metainfo'):
                ev.dataset_meta = loader.dataset.metainfo
            names = [m.prefix for m in ev.metrics]
            prefixes.append(names[0] if names else None)
        if len(self.dataloaders) > 1 and (None in prefixes or len(set(prefixes)) != len(prefixes)):
            raise ValueError(f'{type(self).__name__}: the per-dataloader evaluators need distinct metric prefixes '
                             f'(got {prefixes}); set prefix=<category> in each')
        self.prefixes = prefixes
        if summary is not None:
            summary = dict(summary)
            unknown = set(summary) - {'name', 'keys'}
            if unknown or 'keys' not in summary:
                raise ValueError(f"{type(self).__name__}.summary must be dict(name='avg', keys=('R@10', 'R@50')), "
                                 f'got {summary}')
            summary.setdefault('name', 'avg')
        self.summary = summary

    def _run_all(self) -> dict:
        call = self.runner.call_hook
        stage = self._stage
        call(f'before_{stage}')
        metrics: Dict[str, float] = {}
        losses = self.val_loss if stage == 'val' else self.test_loss
        losses.clear()
        for i, (loader, evaluator) in enumerate(zip(self.dataloaders, self.evaluators)):
            self.dataloader, self.evaluator = loader, evaluator
            if i == 0:
                call(f'before_{stage}_epoch')
            else:  # the model's gallery must be this dataset's
                prepare_evaluation_gallery(self.runner.model, loader)
            self.runner.model.eval()
            for idx, data_batch in enumerate(loader):
                self.run_iter(idx, data_batch)
            part = evaluator.evaluate(len(loader.dataset))
            clash = sorted(set(part) & set(metrics))
            if clash:
                raise KeyError(f'{type(self).__name__}: dataloader {i} reports metrics {clash} already reported by '
                               'an earlier one; give each evaluator its own prefix')
            metrics.update(part)
        if self.summary is not None:
            metrics.update(summarize_subsets(metrics, self.prefixes, self.summary['keys'], self.summary['name']))
        if losses:
            from mmengine.runner.loops import _parse_losses
            metrics.update(_parse_losses(losses, stage))
        self.dataloader, self.evaluator = self.dataloaders[0], self.evaluators[0]
        MMLogger.get_current_instance().info(
            f'{type(self).__name__}: evaluated {len(self.dataloaders)} dataset(s) '
            f'({", ".join(f"{p}: {len(d.dataset)} queries" for p, d in zip(self.prefixes, self.dataloaders))})')
        call(f'after_{stage}_epoch', metrics=metrics)
        call(f'after_{stage}')
        return metrics


@LOOPS.register_module()
class MultiValLoop(_MultiEvalMixin, ValLoop):
    """Validation over a list of dataloaders, one evaluator each (see the module docstring).

    Args:
        runner: the Runner.
        dataloader: a list of dataloader configs/objects (``val_dataloader``).
        evaluator: a list with one evaluator config/object per dataloader
            (``val_evaluator``), each with a distinct metric prefix.
        fp16: as in ``ValLoop``.
        summary: ``dict(name='avg', keys=('R@10', 'R@50'))`` adds the
            unweighted means over the datasets (:func:`summarize_subsets`);
            ``None`` adds nothing.
    """

    _stage = 'val'


@LOOPS.register_module()
class MultiTestLoop(_MultiEvalMixin, TestLoop):
    """Test-time counterpart of :class:`MultiValLoop` (same arguments)."""

    _stage = 'test'


"""Paper-style result tables from per-run metrics files (pure functions, no training).

A run's metrics are the flat ``{"name": value}`` JSON of ``tools/test.py --metrics-out``. Names follow
RecallAtK: one group (``retrieval/R@1`` on CSS, ``shoes/R@10``, ``fashion200k/mean``) or several
categories plus summaries (FashionIQ: ``dress/R@10`` ... ``avg/R@50`` and the flat ``avg``). They become
the columns of SDFN's tables:

* one group: ``R@1 | R@10 | R@50 | Avg`` (Avg = the ``mean`` metric, or the mean of the R@K of that run);
* CIRR (``cirr/R@K``, ``cirr/Rsubset@K``, ``cirr/avg``): ``R@1 | R@5 | R@10 | R@50 | Rsubset@1 | Rsubset@2 |
  Rsubset@3 | Avg``, Avg = the logged ``avg`` = (R@5 + Rsubset@1) / 2 (CIRR's headline figure);
* CIRCO (``circo/mAP@K``): ``mAP@5 | mAP@10 | mAP@25 | mAP@50``, as the CIRCO tables of SEARLE and its
  successors (the group's Recall@K of the single target is left out, and there is no Avg);
* categories: ``dress R@10 | dress R@50 | ... | Avg R@10 | Avg R@50 | Avg``.

Each cell is the mean ± sample standard deviation over seeds (the Avg of each seed first, then its
mean and std). A config ``<method>_<dataset>.py`` is a row ``method`` of the table ``dataset``.
"""
import csv
import json
import math
import re
import statistics
from typing import Dict, List, Mapping, Sequence, Tuple

__all__ = ['split_config_name', 'paper_columns', 'build_tables', 'write_markdown', 'write_csv', 'write_json',
           'format_cell']

SUMMARY_GROUPS = ('avg', 'mean')
_RECALL = re.compile(r'^R@(\d+)$')
_SUBSET = re.compile(r'^Rsubset@(\d+)$')  # CIRR's Recall_subset@K
_MAP = re.compile(r'^mAP@(\d+)$')  # CIRCO's mAP@K

# tables[dataset] = {'columns': [...], 'rows': {method: {'config': str, 'values': {column: [per seed]}}}}
Tables = Dict[str, dict]


def split_config_name(config: str) -> Tuple[str, str]:
    """``'tirg_css'`` -> ``('tirg', 'css')``; ``'sdfn_fashioniq-dress'`` -> ``('sdfn', 'fashioniq-dress')``."""
    if '_' not in config:
        return config, config
    method, dataset = config.rsplit('_', 1)
    return method, dataset


def _items(group: Mapping[str, float], pattern: 're.Pattern') -> List[Tuple[str, float]]:
    """The ``(name, value)`` of ``group`` whose name matches ``pattern``, by increasing K."""
    found = [(pattern.match(m), m, v) for m, v in group.items()]
    return [(m, v) for match, m, v in sorted((f for f in found if f[0]), key=lambda f: int(f[0].group(1)))]


def _recall_items(group: Mapping[str, float]) -> List[Tuple[str, float]]:
    return _items(group, _RECALL)


def _avg(group: Mapping[str, float]) -> float:
    for name in ('mean', 'avg'):  # a logged summary: RecallAtK(summary=True) / CIRR's avg
        if name in group:
            return group[name]
    recalls = [v for _, v in _recall_items(group)]
    return sum(recalls) / len(recalls) if recalls else math.nan


def paper_columns(metrics: Mapping[str, float]) -> Dict[str, float]:
    """One run's metrics -> ordered ``{column: value}`` in the paper's layout (see the module doc)."""
    groups: Dict[str, Dict[str, float]] = {}
    flat: Dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if '/' in key:
            group, name = key.rsplit('/', 1)
            groups.setdefault(group, {})[name] = float(value)
        else:
            flat[key] = float(value)
    summaries = [g for g in groups if g.rsplit('/', 1)[-1] in SUMMARY_GROUPS]
    categories = sorted(g for g in groups if g not in summaries)
    columns: Dict[str, float] = {}
    if len(categories) <= 1 and not summaries:
        group = groups[categories[0]] if categories else flat
        if any(_MAP.match(m) for m in group):  # CIRCO: mAP@K only
            columns.update(_items(group, _MAP))
            return columns
        columns.update(_recall_items(group))
        columns.update(_items(group, _SUBSET))  # CIRR
        columns['Avg'] = _avg(group)
        return columns
    for cat in categories:
        columns.update((f'{cat.rsplit("/", 1)[-1]} {m}', v) for m, v in _recall_items(groups[cat]))
    summary = groups[summaries[0]] if summaries else {}
    cat_recalls = {m for cat in categories for m, _ in _recall_items(groups[cat])}
    for metric in sorted(cat_recalls, key=lambda m: int(m[2:])):
        # the loop's own summary when logged, else the unweighted mean over categories (FashionIQ protocol)
        value = summary.get(metric)
        if value is None:
            per_cat = [groups[c][metric] for c in categories if metric in groups[c]]
            value = sum(per_cat) / len(per_cat)
        columns[f'Avg {metric}'] = value
    overall = next((flat[name] for name in SUMMARY_GROUPS if name in flat), None)
    avg_recalls = [v for c, v in columns.items() if c.startswith('Avg R@')]
    columns['Avg'] = overall if overall is not None else sum(avg_recalls) / len(avg_recalls)
    return columns


def build_tables(results: Mapping[str, Sequence[Mapping[str, float]]]) -> Tables:
    """``{config: [metrics of seed 0, seed 1, ...]}`` (configs in row order) -> tables per dataset."""
    tables: Tables = {}
    for config, runs in results.items():
        if not runs:
            continue
        method, dataset = split_config_name(config)
        table = tables.setdefault(dataset, {'columns': [], 'rows': {}})
        values: Dict[str, List[float]] = {}
        for run in runs:
            for column, value in paper_columns(run).items():
                values.setdefault(column, []).append(value)
                if column not in table['columns']:
                    table['columns'].append(column)
        table['rows'][method] = {'config': config, 'seeds': len(runs), 'values': values}
    return tables


def _stats(values: Sequence[float]) -> Tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def format_cell(values: Sequence[float]) -> str:
    """``'62.20'`` for one seed, ``'61.85 ± 0.49'`` (sample std) for several, ``'-'`` for none."""
    if not values:
        return '-'
    mean, std = _stats(values)
    return f'{mean:.2f}' if len(values) == 1 else f'{mean:.2f} ± {std:.2f}'


def write_markdown(tables: Tables, path: str) -> str:
    lines: List[str] = []
    for dataset, table in tables.items():
        cols = table['columns']
        lines += [f'### {dataset}', '', '| method | seeds | ' + ' | '.join(cols) + ' |',
                  '|---|---|' + '---|' * len(cols)]
        for method, row in table['rows'].items():
            cells = [format_cell(row['values'].get(c, [])) for c in cols]
            lines.append(f'| {method} | {row["seeds"]} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    text = '\n'.join(lines)
    with open(path, 'w') as f:
        f.write(text)
    return text


def write_csv(tables: Tables, path: str) -> None:
    """One wide table: ``dataset, method, config, seeds`` then ``<column>`` (mean) and ``<column> std``."""
    columns: List[str] = []
    for table in tables.values():
        columns += [c for c in table['columns'] if c not in columns]
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['dataset', 'method', 'config', 'seeds'] + [h for c in columns for h in (c, f'{c} std')])
        for dataset, table in tables.items():
            for method, row in table['rows'].items():
                cells: List[str] = []
                for c in columns:
                    values = row['values'].get(c)
                    cells += [f'{v:.4f}' for v in _stats(values)] if values else ['', '']
                writer.writerow([dataset, method, row['config'], row['seeds']] + cells)


def write_json(tables: Tables, path: str) -> None:
    """``{dataset: {columns, rows: {method: {config, seeds, cells: {column: {mean, std, values}}}}}}``."""
    out = {}
    for dataset, table in tables.items():
        rows = {}
        for method, row in table['rows'].items():
            cells = {}
            for column, values in row['values'].items():
                mean, std = _stats(values)
                cells[column] = {'mean': mean, 'std': std, 'values': values}
            rows[method] = {'config': row['config'], 'seeds': row['seeds'], 'cells': cells}
        out[dataset] = {'columns': table['columns'], 'rows': rows}
    with open(path, 'w') as f:
        json.dump(out, f, indent=2)

"""Recall@K plots of a comparison grid (matplotlib, Agg backend, PNG)."""
import os.path as osp
import re
import statistics
from typing import List

import matplotlib

matplotlib.use('Agg')  # headless: no display on training machines
import matplotlib.pyplot as plt  # noqa: E402

from compare_tables import Tables  # noqa: E402

__all__ = ['plot_recall']

_RECALL_COLUMN = re.compile(r'(^|\s)R@\d+$')


def plot_recall(tables: Tables, out_dir: str) -> List[str]:
    """One grouped bar chart per dataset: Recall@K columns on x, one bar per method (mean over seeds,
    error bar = sample std). Returns the written file paths (``recall_<dataset>.png``)."""
    paths = []
    for dataset, table in tables.items():
        columns = [c for c in table['columns'] if _RECALL_COLUMN.search(c)]
        methods = list(table['rows'])
        if not columns or not methods:
            continue
        width = 0.8 / len(methods)
        fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(columns) * max(1, len(methods)) * 0.5 + 2), 3.6))
        for i, method in enumerate(methods):
            values = table['rows'][method]['values']
            means = [statistics.fmean(values[c]) if values.get(c) else float('nan') for c in columns]
            stds = [statistics.stdev(values[c]) if len(values.get(c, [])) > 1 else 0.0 for c in columns]
            xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(columns))]
            ax.bar(xs, means, width, yerr=stds, capsize=2, label=method)
        ax.set_xticks(range(len(columns)))
        crowded = len(columns) > 4  # FashionIQ: 9 columns
        ax.set_xticklabels(columns, rotation=30 if crowded else 0, ha='right' if crowded else 'center')
        ax.set_ylabel('Recall@K (%)')
        ax.set_ylim(0, 100)
        ax.set_title(f'{dataset}: Recall@K (mean ± std over seeds)')
        ax.legend(fontsize='small')
        fig.tight_layout()
        path = osp.join(out_dir, f'recall_{dataset}.png')
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths

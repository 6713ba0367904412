"""Routing statistics and plots for SDFN path vectors.

The path vector of one query (SDFN, arXiv 2405.15451;
``docs/sdfn.md``, Path vector) has ``P = (K-1) n^2 + n`` entries: for each
layer ``k = 1..K-1`` the row-major ``(source, destination)`` transition matrix
``p^(k)[m, j]`` (each row a distribution over the n modules of layer k+1),
then the read-out distribution ``a`` over the n modules of layer K. This is
the layout of ``SDFN``'s ``aux['paths']`` and of the ``'paths'`` entry the
retriever attaches to every prediction. The plotting code is our own
(matplotlib, Agg canvas, no pyplot state, so it is safe in workers and hooks).
"""
import os
from collections import Counter
from typing import List, NamedTuple, Sequence, Tuple, Union

import numpy as np

__all__ = ['RoutingSummary', 'split_paths', 'mean_routing', 'argmax_paths', 'most_frequent_paths',
           'plot_routing_heatmap', 'stack_paths']

ArrayLike = Union[np.ndarray, 'torch.Tensor', Sequence]  # noqa: F821


class RoutingSummary(NamedTuple):
    """Batch-mean routing: ``transitions (K-1, n, n)`` and ``readout (n,)``."""

    transitions: np.ndarray
    readout: np.ndarray


def _to_numpy(paths: ArrayLike) -> np.ndarray:
    if hasattr(paths, 'detach'):  # torch.Tensor
        paths = paths.detach().float().cpu().numpy()
    arr = np.asarray(paths, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        raise ValueError(f'paths must be (B, P), got shape {arr.shape}')
    return arr


def stack_paths(results: Sequence[dict], key: str = 'paths') -> np.ndarray:
    """``(B, P)`` array from per-query prediction dicts (the retriever's ``predict`` output)."""
    if not results:
        raise ValueError('stack_paths: no results')
    missing = [i for i, r in enumerate(results) if key not in r]
    if missing:
        raise KeyError(f'stack_paths: results {missing[:5]} have no {key!r} (fusion without predict_aux_keys?)')
    return np.stack([_to_numpy(r[key])[0] for r in results])


def split_paths(paths: ArrayLike, num_layers: int, num_modules: int) -> Tuple[np.ndarray, np.ndarray]:
    """Split ``(B, P)`` path vectors into ``transitions (B, K-1, n, n)`` and ``readout (B, n)``."""
    arr = _to_numpy(paths)
    if num_layers < 1 or num_modules < 1:
        raise ValueError(f'num_layers and num_modules must be >= 1, got {num_layers}, {num_modules}')
    expected = (num_layers - 1) * num_modules ** 2 + num_modules
    if arr.shape[1] != expected:
        raise ValueError(f'paths have {arr.shape[1]} entries but num_layers={num_layers}, num_modules={num_modules} '
                         f'give (K-1)*n*n + n = {expected}')
    b = arr.shape[0]
    trans = arr[:, :expected - num_modules].reshape(b, num_layers - 1, num_modules, num_modules)
    return trans, arr[:, expected - num_modules:]


def mean_routing(paths: ArrayLike, num_layers: int, num_modules: int) -> RoutingSummary:
    """Batch mean of the routing: per layer transition ``k -> k+1`` an ``n x n``
    matrix (row = source module of layer k, column = destination in layer k+1;
    rows sum to 1) and the read-out vector over layer K's modules."""
    trans, readout = split_paths(paths, num_layers, num_modules)
    return RoutingSummary(trans.mean(axis=0), readout.mean(axis=0))


def argmax_paths(paths: ArrayLike, num_layers: int, num_modules: int) -> np.ndarray:
    """Most probable module chain ``(m_1, ..., m_K)`` of each query, ``(B, K)`` int.

    A chain's probability is the mass that a unit of input entering module
    ``m_1`` carries along it to the query:
    ``prod_{k<K} p^(k)[m_k, m_{k+1}] * a[m_K]`` (every layer-1 module receives the
    reference tokens with weight 1, so all ``m_1`` start equal). The argmax over
    all ``n^K`` chains is found exactly by dynamic programming (Viterbi, in log
    space; zero probabilities are ``-inf``). Ties go to the lowest module index,
    at the earliest layer first (so uniform routing gives ``(0, 0, ..., 0)``).
    """
    trans, readout = split_paths(paths, num_layers, num_modules)
    with np.errstate(divide='ignore'):
        log_t, score = np.log(trans), np.log(readout)  # score[b, j]: best log-mass from layer k's module j on
    b = score.shape[0]
    best_next = []
    for k in range(num_layers - 2, -1, -1):
        cand = log_t[:, k] + score[:, None, :]  # (B, src, dst)
        best_next.append(np.argmax(cand, axis=2))  # first max -> lowest index
        score = np.take_along_axis(cand, best_next[-1][..., None], axis=2)[..., 0]
    best_next.reverse()
    chain = np.zeros((b, num_layers), dtype=np.int64)
    chain[:, 0] = np.argmax(score, axis=1)
    rows = np.arange(b)
    for k in range(num_layers - 1):
        chain[:, k + 1] = best_next[k][rows, chain[:, k]]
    return chain


def most_frequent_paths(paths: ArrayLike, module_names: Sequence[str], num_layers: int,
                        top: int = 10) -> List[Tuple[Tuple[str, ...], int]]:
    """The ``top`` most frequent per-query chains (see :func:`argmax_paths`).

    Returns ``[(('JRM', 'CAM', 'RCM'), count), ...]`` sorted by count
    (descending); equal counts keep the order in which the chains first occur
    in ``paths``.
    """
    names = list(module_names)
    chains = argmax_paths(paths, num_layers, len(names))
    counts = Counter(tuple(names[i] for i in row) for row in chains.tolist())
    return counts.most_common(top)


def _annotate(ax, value: float, x: float, y: float, dark: bool) -> None:
    ax.text(x, y, f'{value:.2f}', ha='center', va='center', fontsize=8, color='white' if dark else 'black')


def plot_routing_heatmap(paths: ArrayLike, module_names: Sequence[str], num_layers: int, out_file: str,
                         top: int = 10, title: str = 'SDFN routing') -> str:
    """Write a PNG with one annotated heatmap per layer transition, the
    read-out bar chart and the ``top`` most frequent paths; returns ``out_file``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(module_names)
    n = len(names)
    summary = mean_routing(paths, num_layers, n)
    frequent = most_frequent_paths(paths, names, num_layers, top)
    total = _to_numpy(paths).shape[0]

    panels = (num_layers - 1) + 2
    fig = Figure(figsize=(3.4 * panels, 3.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    for k in range(num_layers - 1):
        ax, mat = axes[k], summary.transitions[k]
        ax.imshow(mat, vmin=0.0, vmax=1.0, cmap='viridis')
        for i in range(n):
            for j in range(n):
                _annotate(ax, mat[i, j], j, i, dark=mat[i, j] < 0.5)
        ax.set_xticks(range(n), names, rotation=45)
        ax.set_yticks(range(n), names)
        ax.set_xlabel(f'to layer {k + 2}')
        ax.set_ylabel(f'from layer {k + 1}')
        ax.set_title(f'layer {k + 1} -> {k + 2}')
    ax = axes[num_layers - 1]
    ax.bar(range(n), summary.readout, color='tab:blue')
    for j, v in enumerate(summary.readout):
        ax.text(j, v, f'{v:.2f}', ha='center', va='bottom', fontsize=8)
    ax.set_xticks(range(n), names, rotation=45)
    ax.set_ylim(0.0, max(1.0, float(summary.readout.max()) * 1.15))
    ax.set_title(f'read-out (layer {num_layers})')
    ax = axes[-1]
    ax.axis('off')
    lines = [f'top {len(frequent)} of {total} queries:'] + [
        f'{" > ".join(chain)}: {count} ({100.0 * count / total:.1f}%)' for chain, count in frequent]
    ax.text(0.0, 1.0, '\n'.join(lines), va='top', ha='left', fontsize=8, family='monospace',
            transform=ax.transAxes)
    fig.suptitle(title)
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(out_file))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(out_file, format='png', dpi=100, bbox_inches='tight')
    return out_file

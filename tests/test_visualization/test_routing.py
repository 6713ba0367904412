"""Routing statistics and the heatmap plot."""
import itertools

import numpy as np
import pytest
import torch

from sdfn_plugin.visualization import (argmax_paths, mean_routing, most_frequent_paths, plot_routing_heatmap,
                                       split_paths, stack_paths)

NAMES = ['A', 'B']


def path(p, a):
    return np.concatenate([np.asarray(p, dtype=float).ravel(), np.asarray(a, dtype=float)])


# K = 2, n = 2 -> P = 6. Chain masses p[m1, m2] * a[m2]:
Q_A = path([[0.9, 0.1], [0.2, 0.8]], [0.3, 0.7])  # .27 .07 .06 .56 -> (B, B)
Q_B = path([[0.6, 0.4], [0.5, 0.5]], [0.9, 0.1])  # .54 .04 .45 .05 -> (A, A)
Q_C = path([[0.5, 0.5], [0.0, 1.0]], [0.6, 0.4])  # .30 .20 .00 .40 -> (B, B) although a favours A


def test_mean_routing_hand_example():
    summary = mean_routing(np.stack([Q_A, Q_B]), num_layers=2, num_modules=2)
    np.testing.assert_allclose(summary.transitions, [[[0.75, 0.25], [0.35, 0.65]]])
    np.testing.assert_allclose(summary.readout, [0.6, 0.4])
    trans, readout = split_paths(torch.tensor(np.stack([Q_A, Q_B])), 2, 2)
    assert trans.shape == (2, 1, 2, 2) and readout.shape == (2, 2)


def test_most_frequent_paths_hand_example():
    paths = torch.tensor(np.stack([Q_A, Q_B, Q_C, Q_A]), dtype=torch.float32)
    assert most_frequent_paths(paths, NAMES, num_layers=2) == [(('B', 'B'), 3), (('A', 'A'), 1)]
    assert most_frequent_paths(paths, NAMES, num_layers=2, top=1) == [(('B', 'B'), 3)]
    # uniform routing: all chains tie -> lowest indices
    assert argmax_paths(np.full((1, 6), 0.5), 2, 2).tolist() == [[0, 0]]


def test_argmax_paths_equals_brute_force():
    rng = np.random.default_rng(0)
    k, n, b = 3, 3, 20
    dists = rng.dirichlet(np.ones(n), size=(b, (k - 1) * n + 1))  # (B, 7, 3)
    paths = dists.reshape(b, -1)
    chains = argmax_paths(paths, k, n)
    for i in range(b):
        trans = dists[i, :-1].reshape(k - 1, n, n)
        best = max(itertools.product(range(n), repeat=k),
                   key=lambda c: np.prod([trans[j, c[j], c[j + 1]] for j in range(k - 1)]) * dists[i, -1, c[-1]])
        assert tuple(chains[i]) == best


def test_plot_routing_heatmap_writes_png(tmp_path):
    rng = np.random.default_rng(1)
    paths = rng.dirichlet(np.ones(4), size=(12, 9)).reshape(12, 36)
    out = plot_routing_heatmap(torch.tensor(paths), ['JRM', 'CAM', 'GTM', 'RCM'], 3,
                               str(tmp_path / 'sub' / 'routing.png'), top=5)
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    import matplotlib.image
    img = matplotlib.image.imread(out)
    assert img.shape[0] > 100 and img.shape[1] > 400


def test_shape_errors_and_stack_paths():
    with pytest.raises(ValueError, match=r'\(K-1\)\*n\*n \+ n = 36'):
        mean_routing(np.zeros((2, 21)), 3, 4)
    results = [{'paths': torch.tensor(Q_A)}, {'paths': torch.tensor(Q_B)}]
    np.testing.assert_allclose(stack_paths(results), np.stack([Q_A, Q_B]))
    with pytest.raises(KeyError, match='paths'):
        stack_paths([{'pred_topk': 1}])

"""Visualisation helpers (routing statistics of SDFN)."""
from .routing import (RoutingSummary, argmax_paths, mean_routing, most_frequent_paths, plot_routing_heatmap,
                      split_paths, stack_paths)

__all__ = ['RoutingSummary', 'argmax_paths', 'mean_routing', 'most_frequent_paths', 'plot_routing_heatmap',
           'split_paths', 'stack_paths']

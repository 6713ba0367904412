"""Repository-root shim for ``sdfn_plugin/tools/analysis/routing_heatmap.py``."""
from sdfn_plugin.tools.analysis.routing_heatmap import main

if __name__ == '__main__':
    main()

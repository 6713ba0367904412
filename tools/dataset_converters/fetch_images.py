"""Repository-root shim: the real script is ``sdfn_plugin/tools/dataset_converters/fetch_images.py``."""
from sdfn_plugin.tools.dataset_converters.fetch_images import main

if __name__ == '__main__':
    raise SystemExit(main())

"""Repository-root shim: the real script is ``sdfn_plugin/tools/check_dataset.py``."""
from sdfn_plugin.tools.check_dataset import main

if __name__ == '__main__':
    raise SystemExit(main())

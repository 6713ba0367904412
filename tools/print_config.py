"""Repository-root shim: the real script is ``sdfn_plugin/tools/print_config.py``."""
from sdfn_plugin.tools.print_config import main

if __name__ == '__main__':
    main()

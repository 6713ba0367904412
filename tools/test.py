"""Repository-root shim: the real script is ``sdfn_plugin/tools/test.py`` (what ``mim test`` runs)."""
from sdfn_plugin.tools.test import main

if __name__ == '__main__':
    main()

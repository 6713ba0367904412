"""Repository-root shim: the real script is ``sdfn_plugin/tools/demo.py`` (what ``mim run sdfn_plugin demo`` runs)."""
from sdfn_plugin.tools.demo import main

if __name__ == '__main__':
    main()

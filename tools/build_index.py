"""Repository-root shim: the real script is ``sdfn_plugin/tools/build_index.py`` (what ``mim run sdfn_plugin build_index`` runs)."""
from sdfn_plugin.tools.build_index import main

if __name__ == '__main__':
    main()

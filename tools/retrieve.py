"""Repository-root shim: the real script is ``sdfn_plugin/tools/retrieve.py`` (what ``mim run sdfn_plugin retrieve`` runs)."""
from sdfn_plugin.tools.retrieve import main

if __name__ == '__main__':
    main()

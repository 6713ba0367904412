"""Repository-root shim: the real script is ``sdfn_plugin/tools/train.py`` (what ``mim train`` runs)."""
from sdfn_plugin.tools.train import main

if __name__ == '__main__':
    main()

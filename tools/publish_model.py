"""Repository-root shim: the real script is ``sdfn_plugin/tools/publish_model.py`` (what ``mim run sdfn_plugin publish_model`` runs)."""
from sdfn_plugin.tools.publish_model import main

if __name__ == '__main__':
    main()

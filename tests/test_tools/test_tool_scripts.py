"""``sdfn_plugin/tools`` holds runnable scripts only, each with a working ``--help`` (what ``mim run`` runs)."""
import glob
import importlib
import os.path as osp

import pytest

from cir_testlib import REPO

TOOLS = osp.join(REPO, 'sdfn_plugin', 'tools')
SCRIPTS = sorted(p for p in glob.glob(osp.join(TOOLS, '**', '*.py'), recursive=True)
                 if osp.basename(p) != '__init__.py')


def _module(path):
    return 'sdfn_plugin.' + osp.relpath(path, osp.join(REPO, 'sdfn_plugin'))[:-3].replace(osp.sep, '.')


def test_every_shipped_tool_has_a_root_shim_and_the_readme_names_it():
    names = [osp.relpath(p, TOOLS) for p in SCRIPTS]
    assert {'train.py', 'test.py', 'print_config.py'} <= set(names)
    readme = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    for rel in names:
        assert osp.isfile(osp.join(REPO, 'tools', rel)), f'tools/{rel}: no repository-root shim'
        # named in the README: as `mim run` spells it (`analysis:routing_heatmap`) or as a path (check_dataset.py)
        assert f"`{rel[:-3].replace(osp.sep, ':')}`" in readme or rel.replace(osp.sep, '/') in readme, rel
    # and the other way round: every repository-root tool is a shim of a shipped one, so `mim run` finds it
    shims = [osp.relpath(p, osp.join(REPO, 'tools')) for p in glob.glob(osp.join(REPO, 'tools', '**', '*.py'),
                                                                           recursive=True)]
    assert sorted(shims) == sorted(names)


@pytest.mark.parametrize('path', SCRIPTS, ids=lambda p: osp.relpath(p, TOOLS))
def test_tool_is_a_script_with_help(path, capsys):
    text = open(path, encoding='utf-8').read()
    assert "if __name__ == '__main__':" in text, f'{path}: library code belongs outside sdfn_plugin/tools'
    main = importlib.import_module(_module(path)).main
    with pytest.raises(SystemExit) as exit_info:
        main(['--help'])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith('usage: ')

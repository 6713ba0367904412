"""The wheel a user installs: configs, tools, model index, licence and metadata (built offline, no pip)."""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser

import pytest
import yaml

from cir_testlib import REPO

PKG = osp.join(REPO, 'sdfn_plugin')
BUILD_FILES = ('setup.py', 'pyproject.toml', 'MANIFEST.in', 'README.md', 'LICENSE')


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """Build with the PEP 517 backend of pyproject.toml, as `pip wheel --no-build-isolation` would, from a copy
    (the build writes egg-info and build/ folders, which must not land in the checkout)."""
    src = tmp_path_factory.mktemp('src')
    for name in BUILD_FILES:
        shutil.copy(osp.join(REPO, name), src / name)
    shutil.copytree(PKG, src / 'sdfn_plugin', ignore=shutil.ignore_patterns('__pycache__', '*.pyc', '.mim'))
    out = src / 'dist'
    code = f'import setuptools.build_meta as b; print(b.build_wheel({str(out)!r}))'
    proc = subprocess.run([sys.executable, '-c', code], cwd=str(src), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = out / proc.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(path) as z:
        yield z


def _dist_info(z, name):
    (path, ) = [n for n in z.namelist() if n.endswith(f'.dist-info/{name}')]
    return z.read(path).decode()


def test_wheel_ships_configs_tools_model_index_and_licence(wheel):
    names = set(wheel.namelist())
    for ext in ('py', 'yml'):
        for path in glob.glob(osp.join(PKG, 'configs', '**', f'*.{ext}'), recursive=True):
            assert osp.relpath(path, REPO) in names, path
    tools = glob.glob(osp.join(PKG, 'tools', '**', '*.py'), recursive=True)
    assert len(tools) >= 4 and all(osp.relpath(p, REPO) in names for p in tools)
    assert 'sdfn_plugin/model-index.yml' in names
    with open(osp.join(PKG, 'model-index.yml')) as f:
        for meta in yaml.safe_load(f)['Import']:
            assert f'sdfn_plugin/{meta}' in names
    assert _dist_info(wheel, 'licenses/LICENSE') == open(osp.join(REPO, 'LICENSE')).read()
    assert not [n for n in names if n.startswith(('tests/', 'benchmarks/', 'docs/'))]
    # and nothing else of the package is left out (data files such as a demo page need package_data too)
    shipped = {osp.relpath(osp.join(d, f), REPO) for d, _, files in os.walk(PKG)
               if not {'__pycache__', '.mim'} & set(d.split(os.sep))
               for f in files if not f.endswith('.pyc')}
    assert sorted(shipped - names) == []


def test_wheel_metadata(wheel):
    meta = Parser().parsestr(_dist_info(wheel, 'METADATA'))
    assert meta['Requires-Python'] == '>=3.10'
    assert meta['License'] == 'Apache-2.0'
    assert 'License :: OSI Approved :: Apache Software License' in meta.get_all('Classifier')
    requires = meta.get_all('Requires-Dist')
    for dep in ('mmengine', 'openmim'):
        (spec, ) = [r for r in requires if r.startswith(dep)]
        assert '==' not in spec and '>=' in spec and '<' in spec, spec
    assert {'encoders', 'faiss', 'tests'} <= set(meta.get_all('Provides-Extra'))
    scripts = _dist_info(wheel, 'entry_points.txt')
    for line in ('sdfn-train = sdfn_plugin.tools.train:main', 'sdfn-test = sdfn_plugin.tools.test:main'):
        assert line in scripts
        module = line.split('= ')[1].split(':')[0].replace('.', '/') + '.py'
        assert module in wheel.namelist()


def test_license_is_the_apache_2_text():
    text = open(osp.join(REPO, 'LICENSE')).read()
    assert text.lstrip().startswith('Apache License\n                           Version 2.0, January 2004')
    assert 'END OF TERMS AND CONDITIONS' in text and os.linesep in text

"""The model index (``sdfn_plugin/model-index.yml`` + one metafile per method) as ``mim search`` reads it."""
import functools
import glob
import os.path as osp
import re
import shutil

import pytest
import yaml

from cir_testlib import CONFIGS, REPO, installed_package_root, run_cli

PKG = osp.join(REPO, 'sdfn_plugin')
INDEX = osp.join(PKG, 'model-index.yml')


def _metafiles():
    with open(INDEX) as f:
        return [osp.join(PKG, p) for p in yaml.safe_load(f)['Import']]


@functools.lru_cache(maxsize=None)
def _models():
    out = []
    for path in _metafiles():
        with open(path) as f:
            meta = yaml.safe_load(f)
        names = {c['Name'] for c in meta['Collections']}
        for m in meta['Models']:
            assert m['In Collection'] in names, (path, m['Name'])
            out.append(m)
    return tuple(out)


def test_every_config_is_indexed_once_under_its_own_name():
    shipped = sorted(osp.relpath(p, PKG) for p in glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)
                     if '_base_' not in p)
    models = _models()
    indexed = sorted(m['Config'] for m in models)
    assert indexed == shipped, 'add new configs to sdfn_plugin/configs/<method>/metafile.yml'
    for m in models:
        assert m['Name'] == osp.splitext(osp.basename(m['Config']))[0]
        assert 'Weights' not in m  # nothing is published; mim download would fetch a URL that does not exist
        assert m['Metadata']['Results From']
        for result in m.get('Results', []):
            assert set(result) == {'Task', 'Dataset', 'Metrics'} and result['Metrics']


def test_collections_name_paper_code_and_readme():
    for path in _metafiles():
        with open(path) as f:
            (coll, ) = yaml.safe_load(f)['Collections']
        assert coll.get('Paper') or coll['Name'] == 'Baselines', path
        assert osp.isfile(osp.join(REPO, coll['README'])), coll['README']


def test_synthetic_numbers_equal_the_readme_table():
    """The measured rows of the README table, digit for digit."""
    readme = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    rows = dict((cfg, tuple(map(float, vals))) for cfg, *vals in re.findall(
        r'^\| [^|]+ \| `(\w+_css)\.py` \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$', readme, re.M))
    assert len(rows) == 9
    measured = {m['Name']: m for m in _models() if any(r['Dataset'] == 'Synthetic CSS' for r in m.get('Results', []))}
    assert set(measured) == set(rows)
    for name, m in measured.items():
        (res, ) = m['Results']
        assert (res['Metrics']['R@1'], res['Metrics']['R@10'], res['Metrics']['R@50']) == rows[name]
        assert m['Metadata']['Results From'].startswith('measured here')


def test_paper_numbers_are_marked_and_sdfn_rows_match_its_tables():
    by_name = {m['Name']: m for m in _models()}
    for m in by_name.values():
        if any(r['Dataset'] != 'Synthetic CSS' for r in m.get('Results', [])):
            assert m['Metadata']['Results From'].startswith('reported by the SDFN paper'), m['Name']
    assert by_name['sdfn_shoes']['Results'][0]['Metrics'] == {'R@1': 22.07, 'R@10': 57.56, 'R@50': 80.88,
                                                              'Avg': 53.53}
    assert by_name['sdfn_fashioniq-dress']['Results'][0]['Metrics'] == {'R@10': 37.48, 'R@50': 65.15}
    assert by_name['sdfn-wo-rcm_shoes']['Results'][0]['Metrics'] == {'R@1': 14.28, 'R@10': 48.45, 'R@50': 75.51}


def test_mim_flattens_the_index_into_searchable_columns():
    """mim's own parser (what `mim search` prints), on the files of this checkout."""
    from mim.commands.search import convert2df, filter_by_training_datasets
    from modelindex.load_model_index import load
    df = convert2df(load(INDEX))
    assert len(df) == len(_models())
    assert df.loc['sdfn_shoes', 'shoes/r@1'] == 22.07
    assert df.loc['tirg_css', 'synthetic css/r@1'] == 64.15
    assert df.loc['sdfn_fashion200k', 'config'] == 'configs/sdfn_fashion200k.py'
    assert set(filter_by_training_datasets(df, ['shoes']).index) >= {'sdfn_shoes', 'tirg_shoes', 'sdfn-full_shoes'}


@pytest.mark.skipif(shutil.which('mim') is None or installed_package_root() is None,
                    reason='needs openmim and a regular install of sdfn_plugin (README install command)')
def test_mim_search_list_and_run_on_the_installed_package(tmp_path):
    env = {'PYTHONPATH': ''}
    proc = run_cli(['mim', 'search', 'sdfn_plugin', '--field', 'config', 'results_from'], cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ids = re.findall(r'^config id: (\S+)$', proc.stdout, re.M)
    assert sorted(ids) == sorted(m['Name'] for m in _models())
    proc = run_cli(['mim', 'list'], cwd=str(tmp_path), env=env)
    assert re.search(r'^sdfn[-_]plugin\s', proc.stdout, re.M), proc.stdout
    proc = run_cli(['mim', 'run', 'sdfn_plugin', 'print_config', '--', '--help'], cwd=str(tmp_path), env=env)
    assert proc.returncode == 0 and 'usage: print_config.py' in proc.stdout, proc.stdout[-2000:]

"""benchmarks/compare.py: paper-style tables and plots from metrics files, grid resume and progress."""
import csv
import json
import os
import os.path as osp
import re
import sys

import pytest

from cir_testlib import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import compare  # noqa: E402
from compare_grid import GridEntry, GridFailed, _last_progress, format_duration, run_grid, threads_per_job  # noqa: E402
from compare_plots import plot_recall  # noqa: E402
from compare_tables import (build_tables, format_cell, paper_columns, split_config_name,  # noqa: E402
                            write_csv, write_json, write_markdown)

CSS = [{'retrieval/R@1': 10.0, 'retrieval/R@10': 40.0, 'retrieval/R@50': 70.0},
       {'retrieval/R@1': 20.0, 'retrieval/R@10': 50.0, 'retrieval/R@50': 80.0}]
FIQ = {'dress/R@10': 30.0, 'dress/R@50': 60.0, 'shirt/R@10': 20.0, 'shirt/R@50': 50.0,
       'toptee/R@10': 40.0, 'toptee/R@50': 70.0, 'avg/R@10': 30.0, 'avg/R@50': 60.0, 'avg': 45.0}


def test_config_name_is_method_and_dataset():
    assert split_config_name('tirg_css') == ('tirg', 'css')
    assert split_config_name('sdfn-w-msr_fashioniq-dress') == ('sdfn-w-msr', 'fashioniq-dress')
    assert split_config_name('single') == ('single', 'single')


def test_paper_columns_single_group_average_is_mean_of_recalls():
    cols = paper_columns(CSS[0])
    assert list(cols) == ['R@1', 'R@10', 'R@50', 'Avg']
    assert cols['Avg'] == pytest.approx(40.0)


def test_paper_columns_use_the_logged_mean_when_present():
    cols = paper_columns({'shoes/R@1': 1.0, 'shoes/R@10': 2.0, 'shoes/R@50': 3.0, 'shoes/mean': 7.5})
    assert cols == {'R@1': 1.0, 'R@10': 2.0, 'R@50': 3.0, 'Avg': 7.5}


def test_paper_columns_fashioniq_categories_then_averages():
    cols = paper_columns(FIQ)
    assert list(cols) == ['dress R@10', 'dress R@50', 'shirt R@10', 'shirt R@50', 'toptee R@10', 'toptee R@50',
                          'Avg R@10', 'Avg R@50', 'Avg']
    assert (cols['Avg R@10'], cols['Avg R@50'], cols['Avg']) == (30.0, 60.0, 45.0)
    # without the loop's summaries the averages are the unweighted means over categories
    bare = paper_columns({k: v for k, v in FIQ.items() if not k.startswith('avg')})
    assert (bare['Avg R@10'], bare['Avg R@50'], bare['Avg']) == (30.0, 60.0, 45.0)


CIRR = {'cirr/R@1': 20.0, 'cirr/R@5': 50.0, 'cirr/R@10': 65.0, 'cirr/R@50': 90.0, 'cirr/Rsubset@1': 40.0,
        'cirr/Rsubset@2': 70.0, 'cirr/Rsubset@3': 85.0, 'cirr/avg': 45.0}
CIRCO = {'circo/mAP@5': 2.5, 'circo/mAP@10': 3.0, 'circo/mAP@25': 3.5, 'circo/mAP@50': 4.0, 'circo/R@5': 6.0,
         'circo/R@10': 9.0, 'circo/R@25': 15.0, 'circo/R@50': 20.0}


def test_paper_columns_cirr_and_circo(tmp_path):
    # CIRR: global recalls, subset recalls, then the logged headline (R@5 + Rsubset@1) / 2
    cols = paper_columns(CIRR)
    assert list(cols) == ['R@1', 'R@5', 'R@10', 'R@50', 'Rsubset@1', 'Rsubset@2', 'Rsubset@3', 'Avg']
    assert (cols['Rsubset@1'], cols['Avg']) == (40.0, 45.0)
    # CIRCO: the mAP@K columns only (K in numeric order whatever the dict order)
    shuffled = dict(reversed(list(CIRCO.items())))
    assert paper_columns(shuffled) == {'mAP@5': 2.5, 'mAP@10': 3.0, 'mAP@25': 3.5, 'mAP@50': 4.0}
    tables = build_tables({'zeroshot-clip-vitb32_cirr': [CIRR], 'zeroshot-clip-vitb32_circo': [CIRCO, CIRCO]})
    text = write_markdown(tables, str(tmp_path / 'r.md'))
    assert ('| method | seeds | R@1 | R@5 | R@10 | R@50 | Rsubset@1 | Rsubset@2 | Rsubset@3 | Avg |\n'
            '|---|---|---|---|---|---|---|---|---|---|\n'
            '| zeroshot-clip-vitb32 | 1 | 20.00 | 50.00 | 65.00 | 90.00 | 40.00 | 70.00 | 85.00 | 45.00 |') in text
    assert ('| method | seeds | mAP@5 | mAP@10 | mAP@25 | mAP@50 |\n|---|---|---|---|---|---|\n'
            '| zeroshot-clip-vitb32 | 2 | 2.50 ± 0.00 | 3.00 ± 0.00 | 3.50 ± 0.00 | 4.00 ± 0.00 |') in text


def test_tables_mean_and_sample_std_over_seeds(tmp_path):
    tables = build_tables({'tirg_css': CSS, 'sdfn_css': CSS[:1], 'sdfn_fashioniq': [FIQ]})
    assert list(tables) == ['css', 'fashioniq']
    assert list(tables['css']['rows']) == ['tirg', 'sdfn']
    text = write_markdown(tables, str(tmp_path / 'r.md'))
    # R@1 10, 20 -> 15 ± 7.07 (sample std); Avg per seed 40, 50 -> 45 ± 7.07
    assert '| tirg | 2 | 15.00 ± 7.07 | 45.00 ± 7.07 | 75.00 ± 7.07 | 45.00 ± 7.07 |' in text
    assert '| sdfn | 1 | 10.00 | 40.00 | 70.00 | 40.00 |' in text
    assert '| method | seeds | dress R@10 | dress R@50 | shirt R@10' in text
    assert open(tmp_path / 'r.md').read() == text

    write_csv(tables, str(tmp_path / 'r.csv'))
    rows = list(csv.DictReader(open(tmp_path / 'r.csv')))
    assert [(r['dataset'], r['method']) for r in rows] == [('css', 'tirg'), ('css', 'sdfn'), ('fashioniq', 'sdfn')]
    assert float(rows[0]['R@1']) == 15.0 and float(rows[0]['R@1 std']) == pytest.approx(7.0711, abs=1e-4)
    assert rows[2]['R@1'] == '' and float(rows[2]['Avg']) == 45.0

    write_json(tables, str(tmp_path / 'r.json'))
    data = json.load(open(tmp_path / 'r.json'))
    assert data['css']['rows']['tirg']['cells']['R@10'] == {'mean': 45.0, 'std': pytest.approx(7.0710678),
                                                           'values': [40.0, 50.0]}


def test_format_cell():
    assert format_cell([]) == '-'
    assert format_cell([1.0, 2.0, 3.0]) == '2.00 ± 1.00'


def test_recall_plot_per_dataset(tmp_path):
    paths = plot_recall(build_tables({'tirg_css': CSS, 'sdfn_fashioniq': [FIQ]}), str(tmp_path))
    assert [osp.basename(p) for p in paths] == ['recall_css.png', 'recall_fashioniq.png']
    for p in paths:
        with open(p, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def _entries(tmp_path, names, seeds):
    return [GridEntry(str(tmp_path / f'{n}.py'), n, s, str(tmp_path / 'grid' / n / f'seed{s}'))
            for n in names for s in range(seeds)]


def _write_metrics(entry, metrics):
    os.makedirs(entry.work_dir, exist_ok=True)
    with open(entry.metrics_file, 'w') as f:
        json.dump(metrics, f)


def test_finished_entries_are_reused_without_running_anything(tmp_path):
    entries = _entries(tmp_path, ['tirg_css', 'sdfn_css'], 2)
    for e, m in zip(entries, CSS + CSS):
        _write_metrics(e, m)
    lines = []
    results = run_grid(entries, [], jobs=2, log=lines.append)  # the config files do not even exist
    assert results == {'tirg_css': CSS, 'sdfn_css': CSS}
    assert lines == [f'[4/4 done | elapsed 0:00:00 | ETA 0:00:00] 4 finished entries reused from {tmp_path}/grid']
    assert not any(osp.exists(osp.join(e.work_dir, 'train.log')) for e in entries)


def test_interrupted_grid_runs_only_the_missing_entry_and_reports_its_failure(tmp_path):
    """Seed 1 of a config that cannot train (its file is missing): the real tools/train.py fails in a
    subprocess; the finished entries are still returned for the tables and the failure names the log."""
    entries = _entries(tmp_path, ['tirg_css'], 2)
    _write_metrics(entries[0], CSS[0])
    lines = []
    with pytest.raises(GridFailed, match=r'tirg_css seed 1: train.py exited with 1; see .*seed1/train.log') as err:
        run_grid(entries, [], jobs=1, log=lines.append, threads=1)
    assert err.value.results == {'tirg_css': [CSS[0]]}
    assert 'config file not found' in open(osp.join(entries[1].work_dir, 'train.log')).read()
    assert re.fullmatch(r'\[1/2 done \| elapsed 0:00:00 \| ETA \?\] start tirg_css seed 1 \(1 thread, run 2/2\)',
                        lines[1]), lines
    assert 'FAILED tirg_css seed 1' in lines[-1] and not osp.exists(entries[1].metrics_file)


def test_threads_per_job_and_durations():
    assert threads_per_job(1, cores=2) == 2
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(3, cores=2) == 1
    assert threads_per_job(2, cores=16) == 8
    with pytest.raises(ValueError, match='--jobs must be a positive int, got 0'):
        threads_per_job(0)
    assert format_duration(3725.4) == '1:02:05' and format_duration(None) == '?'


def test_progress_is_read_from_the_training_log(tmp_path):
    entry = _entries(tmp_path, ['tirg_css'], 1)[0]
    os.makedirs(entry.work_dir)
    with open(osp.join(entry.work_dir, 'train.log'), 'w') as f:
        f.write('11/23 01:42:31 - mmengine - INFO - Epoch(train)  [2][ 50/312]  lr: 1e-3  loss: 2.1\n')
        f.write('11/23 01:42:40 - mmengine - INFO - Epoch(train)  [2][100/312]  lr: 1e-3  loss: 2.0\n')
    assert _last_progress(entry) == 'train epoch 2 iter 100/312'


def test_config_lookup_and_argument_errors():
    assert compare.find_config('tirg_css').endswith(osp.join('sdfn_plugin', 'configs', 'tirg_css.py'))
    with pytest.raises(FileNotFoundError, match="--configs 'nope_css': 0 matches"):
        compare.find_config('nope_css')
    with pytest.raises(SystemExit):
        compare.parse_args(['--configs', 'tirg_css', '--jobs', '0'])
    with pytest.raises(ValueError, match="--configs: two configs named 'tirg_css'"):
        compare.grid_entries(['tirg_css', osp.join(REPO, 'configs', 'tirg_css.py')], 1, '/tmp/grid')
    assert compare.has_routing(compare.find_config('sdfn_css'))
    assert not compare.has_routing(compare.find_config('tirg_css'))
    assert not compare.has_routing(compare.find_config('amc_css'))  # sigmoid gates, not SDFN routing


def test_via_mim_runs_entries_with_mim_train(tmp_path):
    """``--via mim``: the entry is started with openmim's ``mim train sdfn_plugin`` (here on a config that does
    not exist, so it fails fast after mim found the installed package) and the failure names the launcher."""
    entries = compare.grid_entries(['tirg_css'], 1, str(tmp_path), via='mim')
    entries[0].config = str(tmp_path / 'missing_css.py')
    with pytest.raises(GridFailed, match=r'tirg_css seed 0: mim train exited with \d+; see .*seed0/train.log'):
        run_grid(entries, [], jobs=1, log=lambda line: None, threads=1)
    assert 'missing_css.py' in open(osp.join(entries[0].work_dir, 'train.log')).read()
    with pytest.raises(SystemExit):
        compare.parse_args(['--configs', 'tirg_css', '--via', 'torchrun'])

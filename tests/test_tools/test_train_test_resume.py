"""End-to-end runs of tools/train.py and tools/test.py through the mmengine Runner."""
import json
import os
import os.path as osp
import signal
import time

from sdfn_plugin.testing.forkserver import start_script

from cir_testlib import REPO, cli_env, python_cli, write_tiny_config


def _metrics(tmp_path, cfg, ckpt, name):
    out = str(tmp_path / f'{name}.json')
    proc = python_cli('test.py', cfg, ckpt, '--work-dir', str(tmp_path / f'test_{name}'), '--metrics-out', out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        return json.load(f)


def test_train_then_test_reports_recall(tmp_path, css_root):
    cfg = write_tiny_config(str(tmp_path / 'cfg.py'), 'tirg_css.py', css_root, max_epochs=1)
    work = str(tmp_path / 'work')
    proc = python_cli('train.py', cfg, '--work-dir', work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'retrieval/R@1' in proc.stdout + proc.stderr
    metrics = _metrics(tmp_path, cfg, osp.join(work, 'epoch_1.pth'), 'm')
    assert set(metrics) == {'retrieval/R@1', 'retrieval/R@10', 'retrieval/R@50'}
    assert 0 <= metrics['retrieval/R@1'] <= metrics['retrieval/R@10'] <= metrics['retrieval/R@50'] <= 100


def test_killed_run_resumes_to_the_same_result(tmp_path, css_root):
    """Stop a run after its epoch-1 checkpoint (SIGKILL to its process group, as a preempted job), resume,
    and compare with an uninterrupted run of the same seed: identical metrics."""
    cfg = write_tiny_config(str(tmp_path / 'cfg.py'), 'tirg_css.py', css_root, max_epochs=2)
    full, cut = str(tmp_path / 'full'), str(tmp_path / 'cut')
    proc = python_cli('train.py', cfg, '--work-dir', full)
    assert proc.returncode == 0, proc.stderr[-3000:]

    job = start_script(osp.join(REPO, 'tools', 'train.py'), cfg, '--work-dir', cut, env=cli_env(),
                       new_session=True)
    marker = osp.join(cut, 'last_checkpoint')  # written right after epoch_1.pth
    deadline = time.time() + 240
    while not osp.exists(marker) and job.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert osp.exists(osp.join(cut, 'epoch_1.pth'))
    assert not osp.exists(osp.join(cut, 'epoch_2.pth')), 'the run finished before it could be interrupted'

    proc = python_cli('train.py', cfg, '--work-dir', cut, '--resume')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'resumed epoch: 1' in (proc.stdout + proc.stderr)
    a = _metrics(tmp_path, cfg, osp.join(full, 'epoch_2.pth'), 'full')
    b = _metrics(tmp_path, cfg, osp.join(cut, 'epoch_2.pth'), 'cut')
    assert a == b


def test_bad_config_key_and_missing_files_give_one_clear_error(tmp_path, css_root):
    cfg = write_tiny_config(str(tmp_path / 'cfg.py'), 'tirg_css.py', css_root, max_epochs=1,
                            extra='train_dataloder = dict(batch_size=4)')
    proc = python_cli('train.py', cfg)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: KeyError: \"{cfg}: unknown top-level key 'train_dataloder'; did you mean 'train_dataloader'?\"")
    proc = python_cli('train.py', str(tmp_path / 'nope.py'))
    assert proc.stderr.strip().splitlines()[-1].startswith("error: FileNotFoundError: config file not found")
    proc = python_cli('test.py', cfg.replace('cfg.py', 'cfg.py'), str(tmp_path / 'missing.pth'))
    assert 'checkpoint not found' in proc.stderr.strip().splitlines()[-1]


def test_unknown_model_argument_names_the_class_and_key(tmp_path, css_root):
    cfg = write_tiny_config(str(tmp_path / 'cfg.py'), 'tirg_css.py', css_root, max_epochs=1,
                            extra="model = dict(fusion=dict(gate_size=3))")
    proc = python_cli('train.py', cfg, '--work-dir', str(tmp_path / 'w'))
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and 'TIRG' in last and "gate_size" in last

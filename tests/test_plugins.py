"""A plugin shipped as its own distribution registers a fusion block that configs can use."""
import os
import subprocess
import sys
import textwrap

import pytest

from cir_testlib import REPO

PLUGIN_SETUP = '''
from setuptools import setup
setup(name='sdfn-demo-plugin', version='0.0.1', py_modules=['sdfn_demo_plugin', 'sdfn_broken_plugin'],
      entry_points={'sdfn_plugin.plugins': ['demo = sdfn_demo_plugin', 'broken = sdfn_broken_plugin']})
'''
PLUGIN_MODULE = '''
import torch
from sdfn_plugin.models.fusions.base import BaseFusion
from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import FusionOutput

@MODELS.register_module()
class SumFusion(BaseFusion):
    def forward(self, img, txt):
        return FusionOutput(query=img.pooled + txt.pooled)
'''
BUILD_SCRIPT = '''
import torch
from mmengine.registry import DefaultScope
from mmengine.registry import MODELS as ROOT_MODELS
DefaultScope.get_instance('t', scope_name='sdfn_plugin')  # what a Runner with default_scope does
model = ROOT_MODELS.build(dict(
    type='ComposedRetriever',
    image_encoder=dict(type='SmallCNN', channels=(4,), out_dim=8),
    text_encoder=dict(type='LSTMTextEncoder', vocab_file={vocab!r}, embed_dim=8, hidden_dim=8, out_dim=8),
    fusion=dict(type='SumFusion', image_dim=8, text_dim=8, embed_dim=8),
    losses=[dict(type='BatchClassificationLoss')]))
print('FUSION', type(model.fusion).__name__, type(model.fusion).__module__)
'''


@pytest.fixture(scope='module')
def installed_plugin(tmp_path_factory):
    """``(site folder, vocab file)``: the demo distribution pip-installed once for this file's tests."""
    tmp_path = tmp_path_factory.mktemp('plugin')
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'setup.py').write_text(PLUGIN_SETUP)
    (src / 'sdfn_demo_plugin.py').write_text(PLUGIN_MODULE)
    (src / 'sdfn_broken_plugin.py').write_text('raise ImportError("demo breakage")\n')
    target = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
                    '--target', str(target), str(src)], check=True, capture_output=True)
    vocab = tmp_path / 'vocab.txt'
    vocab.write_text('<pad>\n<unk>\nred\n')
    return target, vocab


def _build(tmp_path, target, vocab, **env):
    script = tmp_path / 'build.py'
    script.write_text(textwrap.dedent(BUILD_SCRIPT.format(vocab=str(vocab))))
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), REPO]), **env)
    return subprocess.run([sys.executable, str(script)], env=full_env, capture_output=True, text=True, timeout=120)


def test_plugin_distribution_registers_a_fusion_usable_from_config(tmp_path, installed_plugin):
    target, vocab = installed_plugin
    assert any(p.name.startswith('sdfn_demo_plugin') and p.name.endswith('.dist-info') for p in target.iterdir())
    proc = _build(tmp_path, target, vocab)
    assert proc.returncode == 0, proc.stderr
    assert 'FUSION SumFusion sdfn_demo_plugin' in proc.stdout
    # the broken plugin only warns
    assert "plugin 'broken'" in proc.stderr and 'demo breakage' in proc.stderr


def test_autoload_switch_disables_discovery(tmp_path, installed_plugin):
    target, vocab = installed_plugin
    proc = _build(tmp_path, target, vocab, SDFN_PLUGIN_AUTOLOAD='0')
    assert proc.returncode != 0
    assert 'SumFusion is not in the' in proc.stderr

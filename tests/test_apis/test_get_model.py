"""list_models / get_model: a trained model from a config name and a checkpoint alone."""
import glob
import hashlib
import os
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from sdfn_plugin.apis import get_model, list_models
from sdfn_plugin.utils.checkpoint import CheckpointMismatchError, UnsafeCheckpointError, load_checkpoint_file

from cir_testlib import CONFIGS, crafted_checkpoint


def _queries(css_root):
    images = sorted(glob.glob(osp.join(css_root, '*', 'images', 'test_*.png')))[:3]
    from sdfn_plugin.datasets.transforms import read_image
    ref = torch.stack([read_image(p) for p in images]).float()
    ref = (ref - torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)) / torch.tensor(
        [58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    return ref, ['make the red circle blue', 'add a small green square', 'remove the cube']


def _trained_model(cfg_path, ckpt):
    """The model as training built it: vocabulary from the annotations, weights loaded strictly."""
    from sdfn_plugin.registry import MODELS
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        model = MODELS.build(Config.fromfile(cfg_path).model)
    model.load_state_dict(load_checkpoint_file(ckpt)['state_dict'], strict=True)
    return model.eval()


def test_list_models_names_the_shipped_configs():
    expected = sorted(f[:-3] for f in os.listdir(CONFIGS) if f.endswith('.py') and not f.startswith('_'))
    assert list_models() == expected and 'tirg_css' in expected and 'sdfn_css' in expected
    tirg = list_models('tirg*')
    assert tirg == [n for n in expected if n.startswith('tirg')] and 'tirg_css' in tirg
    assert list_models('*_css') == [n for n in expected if n.endswith('_css')]
    assert list_models('no_such_*') == []


def test_get_model_in_an_empty_directory_matches_the_trained_model(tiny_tirg, css_root, tmp_path, monkeypatch):
    cfg_path, ckpt = tiny_tirg
    ref, texts = _queries(css_root)
    with torch.no_grad():
        expected = _trained_model(cfg_path, ckpt).extract_query(ref, texts).query
    empty = tmp_path / 'empty'
    empty.mkdir()
    monkeypatch.chdir(empty)
    model = get_model('tirg_css', ckpt)  # the shipped config: its vocab_dataset points at data/css, absent here
    assert not model.training and type(model).__name__ == 'ComposedRetriever'
    with torch.no_grad():
        got = model.extract_query(ref, texts).query
    assert torch.equal(got, expected)
    assert os.listdir(empty) == []  # no data folder generated, nothing written
    assert len(model.text_encoder.vocab) == len(load_checkpoint_file(ckpt)['state_dict'][
        'text_encoder._extra_state']['vocab'])


def test_get_model_errors_name_the_config_and_checkpoint(tiny_tirg, tmp_path):
    _, ckpt = tiny_tirg
    with pytest.raises(FileNotFoundError, match="config 'tirg_cs' is neither a file nor a shipped config name"):
        get_model('tirg_cs', ckpt)
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        get_model('tirg_css', str(tmp_path / 'missing.pth'))
    # a TIRG checkpoint into the FiLM model: strict loading names the checkpoint and the keys
    with pytest.raises(CheckpointMismatchError, match=re.escape(f'checkpoint {ckpt} does not match the model')):
        get_model('film_css', ckpt)
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match=re.escape(f'checkpoint {bad} is not a readable torch checkpoint')):
        get_model('tirg_css', str(bad))
    # a crafted pickle is refused before it can run
    marker = tmp_path / 'marker'
    evil = crafted_checkpoint(str(tmp_path / 'evil.pth'), str(marker), load_checkpoint_file(ckpt)['state_dict'])
    with pytest.raises(UnsafeCheckpointError, match=re.escape(f'refused to load checkpoint {evil}')):
        get_model('tirg_css', evil)
    assert not marker.exists()


def test_publish_model_strips_training_state_and_keeps_embeddings(tiny_tirg, css_root, tmp_path, capsys):
    from sdfn_plugin.tools.publish_model import main
    _, ckpt = tiny_tirg
    main([ckpt, str(tmp_path / 'pub' / 'tirg_tiny')])
    out = capsys.readouterr().out
    assert 'dropped: message_hub, optimizer, param_schedulers' in out
    (published, ) = glob.glob(str(tmp_path / 'pub' / '*.pth'))
    digest = hashlib.sha256(open(published, 'rb').read()).hexdigest()
    assert osp.basename(published) == f'tirg_tiny-{digest[:8]}.pth'
    content = torch.load(published, map_location='cpu', weights_only=True)  # plain tensors and strings only
    assert set(content) == {'state_dict', 'meta'}
    assert set(content['state_dict']) == set(load_checkpoint_file(ckpt)['state_dict'])
    assert osp.getsize(published) < osp.getsize(ckpt) / 2  # the Adam moments are gone
    ref, texts = _queries(css_root)
    with torch.no_grad():
        a = get_model('tirg_css', ckpt).extract_query(ref, texts).query
        b = get_model('tirg_css', published).extract_query(ref, texts).query
    assert torch.equal(a, b)


def test_publish_model_drops_the_sdfn_path_memory(css_root, tmp_path):
    """SDFN's per-training-sample path memory is training state: dropped, and the model still loads strictly."""
    from sdfn_plugin.registry import MODELS
    from sdfn_plugin.tools.publish_model import publish
    from cir_testlib import write_tiny_config
    cfg_path = write_tiny_config(str(tmp_path / 'sdfn.py'), 'sdfn_css.py', css_root)
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        model = MODELS.build(Config.fromfile(cfg_path).model).eval()
    memory = [m for m in model.modules() if type(m).__name__ == 'PathMemory']
    assert len(memory) == 1
    memory[0].allocate(5)
    memory[0].write(torch.tensor([1, 3]), torch.rand(2, memory[0].num_paths or 36))
    state = model.state_dict()
    memory_keys = [k for k in state if '.memory.' in k]
    assert len(memory_keys) == 4
    src = tmp_path / 'sdfn_train.pth'
    torch.save({'state_dict': state, 'optimizer': {'state': {}}, 'meta': {'epoch': 3}}, src)
    published = publish(str(src), str(tmp_path / 'sdfn_tiny.pth'))
    kept = torch.load(published, weights_only=True)['state_dict']
    assert set(kept) == set(state) - set(memory_keys)
    restored = get_model(cfg_path, published)
    ref, texts = _queries(css_root)
    with torch.no_grad():
        assert torch.equal(restored.extract_query(ref, texts).query, model.extract_query(ref, texts).query)

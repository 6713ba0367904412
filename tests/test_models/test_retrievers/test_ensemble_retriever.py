"""EnsembleRetriever: members from real config files and checkpoints, concatenated normalised features."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from sdfn_plugin.evaluation.topk import chunked_topk
from sdfn_plugin.registry import DATASETS, MODELS
from sdfn_plugin.structures import QueryBatch

from cir_testlib import crafted_checkpoint, write_tiny_config


def _member(tmp_path, css_root, base, seed):
    """A trained-model stand-in: the config's model with seeded random weights, saved as a checkpoint."""
    cfg_path = write_tiny_config(str(tmp_path / f'{seed}_{base}'), base, css_root)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        model = MODELS.build(Config.fromfile(cfg_path).model)
    ckpt = str(tmp_path / f'{seed}_{base}.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return dict(config=cfg_path, checkpoint=ckpt), model.eval()


@pytest.fixture(scope='module')
def members(tmp_path_factory, css_root):
    tmp = tmp_path_factory.mktemp('ensemble')
    return {base: _member(tmp, css_root, base, seed) for seed, base in
            enumerate(('film_css.py', 'tirg_css.py', 'amc_css.py', 'artemis_css.py'))}


def _build(members):
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        return MODELS.build(dict(type='EnsembleRetriever', members=members, topk=5, gallery_chunk=3)).eval()


@pytest.fixture(scope='module')
def batch(css_root):
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        ds = DATASETS.build(dict(type='CSSDataset', data_root=css_root, split='train', num_train=96, num_test=32,
                                 image_size=64, pipeline=[dict(type='LoadCIRImages', keys=('ref', 'tgt')),
                                                          dict(type='PackCIRInputs')]))
    batch = pseudo_collate([ds[i] for i in range(6)])
    for i, sample in enumerate(batch['data_samples']):  # the gallery below is the batch's targets
        sample.set_metainfo(dict(ref_gallery_idx=(i + 1) % 6 if i % 2 else -1, gt_gallery_idx=[i]))
    return batch


def test_ensemble_concatenates_normalised_features_of_loaded_members(members, batch):
    (m1, ref1), (m2, ref2) = members['film_css.py'], members['tirg_css.py']
    ens = _build([m1, m2])
    for member, ref in zip(ens.members, (ref1, ref2)):  # checkpoints were loaded, not fresh initialisations
        for (k, a), b in zip(member.named_parameters(), ref.parameters()):
            assert torch.equal(a, b), k
    data = ens.data_preprocessor(batch, False)['inputs']
    with torch.no_grad():
        q = ens.extract_query(data['ref'], data['text']).query
        g = ens.extract_gallery(data['tgt'])
        cos = [F.normalize(r.extract_query(data['ref'], data['text']).query, dim=-1)
               @ F.normalize(r.extract_gallery(data['tgt']), dim=-1).t() for r in (ref1, ref2)]
    assert q.shape == g.shape == (6, 1024)
    torch.testing.assert_close(q @ g.t(), cos[0] + cos[1])  # ensemble score = sum of member cosines
    ens.set_gallery(g)
    results = ens.predict(data, batch['data_samples'])
    exclude = torch.tensor([s.metainfo['ref_gallery_idx'] for s in batch['data_samples']])
    _, expected = chunked_topk(QueryBatch(q), g, ens.scorer, 5, exclude=exclude, gallery_chunk=1000)
    assert torch.equal(torch.stack([r['pred_topk'] for r in results]), expected)
    with pytest.raises(RuntimeError, match='evaluation-only'):
        ens(data, batch['data_samples'], mode='loss')


def test_members_with_different_embedding_sizes_are_refused(members):
    with pytest.raises(ValueError, match=r'different embedding sizes \[512, 256\]'):
        _build([members['film_css.py'][0], members['amc_css.py'][0]])  # 512-d and 256-d


def test_query_dependent_member_is_refused(members):
    m1, m2 = members['film_css.py'][0], members['artemis_css.py'][0]
    with pytest.raises(ValueError, match=r'members\[1\] .* uses ARTEMISScorer, whose scores are not an inner product'):
        _build([m1, m2])


def test_bad_member_specifications(members):
    m1 = members['film_css.py'][0]
    with pytest.raises(ValueError, match='at least two trained models'):
        _build([m1])
    with pytest.raises(ValueError, match=r'members\[1\] must be dict\(config=<config file>, checkpoint='):
        _build([m1, dict(config=m1['config'])])


def test_member_checkpoints_load_safely_and_strictly(members, tmp_path):
    """A crafted member checkpoint is refused before it can run; another method's checkpoint is one
    mismatch error (strict); --allow-partial's policy loads the matching part."""
    from sdfn_plugin.utils.checkpoint import CheckpointMismatchError, UnsafeCheckpointError, load_policy
    film, tirg = members['film_css.py'][0], members['tirg_css.py'][0]
    marker = str(tmp_path / 'marker')
    evil = crafted_checkpoint(str(tmp_path / 'evil.pth'), marker)
    with pytest.raises(UnsafeCheckpointError, match=r'refused to load checkpoint .*evil\.pth'):
        _build([film, dict(config=tirg['config'], checkpoint=evil)])
    assert not (tmp_path / 'marker').exists()
    swapped = dict(config=tirg['config'], checkpoint=film['checkpoint'])  # FiLM weights on a TIRG config
    with pytest.raises(CheckpointMismatchError, match=r'does not match the model ComposedRetriever: \d+ missing '
                                                      r'keys \(fusion\..*\d+ unexpected keys \(fusion\.'):
        _build([film, swapped])
    with load_policy(allow_partial=True):
        ens = _build([film, swapped])
    loaded, ref = ens.members[1].image_encoder.state_dict(), members['film_css.py'][1].image_encoder.state_dict()
    assert loaded.keys() == ref.keys() and all(torch.equal(loaded[k], ref[k]) for k in ref)  # the shared part


def test_members_restore_their_vocabulary_from_the_checkpoint(members, tmp_path):
    """A member config whose training annotations are gone still builds: the LSTM vocabulary comes from
    the checkpoint (as for ``get_model``), and nothing is read or generated at the config's data root."""
    (tirg, ref), (film, _) = members['tirg_css.py'], members['film_css.py']
    gone = tmp_path / 'no_data'
    moved = write_tiny_config(str(tmp_path / 'moved_tirg.py'), 'tirg_css.py', str(gone))
    ens = _build([dict(config=moved, checkpoint=tirg['checkpoint']), film])
    assert not gone.exists()
    assert len(ens.members[0].text_encoder.vocab) == len(ref.text_encoder.vocab) > 4
    for (k, a), b in zip(ens.members[0].state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b, k

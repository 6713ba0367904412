import pytest
import torch

from sdfn_plugin.models.scorers import ARTEMISScorer
from sdfn_plugin.registry import MODELS

from zoo_testlib import build_offline, tiny_css_config, train_one_iteration


def test_artemis_css_config_trains_one_iteration(css_root):
    model, losses = train_one_iteration('artemis_css.py', css_root)
    assert type(model.fusion).__name__ == 'ARTEMIS' and isinstance(model.scorer, ARTEMISScorer)
    loss = model.losses[0]
    assert loss.parametrization == 'exp' and loss.scale.requires_grad
    assert abs(loss.multiplier().item() - 1 / 0.07) < 0.1  # one Adam step moves T by about lr
    assert torch.isfinite(losses['loss'])


@pytest.mark.parametrize('dataset', ['shoes', 'fashioniq', 'fashion200k'])
def test_artemis_two_stage_configs(dataset, css_root):
    stage1, cfg1 = build_offline(f'artemis-stage1_{dataset}.py', css_root)
    stage2, cfg2 = build_offline(f'artemis_{dataset}.py', css_root)
    enc1, enc2 = stage1.image_encoder, stage2.image_encoder
    # stage 1: CNN and word embeddings frozen; the image fc, the recurrent text encoder and ARTEMIS train
    assert not any(p.requires_grad for p in enc1.layers.parameters()) and enc1.proj.weight.requires_grad
    assert not stage1.text_encoder.embedding.weight.requires_grad
    assert stage1.text_encoder.rnn.weight_ih_l0.requires_grad
    stage1.train()  # official: frozen through requires_grad only, so the CNN's BatchNorm runs in train mode
    assert enc1.stem[1].training and not enc1.stem[1].weight.requires_grad
    # stage 2: everything trains, starting from stage 1's last checkpoint
    assert enc2.frozen_stages == -1 and all(p.requires_grad for p in stage2.parameters())
    assert cfg2.load_from == f'work_dirs/artemis-stage1_{dataset}/epoch_8.pth'
    assert cfg1.train_cfg.max_epochs == 8 and cfg1.param_scheduler[0].step_size == 4
    expected = (100, 20, 128, 18) if dataset == 'fashion200k' else (50, 10, 32, 50)
    assert (cfg2.train_cfg.max_epochs, cfg2.param_scheduler[0].step_size, cfg2.train_dataloader.batch_size,
            cfg2.model.image_encoder.depth) == expected
    # the official stage 2 continues the stage-1 AdamW, whose lr ended at 5e-4 / 2
    assert cfg1.optim_wrapper.optimizer == dict(type='AdamW', lr=5e-4)
    assert cfg2.optim_wrapper.optimizer == dict(type='AdamW', lr=2.5e-4)
    assert isinstance(stage2.scorer, ARTEMISScorer) and stage2.losses[0].parametrization == 'exp'


def test_query_dependent_scorer_refuses_the_faiss_backend(css_root):
    cfg = tiny_css_config('artemis_css.py', css_root)
    cfg.model.retrieval_backend = 'faiss'
    with pytest.raises(ValueError, match="model.retrieval_backend='faiss' needs an inner-product scorer, "
                                         'but ARTEMISScorer has inner_product=False'):
        MODELS.build(cfg.model)

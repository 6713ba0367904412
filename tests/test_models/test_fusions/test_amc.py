import inspect
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from sdfn_plugin.utils.checkpoint import load_checkpoint_file
from sdfn_plugin.models.fusions import AMC, AMCRouter
from sdfn_plugin.models.fusions.amc import AUX_LAST_INPUT, CELL_NAMES
from sdfn_plugin.models.losses import GramConsistencyLoss
from sdfn_plugin.models.scorers import CosineScorer
from sdfn_plugin.structures import QueryBatch

from zoo_testlib import build_offline, features, tiny_css_config, train_one_iteration


def _ln(x):
    return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5)


def test_router_independent_sigmoid_gates_by_hand():
    router = AMCRouter(dim=2, num_out=3, hidden_dim=2).double()
    assert router.head.bias is None and router.body[0].bias is None
    with torch.no_grad():
        router.body[0].weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]))
        router.head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    img, txt = features(batch=1, num_tokens=2, image_dim=2, text_dim=2)
    img.tokens = torch.tensor([[[1.0, 5.0], [3.0, 7.0]]], dtype=torch.float64)  # region mean (2, 6)
    txt.pooled = torch.tensor([[0.0, -1.0]], dtype=torch.float64)
    # [mean x; s] = (2, 6, 0, -1) -> W_1 -> (2, -1) -> LN -> (1, -1) (eps aside) -> ReLU -> (1, 0)
    h = torch.relu(_ln(torch.tensor([2.0, -1.0], dtype=torch.float64)))
    expected = torch.sigmoid(torch.stack([h[0], h[1], h[0] + h[1]]))
    gates = router(img.tokens, txt)
    torch.testing.assert_close(gates, expected.unsqueeze(0))
    assert gates.sum().item() == pytest.approx(2 * torch.sigmoid(h[0]).item() + 0.5)  # not a softmax


def test_cells_and_layer_output_by_hand():
    torch.manual_seed(0)
    amc = AMC(4, 4, 4, num_layers=1, num_heads=2, router_hidden=3).double()
    layer = amc.layers[0]
    residual, joint, style = layer.cells
    img, txt = features(batch=2, num_tokens=3)
    x, s = img.tokens, txt.pooled
    torch.testing.assert_close(residual(x, txt), _ln(x))
    with torch.no_grad():
        style.gamma.weight.copy_(torch.eye(4, dtype=torch.float64))
        style.gamma.bias.zero_()
        style.beta.weight.zero_()
        style.beta.bias.fill_(1.0)
    torch.testing.assert_close(style(x, txt), _ln(x * s[:, None] + 1.0))
    with torch.no_grad():
        layer.router.head.weight.zero_()  # every gate = sigmoid(0) = 1/2
    out = amc(img, txt)
    expected = 0.5 * (_ln(x) + joint(x, txt) + style(x, txt))
    torch.testing.assert_close(out.query, expected.mean(1))
    torch.testing.assert_close(out.aux['paths'], torch.full((2, 1, 3), 0.5, dtype=torch.float64))
    torch.testing.assert_close(out.aux[AUX_LAST_INPUT], x.mean(1))


def test_two_layers_feed_forward_and_expose_gates():
    torch.manual_seed(0)
    amc = AMC(8, 8, 8, num_heads=2).double()
    assert len(amc.layers) == 2 and CELL_NAMES == ('residual', 'joint_reasoning', 'style')
    assert amc.layers[0].router.hidden_dim == 4  # embed_dim // 2
    img, txt = features(batch=3, num_tokens=4, image_dim=8, text_dim=8)
    out = amc(img, txt)
    x1, g1 = amc.layers[0](img.tokens, txt)
    x2, g2 = amc.layers[1](x1, txt)
    torch.testing.assert_close(out.query, x2.mean(1))
    torch.testing.assert_close(out.aux[AUX_LAST_INPUT], x1.mean(1))
    torch.testing.assert_close(out.aux['paths'], torch.stack([g1, g2], 1))
    assert ((out.aux['paths'] > 0) & (out.aux['paths'] < 1)).all()


def test_bad_config():
    with pytest.raises(ValueError, match='AMC needs image_dim == text_dim == embed_dim'):
        AMC(8, 4, 8)
    with pytest.raises(ValueError, match='AMC.num_layers must be a positive int'):
        AMC(8, 8, 8, num_layers=0)
    with pytest.raises(ValueError, match=r'AMC expects region tokens \(B, N, 8\)'):
        AMC(8, 8, 8, num_heads=2)(*features(image_dim=4, text_dim=8))


def test_css_config_trains_one_iteration_with_both_loss_terms(css_root):
    model, losses = train_one_iteration('amc_css.py', css_root)
    assert type(model.fusion).__name__ == 'AMC' and model.image_encoder.pool == 'mean'
    assert set(losses) >= {'loss_bbc', 'loss_consistency'} and torch.isfinite(losses['loss'])
    assert model.losses[0].multiplier().item() == 10.0


def test_gram_term_is_amc_similarity_mse():
    amc = AMC(4, 4, 4, num_heads=2).double()
    img, txt = features(batch=5, num_tokens=3)
    out = amc(img, txt)
    t = torch.randn(5, 4, dtype=torch.float64)
    res = GramConsistencyLoss(aux_key=AUX_LAST_INPUT)(QueryBatch(out.query, out.aux), t, CosineScorer())
    u = F.normalize(torch.cat([out.aux[AUX_LAST_INPUT], out.query], 1), dim=1)
    v = F.normalize(t, dim=1)
    expected = ((u @ u.t() - v @ v.t()) ** 2).mean()
    torch.testing.assert_close(res['loss_consistency'].double(), expected, rtol=1e-5, atol=1e-7)


class _Record(Hook):
    """Snapshots the fusion weights the evaluation sees, and the raw ones right before it."""

    priority = 'LOW'  # after EMAHook (ABOVE_NORMAL) swapped the EMA weights in

    def __init__(self):
        self.raw, self.evaluated = [], []

    @staticmethod
    def _snap(runner):
        return {k: v.detach().clone() for k, v in runner.model.fusion.state_dict().items()}

    def after_train_epoch(self, runner):
        self.raw.append(self._snap(runner))

    def before_val_epoch(self, runner):
        self.evaluated.append(self._snap(runner))


def test_ema_weights_are_evaluated_and_the_raw_weights_restored(css_root, tmp_path):
    cfg = tiny_css_config('amc_css.py', css_root)
    cfg.train_dataloader.update(batch_size=16, num_workers=0, persistent_workers=False)
    cfg.val_dataloader.update(batch_size=32, num_workers=0, persistent_workers=False)
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.logger.interval = 1
    record = _Record()
    cfg.custom_hooks = list(cfg.custom_hooks) + [record]
    names = set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        runner = Runner(**{k: cfg[k] for k in names if k in cfg})
        runner.train()
    ema_hook = next(h for h in runner.hooks if type(h).__name__ == 'EMAHook')
    ema = {k[len('fusion.'):]: v for k, v in ema_hook.ema_model.module.state_dict().items()
           if k.startswith('fusion.')}
    (raw, ), (evaluated, ) = record.raw, record.evaluated
    now = runner.model.fusion.state_dict()
    key = 'layers.0.router.head.weight'
    assert not torch.equal(raw[key], evaluated[key])  # the evaluation saw other (EMA) weights ...
    for k in raw:
        torch.testing.assert_close(evaluated[k], ema[k], rtol=0, atol=0)  # ... exactly the EMA ones
        torch.testing.assert_close(now[k], raw[k], rtol=0, atol=0)  # and the raw weights are back
    # the checkpoint's state_dict holds the EMA weights (mmengine's before_save_checkpoint), as AMC saves them
    ckpt = load_checkpoint_file(osp.join(cfg.work_dir, 'epoch_1.pth'))
    torch.testing.assert_close(ckpt['state_dict']['fusion.' + key], ema[key], rtol=0, atol=0)


@pytest.mark.parametrize('dataset', ['shoes', 'fashioniq', 'fashion200k'])
def test_amc_real_dataset_configs_follow_the_paper_recipe(dataset, css_root):
    model, cfg = build_offline(f'amc_{dataset}.py', css_root)
    assert isinstance(model.fusion, AMC) and len(model.fusion.layers) == 2 and model.fusion.embed_dim == 1024
    assert model.image_encoder.norm_eval and not model.image_encoder.frozen_bn
    bn = model.image_encoder.stem[1]
    model.train()
    assert not bn.training and bn.weight.requires_grad  # running statistics fixed, affine parameters train (AMC)
    assert model.text_encoder.max_padding == 'zero'
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=1e-4, weight_decay=1e-6, eps=1e-8)
    assert cfg.param_scheduler[0].milestones == [40] and cfg.train_cfg.max_epochs == 50
    ema = cfg.custom_hooks[0]
    assert ema.type == 'EMAHook' and ema.momentum == pytest.approx(1 - 0.999) and ema.priority == 'ABOVE_NORMAL'
    assert [type(l).__name__ for l in model.losses] == ['BatchClassificationLoss', 'GramConsistencyLoss']

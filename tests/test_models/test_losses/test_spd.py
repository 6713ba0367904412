"""Self path distillation: loss values, memory semantics, checkpoints, hook, DDP sync."""
import os
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from torch import nn
from torch.utils.data import DataLoader

from sdfn_plugin.utils.checkpoint import load_checkpoint_file
from sdfn_plugin.engine.hooks.path_memory_hook import PathMemoryHook
from sdfn_plugin.models.fusions.sdfn import SDFN
from sdfn_plugin.models.losses.path_memory import PathMemory
from sdfn_plugin.models.losses.spd import SelfPathDistillationLoss, student_path_probs
from sdfn_plugin.registry import HOOKS, MODELS
from sdfn_plugin.structures import CIRDataSample, ImageFeatures, QueryBatch, TextFeatures

TAU = 4.0
N_DIST, N_MOD = 3, 2  # a 2-layer, 2-module SDFN: P = 2*2 + 2 = 6
P = N_DIST * N_MOD


def build(registry, cfg):
    # robust to a default scope left behind by other tests' Runners
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):
        return registry.build(cfg)


def samples(idx):
    return [CIRDataSample(metainfo=dict(sample_idx=int(i))) for i in idx]


def msr_query(z_img, z_txt):
    return QueryBatch(torch.zeros(z_img.shape[0], 4), {'route_logits_img': z_img, 'route_logits_txt': z_txt})


def new_loss(num_samples=10, **kwargs):
    loss = SelfPathDistillationLoss(temperature=TAU, **kwargs)
    loss.allocate(num_samples, P)
    return loss


def logits(b, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, N_DIST, N_MOD, generator=g), torch.randn(b, N_DIST, N_MOD, generator=g)


def test_empty_memory_gives_exactly_zero_and_writes_current():
    loss = new_loss()
    zi, zt = logits(3, 0)
    zi.requires_grad_(True)
    out = loss(msr_query(zi, zt), None, None, samples([1, 4, 7]))
    assert out['loss_spd'].item() == 0.0 and out['spd_coverage'].item() == 0.0
    out['loss_spd'].backward()  # connected to the graph even when zero
    mem = loss.memory
    assert mem.current_valid.tolist() == [i in (1, 4, 7) for i in range(10)]
    assert not mem.teacher_valid.any() and torch.equal(mem.teacher, torch.zeros(10, P))
    expected = 0.5 * ((zi / TAU).softmax(-1) + (zt / TAU).softmax(-1))
    torch.testing.assert_close(mem.current[[1, 4, 7]], expected.detach().reshape(3, P))


def test_loss_zero_when_predictions_equal_memory_and_matches_hand_kl():
    loss = new_loss()
    zi, zt = logits(3, 0)
    idx = [2, 5, 9]
    loss(msr_query(zi, zt), None, None, samples(idx))
    loss.commit_epoch()
    same = loss(msr_query(zi, zt), None, None, samples(idx))
    assert same['loss_spd'].item() == 0.0 and same['spd_coverage'].item() == 1.0

    teacher = 0.5 * ((zi / TAU).softmax(-1) + (zt / TAU).softmax(-1))
    zi2, zt2 = logits(3, 1)
    zi2.requires_grad_(True)
    out = loss(msr_query(zi2, zt2), None, None, samples(idx))
    student = 0.5 * ((zi2 / TAU).softmax(-1) + (zt2 / TAU).softmax(-1))
    kl = (teacher * (teacher.log() - student.log())).sum(-1)  # (B, n_dist)
    hand = TAU ** 2 * kl.mean(-1).mean()
    assert out['loss_spd'].item() > 0
    torch.testing.assert_close(out['loss_spd'], hand)
    out['loss_spd'].backward()
    assert zi2.grad.abs().sum() > 0
    assert not loss.memory.teacher.requires_grad


def test_partial_coverage_and_loss_weight():
    loss = new_loss(loss_weight=0.5)
    zi, zt = logits(2, 0)
    loss(msr_query(zi, zt), None, None, samples([0, 1]))
    loss.commit_epoch()
    zi2, zt2 = logits(4, 3)
    out = loss(msr_query(zi2, zt2), None, None, samples([0, 1, 2, 3]))  # rows 2, 3 have no teacher
    teacher = 0.5 * ((zi / TAU).softmax(-1) + (zt / TAU).softmax(-1))
    student = 0.5 * ((zi2[:2] / TAU).softmax(-1) + (zt2[:2] / TAU).softmax(-1))
    kl = (teacher * (teacher.log() - student.log())).sum(-1).mean(-1)
    torch.testing.assert_close(out['loss_spd'], 0.5 * TAU ** 2 * kl.sum() / 4)
    assert out['spd_coverage'].item() == 0.5


def test_single_logit_student_and_router_none_error():
    z = torch.randn(2, N_DIST, N_MOD)
    both = {'route_logits': z, 'route_logits_img': torch.zeros_like(z), 'route_logits_txt': torch.zeros_like(z)}
    torch.testing.assert_close(student_path_probs(both, TAU), (z / TAU).softmax(-1))  # route_logits wins
    loss = new_loss()
    with pytest.raises(KeyError, match=r"router='none'.*undefined"):
        loss(QueryBatch(torch.zeros(2, 4), {'paths': torch.zeros(2, P)}), None, None, samples([0, 1]))


def test_memory_shifts_exactly_at_commit():
    loss = new_loss()
    mem = loss.memory
    loss(msr_query(*logits(2, 0)), None, None, samples([0, 1]))
    loss.commit_epoch()
    teacher_before = mem.teacher.clone()
    valid_before = mem.teacher_valid.clone()
    loss(msr_query(*logits(2, 5)), None, None, samples([0, 1]))  # writes do not touch the teacher
    loss(msr_query(*logits(2, 6)), None, None, samples([3, 4]))
    assert torch.equal(mem.teacher, teacher_before) and torch.equal(mem.teacher_valid, valid_before)
    current = mem.current.clone()
    assert mem.current_valid.tolist() == [i in (0, 1, 3, 4) for i in range(10)]
    loss.commit_epoch()
    assert torch.equal(mem.teacher, current)
    assert mem.teacher_valid.tolist() == [i in (0, 1, 3, 4) for i in range(10)]
    assert not mem.current_valid.any() and not mem.current.any()


def test_eval_mode_does_not_write():
    loss = new_loss().eval()
    loss(msr_query(*logits(2, 0)), None, None, samples([0, 1]))
    assert not loss.memory.current_valid.any()


def test_allocation_rules_and_index_errors():
    loss = SelfPathDistillationLoss()
    with pytest.raises(RuntimeError, match='PathMemoryHook'):
        loss(msr_query(*logits(2, 0)), None, None, samples([0, 1]))
    loss.allocate(10, P)
    loss(msr_query(*logits(2, 0)), None, None, samples([0, 1]))
    content = loss.memory.current.clone()
    loss.allocate(10, P)  # same size keeps the content
    assert torch.equal(loss.memory.current, content) and loss.memory.current_valid[:2].all()
    with pytest.raises(ValueError, match='num_samples'):
        loss.allocate(12, P)
    with pytest.raises(ValueError, match=r'sample_idx range \[9, 10\].*10 rows'):
        loss(msr_query(*logits(2, 0)), None, None, samples([9, 10]))
    with pytest.raises(ValueError, match='num_paths'):
        loss(QueryBatch(torch.zeros(1, 4), {'route_logits': torch.zeros(1, 9, 4)}), None, None, samples([0]))
    lazy = SelfPathDistillationLoss()
    lazy.allocate(5)  # width fixed by the first write
    lazy(msr_query(*logits(1, 0)), None, None, samples([3]))
    assert lazy.memory.teacher.shape == (5, P)


class _Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.spd = SelfPathDistillationLoss(temperature=TAU)


def _filled_holder(num_samples=10):
    holder = _Holder()
    holder.spd.allocate(num_samples, P)
    holder.spd(msr_query(*logits(3, 0)), None, None, samples([0, 2, 4]))
    holder.spd.commit_epoch()
    holder.spd(msr_query(*logits(2, 1)), None, None, samples([1, 3]))
    return holder


def test_state_dict_round_trip_and_size_checks(tmp_path):
    from mmengine.runner.checkpoint import load_checkpoint, save_checkpoint
    src = _filled_holder()
    state = src.state_dict()
    assert {'spd.memory.teacher', 'spd.memory.teacher_valid', 'spd.memory.current',
            'spd.memory.current_valid'} <= set(state)
    fresh = _Holder()  # not allocated: adopts the checkpoint's size
    fresh.load_state_dict(state)
    for key, value in state.items():
        assert torch.equal(fresh.state_dict()[key], value), key
    allocated = _Holder()
    allocated.spd.allocate(10, P)
    path = str(tmp_path / 'ckpt.pth')
    save_checkpoint({'state_dict': state}, path)
    load_checkpoint(allocated, path, map_location='cpu')  # mmengine's loader
    for key, value in state.items():
        assert torch.equal(allocated.state_dict()[key], value), key

    wrong = _Holder()
    wrong.spd.allocate(9000, P)
    big = _filled_holder(10000).state_dict()
    with pytest.raises(ValueError, match=r'SelfPathDistillationLoss memory has 9000 rows but the checkpoint has '
                                         r'10000 \(num_samples; a checkpoint from another dataset\?\)'):
        wrong.load_state_dict(big)
    with pytest.raises(ValueError, match='num_samples'):
        load_checkpoint(wrong, path, map_location='cpu')
    other_width = _Holder()
    other_width.spd.allocate(10, 36)
    with pytest.raises(ValueError, match=r'36 paths per sample but the checkpoint has 6 \(num_paths'):
        other_width.load_state_dict(state)
    # published weights without the memory load strictly and leave the memory untouched
    stripped = {k: v for k, v in state.items() if '.memory.' not in k}
    target = _filled_holder()
    before = target.spd.memory.teacher.clone()
    target.load_state_dict(stripped, strict=True)
    assert torch.equal(target.spd.memory.teacher, before)


def test_end_to_end_with_sdfn():
    torch.manual_seed(0)
    fusion = SDFN(8, 8, 8, modules=('GTM', 'RCM'), num_layers=2, num_heads=2)
    for router in fusion.routers.modules():
        if hasattr(router, 'head'):
            nn.init.normal_(router.head.weight)
    loss = build(MODELS, dict(type='SelfPathDistillationLoss'))
    loss.allocate(6, fusion.num_paths)
    x, w = torch.randn(3, 4, 8), torch.randn(3, 5, 8)
    txt = TextFeatures(w, torch.ones(3, 5, dtype=torch.bool), w.max(1).values)
    out = fusion(ImageFeatures(x, x.mean(1)), txt)
    q = QueryBatch(out.query, out.aux)
    assert loss(q, None, None, samples([0, 1, 2]))['loss_spd'].item() == 0.0
    loss.commit_epoch()
    assert loss(q, None, None, samples([0, 1, 2]))['loss_spd'].item() == 0.0
    loss.commit_epoch()
    torch.testing.assert_close(loss.memory.teacher[:3].view(3, 3, 2),
                               student_path_probs(out.aux, 4.0).detach())
    with pytest.raises(KeyError, match='SPD|self path distillation'):
        loss(QueryBatch(out.query, {'paths': out.aux['paths']}), None, None, samples([0, 1, 2]))


# ----------------------------------------------------------------------------- hook
def test_hook_allocates_and_commits_with_a_fake_runner():
    model = _Holder()
    model.fusion = SDFN(8, 8, 8, modules=('GTM', 'RCM'), num_layers=2, num_heads=2)
    runner = SimpleNamespace(model=model, train_dataloader=SimpleNamespace(dataset=list(range(7))), _train_loop=None)
    hook = build(HOOKS, dict(type='PathMemoryHook'))
    hook.before_run(runner)  # val/test runs: no train loop built -> nothing allocated
    assert not model.spd.memory.is_allocated
    hook.before_train(runner)
    assert model.spd.memory.teacher.shape == (7, 6)
    model.spd(msr_query(*logits(2, 0)), None, None, samples([0, 6]))
    hook.after_train_epoch(runner)
    assert model.spd.memory.teacher_valid.tolist() == [True, False, False, False, False, False, True]


class _ToyRetriever(BaseModel):
    def __init__(self):
        super().__init__()
        self.fusion = SDFN(8, 8, 8, modules=('GTM', 'RCM'), num_layers=2, num_heads=2)
        self.losses = nn.ModuleList([SelfPathDistillationLoss()])

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs)
        txt = TextFeatures(x, torch.ones(x.shape[:2], dtype=torch.bool), x.max(1).values)
        out = self.fusion(ImageFeatures(x, x.mean(1)), txt)
        losses = self.losses[0](QueryBatch(out.query, out.aux), out.query, None, data_samples)
        losses['loss_q'] = (out.query - 1).pow(2).mean()
        return losses


class _Probe(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.teacher = None

    def before_train(self, runner):
        self.teacher = runner.model.losses[0].memory.teacher.clone()


def _runner(work_dir, num_samples, max_epochs, name, **kwargs):
    from mmengine.dataset import pseudo_collate

    from sdfn_plugin.engine.runner import CIRRunner
    g = torch.Generator().manual_seed(0)
    data = [dict(inputs=torch.randn(3, 8, generator=g), data_samples=CIRDataSample(metainfo=dict(sample_idx=i)))
            for i in range(num_samples)]
    probe = _Probe()
    runner = CIRRunner(model=_ToyRetriever(), work_dir=str(work_dir), experiment_name=name,
                    train_dataloader=DataLoader(data, batch_size=4, collate_fn=pseudo_collate),
                    train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5)),
                    default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1), logger=None),
                    custom_hooks=[PathMemoryHook(), probe], log_level='WARNING', default_scope='sdfn_plugin',
                    **kwargs)
    return runner, probe


def test_hook_with_mmengine_runner_train_and_resume(tmp_path):
    with DefaultScope.overwrite_default_scope('sdfn_plugin'):  # drop the Runners' scopes afterwards
        _train_and_resume(tmp_path)


def _train_and_resume(tmp_path):
    runner, _ = _runner(tmp_path, 10, 2, f'spd_a_{os.getpid()}')
    runner.train()
    mem = runner.model.losses[0].memory
    assert mem.teacher.shape == (10, 6) and mem.teacher_valid.all() and not mem.current_valid.any()
    ckpt = load_checkpoint_file(str(tmp_path / 'epoch_1.pth'))
    saved = ckpt['state_dict']['losses.0.memory.teacher']
    assert ckpt['state_dict']['losses.0.memory.teacher_valid'].all()
    # resume from epoch 1: the memory is allocated before load_or_resume and restored from the checkpoint
    resumed, probe = _runner(tmp_path, 10, 2, f'spd_b_{os.getpid()}', resume=True,
                             load_from=str(tmp_path / 'epoch_1.pth'))
    resumed.train()
    assert torch.equal(probe.teacher, saved)
    # a checkpoint of another dataset size is rejected (proves allocation happens before the load)
    other, _ = _runner(tmp_path, 12, 2, f'spd_c_{os.getpid()}', resume=True,
                       load_from=str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(ValueError, match='has 12 rows but the checkpoint has 10'):
        other.train()


# ----------------------------------------------------------------------------- distributed
def _dist_memory_worker(rank, world_size):
    loss = SelfPathDistillationLoss(temperature=2.0)
    loss.allocate(8, P)
    idx = [[0, 3], [5, 6]][rank]
    z = torch.randn(2, N_DIST, N_MOD, generator=torch.Generator().manual_seed(rank))
    loss(QueryBatch(torch.zeros(2, 4), {'route_logits': z}), None, None, samples(idx))
    loss.commit_epoch()
    state = {k: v.clone() for k, v in loss.state_dict().items()}
    try:  # unequal per-rank batch sizes must raise on every rank
        n = 2 + rank
        loss(QueryBatch(torch.zeros(n, 4), {'route_logits': torch.zeros(n, N_DIST, N_MOD)}), None, None,
             samples(range(n)))
        err = None
    except ValueError as exc:
        err = str(exc)
    return state, (z / 2.0).softmax(-1).reshape(2, P), err


def test_distributed_memories_are_identical():
    try:
        from sdfn_plugin.testing.dist import run_distributed
    except ImportError:  # pragma: no cover
        pytest.skip('sdfn_plugin.testing.dist.run_distributed is not available')
    (s0, p0, e0), (s1, p1, e1) = run_distributed(_dist_memory_worker, 2, timeout=120.0)
    for key in s0:
        assert torch.equal(s0[key], s1[key]), key
    assert s0['memory.teacher_valid'].tolist() == [i in (0, 3, 5, 6) for i in range(8)]
    torch.testing.assert_close(s0['memory.teacher'][[0, 3]], p0)
    torch.testing.assert_close(s0['memory.teacher'][[5, 6]], p1)
    assert e0 is not None and e1 is not None and 'batch sizes differ [2, 3]' in e0 and e0 == e1


def test_path_memory_standalone_validation():
    with pytest.raises(ValueError, match='num_paths'):
        PathMemory(0)
    mem = PathMemory(6, owner='X')
    with pytest.raises(ValueError, match='num_paths=6 was configured'):
        mem.allocate(4, 36)

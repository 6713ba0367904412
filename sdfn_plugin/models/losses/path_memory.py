"""Per-sample memory of routing predictions for Self Path Distillation.

SDFN (arXiv 2405.15451) Eq. 4 distils the previous epoch's path predictions
into the current model. Instead of keeping a copy of last epoch's network, we
record each training sample's (softened) path vector when it is seen and
replay it one epoch later (``docs/sdfn.md``, Objective).

Two banks of persistent buffers (they travel in the model ``state_dict``, so
mmengine checkpoints and ``--resume`` restore them):

* ``teacher (N, P)`` + ``teacher_valid (N,)``: what the previous epoch wrote;
  read during the current epoch, never changed by writes;
* ``current (N, P)`` + ``current_valid (N,)``: written during the current epoch.

:meth:`commit_epoch` (called by ``PathMemoryHook.after_train_epoch``) copies
``current`` to ``teacher`` — including its validity, so a sample not seen in
an epoch (``drop_last``) has no teacher in the next one — and clears ``current``.

Buffers are resized in place (``tensor.data = ...``) so objects holding
references to them (DDP's buffer list, EMA copies made later) stay valid.
"""
from typing import List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import nn

__all__ = ['PathMemory', 'path_memory_keys']

_BUFFERS = ('teacher', 'teacher_valid', 'current', 'current_valid')


def path_memory_keys(state_dict: dict) -> List[str]:
    """The keys of every :class:`PathMemory` in a model ``state_dict`` (training-only state:
    ``tools/publish_model.py`` drops them; a model loads without them)."""
    prefixes = {k[:-len('teacher')] for k in state_dict if k.endswith('teacher')}
    return sorted(p + name for p in prefixes if all(p + n in state_dict for n in _BUFFERS) for name in _BUFFERS)


class PathMemory(nn.Module):
    """Args:
        num_paths: width P of a row (the fusion's path-vector length, 36 for the
            default SDFN); ``None`` -> fixed by :meth:`allocate` or the first write.
        owner: name used in error messages (the loss that owns the memory).
    """

    def __init__(self, num_paths: Optional[int] = None, owner: str = 'PathMemory') -> None:
        super().__init__()
        if num_paths is not None and num_paths < 1:
            raise ValueError(f'{owner}.num_paths must be >= 1 or None, got {num_paths}')
        self.owner = owner
        self.expected_paths = num_paths
        width = num_paths or 0
        self.register_buffer('teacher', torch.zeros(0, width))
        self.register_buffer('teacher_valid', torch.zeros(0, dtype=torch.bool))
        self.register_buffer('current', torch.zeros(0, width))
        self.register_buffer('current_valid', torch.zeros(0, dtype=torch.bool))

    # ------------------------------------------------------------------ sizes
    @property
    def num_samples(self) -> int:
        return int(self.teacher.shape[0])

    @property
    def num_paths(self) -> int:
        return int(self.teacher.shape[1])

    @property
    def is_allocated(self) -> bool:
        return self.num_samples > 0

    def _has_content(self) -> bool:
        return bool(self.teacher_valid.any()) or bool(self.current_valid.any())

    def _resize(self, num_samples: int, num_paths: int) -> None:
        for name in _BUFFERS:
            buf = getattr(self, name)
            shape = (num_samples, num_paths) if buf.dim() == 2 else (num_samples,)
            buf.data = torch.zeros(shape, dtype=buf.dtype, device=buf.device)

    def allocate(self, num_samples: int, num_paths: Optional[int] = None) -> None:
        """Size the memory for ``num_samples`` training samples (all rows invalid).

        Allocating again with the same size keeps the content (so the hook may
        call it before and after a checkpoint is loaded). Changing the size of
        a memory that holds valid rows raises ``ValueError``.

        Args:
            num_samples: ``len(train_dataset)``; ``sample_idx`` must be below it.
            num_paths: row width; ``None`` keeps the current/constructor width
                (``0`` = decided by the first write).
        """
        if num_samples < 1:
            raise ValueError(f'{self.owner}: allocate(num_samples={num_samples}) needs num_samples >= 1')
        width = num_paths if num_paths is not None else (self.num_paths or self.expected_paths or 0)
        if self.expected_paths is not None and width != self.expected_paths:
            raise ValueError(f'{self.owner}: num_paths={self.expected_paths} was configured but the fusion '
                             f'gives {width} paths per sample (num_paths)')
        if num_samples == self.num_samples and width in (self.num_paths, 0):
            return  # same size: keep the content
        if self._has_content():
            if num_samples != self.num_samples:
                raise ValueError(f'{self.owner} memory has {self.num_samples} rows but {num_samples} were requested '
                                 '(num_samples; the training set changed after the memory was filled?)')
            raise ValueError(f'{self.owner} memory has {self.num_paths} paths per sample but {width} were requested '
                             '(num_paths; SDFN modules/num_layers changed?)')
        self._resize(num_samples, width)

    # ------------------------------------------------------------------ access
    def _index(self, sample_idx: torch.Tensor) -> torch.Tensor:
        if not self.is_allocated:
            raise RuntimeError(
                f'{self.owner}: the path memory is not allocated. Add dict(type=\'PathMemoryHook\') to '
                'custom_hooks (it sizes the memory with len(train_dataloader.dataset) before training) '
                'or call allocate(num_samples) yourself.')
        idx = torch.as_tensor(sample_idx, dtype=torch.long).to(self.teacher.device).reshape(-1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.num_samples):
            raise ValueError(f'{self.owner}: sample_idx range [{int(idx.min())}, {int(idx.max())}] is outside the '
                             f'memory of {self.num_samples} rows (num_samples = len(train dataset); sample_idx '
                             'must be the stable index into the training set)')
        return idx

    def read(self, sample_idx: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Teacher rows ``(B, P)`` and their validity ``(B,)`` for a batch."""
        idx = self._index(sample_idx)
        return self.teacher.index_select(0, idx), self.teacher_valid.index_select(0, idx)

    @torch.no_grad()
    def write(self, sample_idx: torch.Tensor, values: torch.Tensor) -> None:
        """Store ``values (B, P)`` (detached) as the current epoch's rows."""
        idx = self._index(sample_idx)
        values = values.detach().reshape(idx.numel(), -1)
        if self.num_paths == 0:
            if self._has_content():  # pragma: no cover - width 0 cannot hold content
                raise RuntimeError(f'{self.owner}: inconsistent memory')
            self._resize(self.num_samples, values.shape[1])
        if values.shape[1] != self.num_paths:
            raise ValueError(f'{self.owner} memory has {self.num_paths} paths per sample but the fusion gives '
                             f'{values.shape[1]} (num_paths; SDFN modules/num_layers changed?)')
        self.current.index_copy_(0, idx, values.to(self.current.dtype))
        self.current_valid.index_fill_(0, idx, True)

    @torch.no_grad()
    def commit_epoch(self) -> None:
        """Epoch boundary: ``teacher <- current`` (values and validity), then clear ``current``."""
        self.teacher.copy_(self.current)
        self.teacher_valid.copy_(self.current_valid)
        self.current.zero_()
        self.current_valid.zero_()

    def coverage(self) -> float:
        """Fraction of rows with a valid teacher."""
        return float(self.teacher_valid.float().mean()) if self.is_allocated else 0.0

    # ------------------------------------------------------------------ checkpoints
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Restore the memory, adopting the checkpoint's size when not allocated.

        * no memory entries in the checkpoint (published/stripped weights): the
          memory is left as is and no key is reported missing;
        * allocated with N rows but the checkpoint has M != N: ``ValueError``
          naming ``num_samples``; a different row width: ``ValueError`` naming
          ``num_paths``.
        """
        keys = {name: prefix + name for name in _BUFFERS}
        present = {name: state_dict[key] for name, key in keys.items() if key in state_dict}
        if not present:
            if self.is_allocated:
                print_log(f'{self.owner}: the checkpoint has no path memory; self path distillation restarts '
                          'from an empty memory', logger='current', level=30)
            return
        if len(present) != len(_BUFFERS):
            raise ValueError(f'{self.owner}: incomplete path memory in the checkpoint, missing '
                             f'{sorted(set(keys.values()) - set(prefix + n for n in present))}')
        teacher, current = present['teacher'], present['current']
        rows = int(teacher.shape[0])
        if any(int(t.shape[0]) != rows for t in present.values()) or teacher.shape != current.shape:
            raise ValueError(f'{self.owner}: inconsistent path memory shapes in the checkpoint: '
                             f'{ {n: tuple(t.shape) for n, t in present.items()} }')
        if self.is_allocated and rows != self.num_samples:
            raise ValueError(f'{self.owner} memory has {self.num_samples} rows but the checkpoint has {rows} '
                             '(num_samples; a checkpoint from another dataset?)')
        width = int(teacher.shape[1]) if teacher.dim() == 2 else 0
        if self.num_paths and width and width != self.num_paths:
            raise ValueError(f'{self.owner} memory has {self.num_paths} paths per sample but the checkpoint has '
                             f'{width} (num_paths; a checkpoint of an SDFN with other modules/num_layers?)')
        self._resize(rows, width or self.num_paths)
        with torch.no_grad():
            if width:
                self.teacher.copy_(teacher.to(self.teacher))
                self.current.copy_(current.to(self.current))
            self.teacher_valid.copy_(present['teacher_valid'].to(self.teacher_valid) & bool(width))
            self.current_valid.copy_(present['current_valid'].to(self.current_valid) & bool(width))

    def extra_repr(self) -> str:
        return f'owner={self.owner!r}, num_samples={self.num_samples}, num_paths={self.num_paths}'

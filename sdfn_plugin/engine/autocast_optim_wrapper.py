"""bfloat16 autocast for any device, including CPU training runs."""
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from sdfn_plugin.registry import OPTIM_WRAPPERS

__all__ = ['AutocastOptimWrapper']


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """Mixed precision with ``torch.autocast(<model device>, dtype=bfloat16)`` around the forward pass.

    mmengine's ``AmpOptimWrapper`` is the GPU switch (bf16 or fp16 with a loss scaler) but refuses to
    build without CUDA/NPU/MLU; this wrapper gives the same forward-pass autocast on CPU as well (fast on
    CPUs with native bf16, e.g. AMX/AVX512-BF16). bfloat16 keeps float32's exponent range, so no loss
    scaling is needed; float16 does need it: use ``AmpOptimWrapper`` on a GPU for fp16.

    Config: ``optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16', optimizer=dict(...))``.

    Args:
        optimizer, accumulative_counts, clip_grad: as in mmengine's ``OptimWrapper``.
        dtype: only ``'bfloat16'``.
        device_type: ``'cpu'`` / ``'cuda'``; ``None`` = the device of the model's first parameter.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, dtype: str = 'bfloat16', device_type: Optional[str] = None,
                 accumulative_counts: int = 1, clip_grad: Optional[dict] = None) -> None:
        super().__init__(optimizer, accumulative_counts=accumulative_counts, clip_grad=clip_grad)
        if dtype != 'bfloat16':
            raise ValueError(f"optim_wrapper.dtype must be 'bfloat16' for AutocastOptimWrapper, got {dtype!r}; "
                             "float16 needs loss scaling: use type='AmpOptimWrapper' (GPU) for it")
        if device_type not in (None, 'cpu', 'cuda'):
            raise ValueError(f"optim_wrapper.device_type must be None, 'cpu' or 'cuda', got {device_type!r}")
        self.cast_dtype = torch.bfloat16
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        device_type = self.device_type or next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device_type=device_type, dtype=self.cast_dtype):
            yield

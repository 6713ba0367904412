"""Dimension adapters between an encoder's native width and the configured ``out_dim``."""
from typing import Optional, Tuple

from torch import nn


def build_adapter(owner: str, native_dim: int, out_dim: Optional[int]) -> Tuple[nn.Module, int]:
    """A Linear ``native_dim -> out_dim`` (``None``: identity, native width kept).

    The same Linear is applied to every token and to the pooled feature. On a
    CNN feature map flattened row-major into tokens this *is* a 1x1 convolution,
    and because it is affine it commutes with token averaging: pooled-by-mean
    stays the mean of the adapted tokens.

    Returns the module and the resulting width.
    """
    if out_dim is None:
        return nn.Identity(), native_dim
    if isinstance(out_dim, bool) or not isinstance(out_dim, int) or out_dim <= 0:
        raise ValueError(f'{owner}.out_dim must be a positive int or None (native width {native_dim}), '
                         f'got {out_dim!r}')
    return nn.Linear(native_dim, out_dim), out_dim

"""Small helpers shared by the loss files."""

from __future__ import annotations

import torch
from torch import Tensor


def upcast(t: Tensor) -> Tensor:
    """fp16/bf16 -> fp32 (autocast outputs); float32/float64 unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def check_pairs(*tensors: Tensor) -> None:
    """Raise ``ValueError`` unless all tensors are ``(n, D)`` of one shape."""
    shape = tensors[0].shape
    if len(shape) != 2 or any(t.shape != shape for t in tensors):
        raise ValueError(
            f"expected (n, D) tensors of one shape, got {[tuple(t.shape) for t in tensors]}"
        )

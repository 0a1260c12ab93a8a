"""Projection heads.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709
"""

from __future__ import annotations

import math

from torch import Tensor, nn


def make_norm1d(norm: str, dim: int) -> nn.Module:
    """``batch`` -> BatchNorm1d, ``group`` -> GroupNorm (batch-independent)."""
    if norm == "batch":
        return nn.BatchNorm1d(dim)
    if norm == "group":
        return nn.GroupNorm(math.gcd(32, dim), dim)
    raise ValueError(f"norm {norm!r}: expected 'batch' or 'group'")


class ProjectionHead(nn.Module):
    """SimCLR projection MLP: ``Linear -> Norm -> ReLU -> Linear`` (2048-2048-128 for R50).

    Args:
        input_dim: Backbone feature dimension.
        hidden_dim: Hidden width.
        output_dim: Projection dimension (where the loss is applied).
        norm: ``batch`` or ``group``.

    Shape:
        - Input: ``(B, input_dim)``
        - Output: ``(B, output_dim)``

    Example:
        >>> import torch
        >>> ProjectionHead(16, 16, 8)(torch.rand(4, 16)).shape
        torch.Size([4, 8])
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, norm: str = "batch"):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(input_dim, hidden_dim, bias=False),
            make_norm1d(norm, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, output_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

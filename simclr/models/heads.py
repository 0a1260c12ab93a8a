"""Projection heads and the helpers the methods share to size and normalise them.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

MIN_GROUP_WIDTH = 8
"""Fewest features a GroupNorm group of a head normalises over (see :func:`group_count`)."""


def group_count(dim: int, max_groups: int = 32, min_width: int = MIN_GROUP_WIDTH) -> int:
    """GroupNorm groups for ``dim`` features of a head: at most 32, each >= 8 wide.

    On a ``(B, dim)`` tensor a group's statistics come from its features alone (there is
    no spatial extent), so a group of one feature normalises it to exactly 0 and a group
    of two to ±1. The count is the largest divisor of ``dim`` that is at most
    ``max_groups`` and leaves ``min_width`` features per group; 1 (normalise over all
    features, as LayerNorm) when ``dim < min_width``.

    Example:
        >>> [group_count(d) for d in (2048, 256, 128, 32, 8, 6)]
        [32, 32, 16, 4, 1, 1]
    """
    for g in range(min(max_groups, dim // min_width), 1, -1):
        if dim % g == 0:
            return g
    return 1


def default_projector_dim(num_features: int) -> int:
    """Width of the 3-layer projectors of Barlow Twins, VICReg and VICRegL when unset.

    8192 for ResNet-50-sized features (the papers), 2048 for ResNet-18-sized ones.

    Example:
        >>> default_projector_dim(2048), default_projector_dim(512)
        (8192, 2048)
    """
    return 8192 if num_features >= 2048 else 2048


def make_norm1d(norm: str, dim: int, affine: bool = True) -> nn.Module:
    """``batch`` -> BatchNorm1d, ``group`` -> GroupNorm (batch-independent, groups from
    :func:`group_count`)."""
    if norm == "batch":
        return nn.BatchNorm1d(dim, affine=affine)
    if norm == "group":
        return nn.GroupNorm(group_count(dim), dim, affine=affine)
    raise ValueError(f"norm {norm!r}: expected 'batch' or 'group'")


class MLP(nn.Module):
    """``(Linear -> Norm -> ReLU) x (len(dims) - 2) -> Linear [-> Norm]``.

    The projectors and predictors of BYOL, SimSiam, Barlow Twins, VICReg, NNCLR and
    SwAV differ only in their widths, depth and whether the output is normalised.

    Args:
        dims: Input, hidden..., output widths (at least two).
        norm: ``batch`` or ``group``.
        last_norm: Normalise the output (SimSiam's and NNCLR's projectors).
        last_affine: Whether that output normalisation is affine (SimSiam: no).
        bias: Bias in the hidden linear layers (dropped before a norm in most papers).

    Shape:
        - Input: ``(B, dims[0])``
        - Output: ``(B, dims[-1])``

    Example:
        >>> import torch
        >>> MLP([16, 32, 32, 8], last_norm=True)(torch.rand(4, 16)).shape
        torch.Size([4, 8])
    """

    def __init__(
        self,
        dims: Sequence[int],
        norm: str = "batch",
        last_norm: bool = False,
        last_affine: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if len(dims) < 2 or any(int(d) < 1 for d in dims):
            raise ValueError(f"dims = {list(dims)!r}: expected at least two widths >= 1")
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-2], dims[1:-1], strict=True):
            layers += [nn.Linear(a, b, bias=bias), make_norm1d(norm, b), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(dims[-2], dims[-1], bias=not last_norm))
        if last_norm:
            layers.append(make_norm1d(norm, dims[-1], affine=last_affine))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


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

"""Optimiser parameter groups: decayed and LARS-adapted weights, excluded BN and biases.

The methods' default :meth:`~simclr.methods.Method.param_groups` and
:func:`simclr.optim.build_optimizer` both split parameters this way. This module needs
only torch, so the methods can use it without importing the optimisers or the config.

Example:
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    >>> [len(g["params"]) for g in param_groups(model, 1e-6, exclude_bn_bias=True)]
    [2, 4]
"""

from __future__ import annotations

from torch import Tensor, nn


def is_excluded(name: str, param: Tensor) -> bool:
    """True for biases and normalisation parameters (1-D tensors), as in SimCLR."""
    return param.ndim <= 1 or name.endswith(".bias")


def param_groups(model: nn.Module, weight_decay: float, exclude_bn_bias: bool) -> list[dict]:
    """Split parameters into a decayed/adapted group and an excluded (BN, bias) group.

    Parameters with ``requires_grad=False`` (momentum teachers) are left out.
    """
    regular, excluded = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (excluded if exclude_bn_bias and is_excluded(name, p) else regular).append(p)
    groups = [{"params": regular, "weight_decay": weight_decay, "lars": True}]
    if excluded:
        groups.append({"params": excluded, "weight_decay": 0.0, "lars": False})
    return groups

"""Optimisers (LARS, SGD, AdamW) and the warm-up + cosine learning-rate schedule.

References:
    - [0]: LARS, 2017, https://arxiv.org/abs/1708.03888
    - [1]: SimCLR, 2020, https://arxiv.org/abs/2002.05709
    - [2]: SGDR (cosine schedule), 2016, https://arxiv.org/abs/1608.03983
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR

from simclr.config import OptimConfig
from simclr.param_groups import is_excluded, param_groups

__all__ = [
    "LARS",
    "WarmupCosine",
    "build_optimizer",
    "build_scheduler",
    "is_excluded",
    "param_groups",
    "scaled_lr",
]


class LARS(torch.optim.Optimizer):
    """Layer-wise Adaptive Rate Scaling on top of SGD with momentum.

    For each parameter ``w`` with gradient ``g`` in a group with ``lars=True``::

        g <- g + weight_decay * w
        g <- g * trust_coefficient * ||w|| / ||g||     (if both norms are > 0)
        v <- momentum * v + g
        w <- w - lr * v

    Groups with ``lars=False`` (BN and bias parameters in SimCLR) skip the trust ratio;
    give them ``weight_decay=0`` to exclude them from decay as well
    (:func:`param_groups` does both). This is the formulation of lightly/solo-learn
    (lr outside the momentum buffer), which differs from SimCLR's TF code only in where
    lr enters the buffer (identical under a constant lr).

    Args:
        params: Parameters or groups (``lars`` key per group, default True).
        lr: Learning rate.
        momentum: Momentum factor.
        weight_decay: L2 penalty added to the gradient.
        trust_coefficient: eta in the LARS paper (SimCLR: 0.001).

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = LARS([w], lr=0.1, momentum=0.0, trust_coefficient=0.001)
        >>> w.grad = torch.tensor([3.0, 4.0])
        >>> opt.step()
        >>> w.data  # ||w||=sqrt(2), ||g||=5, trust=0.001*sqrt(2)/5
        tensor([0.9999, 0.9999])
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        if trust_coefficient <= 0:
            raise ValueError(f"trust_coefficient must be > 0, got {trust_coefficient}")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            lars=True,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"] != 0:
                    g = g.add(p, alpha=group["weight_decay"])
                if group["lars"]:
                    w_norm = torch.linalg.vector_norm(p)
                    g_norm = torch.linalg.vector_norm(g)
                    trust = torch.where(
                        (w_norm > 0) & (g_norm > 0),
                        group["trust_coefficient"] * w_norm / g_norm,
                        torch.ones_like(w_norm),
                    )
                    g = g * trust
                if group["momentum"] != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.clone(g).detach()
                    else:
                        state["momentum_buffer"].mul_(group["momentum"]).add_(g)
                    g = state["momentum_buffer"]
                p.add_(g, alpha=-group["lr"])
        return loss


def scaled_lr(cfg: OptimConfig, global_batch: int) -> float:
    """Peak learning rate: ``lr x B/256`` (linear), ``lr x sqrt(B/256)`` or ``lr``."""
    if cfg.lr_scaling == "linear":
        return cfg.lr * global_batch / 256
    if cfg.lr_scaling == "sqrt":
        return cfg.lr * math.sqrt(global_batch / 256)
    return cfg.lr


def build_optimizer(
    model: nn.Module, cfg: OptimConfig, lr: float, groups: list[dict] | None = None
) -> torch.optim.Optimizer:
    """LARS, SGD (momentum) or AdamW over :func:`param_groups`.

    Args:
        model: Module whose trainable parameters are optimised.
        cfg: Optimiser settings.
        lr: Peak learning rate (already scaled with the batch size).
        groups: Parameter groups to use instead of ``param_groups(model, ...)`` (a
            method's :meth:`~simclr.methods.Method.param_groups`).
    """
    if groups is None:
        groups = param_groups(model, cfg.weight_decay, cfg.exclude_bn_bias)
    groups = [dict(g) for g in groups]
    for g in groups:
        g.setdefault("lars", True)
    if cfg.name == "lars":
        return LARS(
            groups,
            lr=lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            trust_coefficient=cfg.trust_coefficient,
        )
    for g in groups:
        g.pop("lars")
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(
            groups, lr=lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
        )
    raise ValueError(f"optim.name {cfg.name!r}: expected one of lars, sgd, adamw")


@dataclass
class WarmupCosine:
    """Multiplier of the peak lr at step ``s``: linear warm-up, then cosine to a floor.

    ``f(s) = (s + 1) / warmup`` for ``s < warmup``; afterwards
    ``min_ratio + (1 - min_ratio) * 0.5 * (1 + cos(pi * (s - warmup) / (total - warmup)))``.
    With ``cosine=False`` the multiplier stays 1 after warm-up. A picklable callable for
    ``LambdaLR`` (so the scheduler's state is checkpointed).

    Example:
        >>> f = WarmupCosine(warmup_steps=2, total_steps=6)
        >>> [round(f(s), 3) for s in range(6)]
        [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]
    """

    warmup_steps: int
    total_steps: int
    min_ratio: float = 0.0
    cosine: bool = True

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if not self.cosine:
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, steps_per_epoch: int, epochs: int
) -> LambdaLR:
    """Per-step ``LambdaLR`` with :class:`WarmupCosine` (warm-up in epochs, as SimCLR).

    Groups marked ``fixed_lr: True`` keep their peak lr (SimSiam's predictor).
    """
    total = steps_per_epoch * epochs
    warmup = min(total, round(cfg.warmup_epochs * steps_per_epoch))
    fn = WarmupCosine(warmup, total, cfg.min_lr_ratio, cfg.schedule == "cosine")
    if not any(g.get("fixed_lr") for g in optimizer.param_groups):
        return LambdaLR(optimizer, lr_lambda=fn)
    fixed = WarmupCosine(0, total, cosine=False)
    fns = [fixed if g.get("fixed_lr") else fn for g in optimizer.param_groups]
    return LambdaLR(optimizer, lr_lambda=fns)

"""BYOL: an online network predicts a momentum (EMA) teacher's projection of the other view.

References:
    - [0]: BYOL, 2020, https://arxiv.org/abs/2006.07733
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from simclr.losses.byol import BYOLLoss
from simclr.methods.base import (
    METHODS,
    Method,
    MethodOutput,
    MethodParams,
    Progress,
    check_param,
)
from simclr.models.heads import MLP


def cosine_momentum(base: float, final: float, step: int, total_steps: int) -> float:
    """BYOL's schedule ``final - (final - base) * (cos(pi * step / total) + 1) / 2``.

    Example:
        >>> [round(cosine_momentum(0.99, 1.0, s, 4), 4) for s in range(5)]
        [0.99, 0.9915, 0.995, 0.9985, 1.0]
    """
    progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """``teacher <- momentum * teacher + (1 - momentum) * student``, parameter by parameter.

    Buffers (BN running statistics) are the teacher's own, as in BYOL's code.

    Example:
        >>> t, s = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
        >>> _ = t.weight.data.fill_(1.0), s.weight.data.fill_(0.0)
        >>> ema_update(t, s, 0.9)
        >>> round(t.weight.item(), 4)
        0.9
    """
    for pt, ps in zip(teacher.parameters(), student.parameters(), strict=True):
        pt.mul_(momentum).add_(ps.detach(), alpha=1 - momentum)


@dataclass
class BYOLParams(MethodParams):
    """BYOL hyper-parameters (paper defaults).

    Attributes:
        proj_hidden_dim: Projector hidden width (4096).
        proj_output_dim: Projection width (256).
        pred_hidden_dim: Predictor hidden width (4096).
        momentum_base: Teacher momentum at step 0. The paper uses 0.996 for its
            1000-epoch runs and 0.99 for shorter ones; 0.99 here.
        momentum_final: Momentum at the last step (1.0), reached by a cosine schedule.
    """

    proj_hidden_dim: int = 4096
    proj_output_dim: int = 256
    pred_hidden_dim: int = 4096
    momentum_base: float = 0.99
    momentum_final: float = 1.0

    def validate(self) -> None:
        for name in ("proj_hidden_dim", "proj_output_dim", "pred_hidden_dim"):
            check_param(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        check_param(
            0 <= self.momentum_base <= self.momentum_final <= 1,
            "momentum_base",
            self.momentum_base,
            f"a number in [0, momentum_final={self.momentum_final}] (and momentum_final <= 1)",
        )


@METHODS.register("byol")
class BYOL(Method):
    """BYOL: online backbone + projector + predictor; EMA teacher backbone + projector.

    Hooks: ``after_optimizer_step`` moves the teacher towards the online weights with
    the cosine momentum schedule. The teacher is a frozen submodule (``teacher_*``), so
    it travels in the checkpoint's model state dict.

    Args:
        backbone: Feature extractor with ``num_features``.
        params: :class:`BYOLParams`.
        norm: Normalisation in the heads (``batch`` or ``group``).

    Shape:
        - images: two ``(n, 3, H, W)`` views
        - embeddings: ``[p1, p2, t1, t2]``: predictions and teacher projections, each
          ``(n, proj_output_dim)``

    Example:
        >>> import torch
        >>> from simclr.models import build_backbone
        >>> params = BYOLParams(proj_hidden_dim=32, proj_output_dim=16, pred_hidden_dim=32)
        >>> m = BYOL(build_backbone("resnet18", 16, width=0.125), params)
        >>> out = m([torch.rand(4, 3, 16, 16)] * 2, [torch.ones(4, 1, 16, 16)] * 2)
        >>> [tuple(e.shape) for e in out.embeddings]
        [(4, 16), (4, 16), (4, 16), (4, 16)]
    """

    config_class = BYOLParams
    batch_coupled = False
    num_views = 2
    smoke_params = {"proj_hidden_dim": 32, "proj_output_dim": 16, "pred_hidden_dim": 32}

    def __init__(self, backbone: nn.Module, params: BYOLParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        self.params = params
        dim, out = backbone.num_features, params.proj_output_dim
        self.projector = MLP([dim, params.proj_hidden_dim, out], norm, bias=True)
        self.predictor = MLP([out, params.pred_hidden_dim, out], norm, bias=True)
        self.teacher_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.teacher_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.criterion = BYOLLoss()

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        feats = [self.backbone(x) for x in images]
        preds = [self.predictor(self.projector(f)) for f in feats]
        with torch.no_grad():
            targets = [self.teacher_projector(self.teacher_backbone(x)) for x in images]
        return MethodOutput([*preds, *targets], feats[0])

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        p1, p2, t1, t2 = embeddings
        return self.criterion(p1, p2, t1, t2)

    def momentum(self, progress: Progress) -> float:
        """The teacher momentum at this step."""
        p = self.params
        return cosine_momentum(
            p.momentum_base, p.momentum_final, progress.step, progress.total_steps
        )

    def after_optimizer_step(self, progress: Progress) -> None:
        tau = self.momentum(progress)
        ema_update(self.teacher_backbone, self.backbone, tau)
        ema_update(self.teacher_projector, self.projector, tau)

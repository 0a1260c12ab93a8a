"""SwAV: swapped prediction of online cluster assignments, with multi-crop.

References:
    - [0]: SwAV, 2020, https://arxiv.org/abs/2006.09882
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simclr.losses.swav import SwAVLoss
from simclr.methods.base import (
    METHODS,
    Method,
    MethodOutput,
    MethodParams,
    Progress,
    ViewSpec,
    check_param,
)
from simclr.models.heads import MLP


@dataclass
class SwAVParams(MethodParams):
    """SwAV hyper-parameters (paper defaults, ImageNet ResNet-50).

    Attributes:
        temperature: Softmax temperature (0.1).
        epsilon: Sinkhorn regularisation (0.05).
        sinkhorn_iterations: Sinkhorn iterations (3).
        num_prototypes: Prototype vectors K (3000).
        proj_hidden_dim: Projector hidden width (2048).
        proj_output_dim: Projection width (128).
        queue_length: Per-process queue of past global-view projections used to compute
            the codes once full (0: no queue; the paper adds 3840 at small batches).
        freeze_prototypes_epochs: Epochs during which the prototypes get no update (1).
        local_views: Multi-crop small views (6).
        local_size: Their side in pixels; ``None``: 96/224 of the global side (96 at 224).
        local_scale: Their crop area range ((0.05, 0.14)).
    """

    temperature: float = 0.1
    epsilon: float = 0.05
    sinkhorn_iterations: int = 3
    num_prototypes: int = 3000
    proj_hidden_dim: int = 2048
    proj_output_dim: int = 128
    queue_length: int = 0
    freeze_prototypes_epochs: int = 1
    local_views: int = 6
    local_size: int | None = None
    local_scale: list[float] = field(default_factory=lambda: [0.05, 0.14])

    def validate(self) -> None:
        check_param(self.temperature > 0, "temperature", self.temperature, "a number > 0")
        check_param(self.epsilon > 0, "epsilon", self.epsilon, "a number > 0")
        for name in ("sinkhorn_iterations", "num_prototypes", "proj_hidden_dim"):
            check_param(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        check_param(self.proj_output_dim >= 1, "proj_output_dim", self.proj_output_dim, ">= 1")
        for name in ("queue_length", "freeze_prototypes_epochs", "local_views"):
            check_param(getattr(self, name) >= 0, name, getattr(self, name), "an integer >= 0")
        check_param(
            self.local_size is None or self.local_size >= 1,
            "local_size",
            self.local_size,
            "None or an integer >= 1",
        )
        s = self.local_scale
        check_param(len(s) == 2 and 0 < s[0] <= s[1] <= 1, "local_scale", s, "[min, max] in (0, 1]")


@METHODS.register("swav")
class SwAV(Method):
    """SwAV: backbone + projector + prototypes; Sinkhorn codes predicted across views.

    Hooks: ``views`` asks for 2 global + ``local_views`` local views;
    ``before_optimizer_step`` drops the prototypes' gradient during the first
    ``freeze_prototypes_epochs``; ``after_optimizer_step`` re-normalises the prototypes
    and fills the queue; ``checkpoint_state`` saves the queue. Batch-coupled (Sinkhorn
    over the batch): GradCache accumulation is exact.

    Args:
        backbone: Feature extractor with ``num_features``.
        params: :class:`SwAVParams`.
        norm: Normalisation in the projector (``batch`` or ``group``).

    Shape:
        - images: 2 global ``(n, 3, H, W)`` views, then local ``(n, 3, h, h)`` views
        - embeddings: prototype scores ``(n, K)`` of every view, then the two global
          views' normalised projections ``(n, proj_output_dim)``

    Example:
        >>> import torch
        >>> from simclr.models import build_backbone
        >>> params = SwAVParams(num_prototypes=8, proj_hidden_dim=32, proj_output_dim=16,
        ...                     local_views=1, local_size=8)
        >>> m = SwAV(build_backbone("resnet18", 16, width=0.125), params)
        >>> x = [torch.rand(4, 3, 16, 16)] * 2 + [torch.rand(4, 3, 8, 8)]
        >>> out = m(x, [torch.ones(4, 1, 16, 16)] * 2 + [torch.ones(4, 1, 8, 8)])
        >>> len(out.embeddings), m.loss(out.embeddings).item() > 0
        (5, True)
    """

    config_class = SwAVParams
    batch_coupled = True
    num_views = 2
    smoke_params = {
        "num_prototypes": 8,
        "proj_hidden_dim": 32,
        "proj_output_dim": 16,
        "local_views": 2,
        "local_size": 8,
        "queue_length": 8,
    }

    def __init__(self, backbone: nn.Module, params: SwAVParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        self.params = params
        dim, out = backbone.num_features, params.proj_output_dim
        self.projector = MLP([dim, params.proj_hidden_dim, out], norm, bias=True)
        self.prototypes = nn.Linear(out, params.num_prototypes, bias=False)
        self.normalize_prototypes()
        self.criterion = SwAVLoss(
            params.temperature, params.epsilon, params.sinkhorn_iterations, num_global=2
        )
        self.queue: Tensor | None = None  # (2, queue_length, D), newest first
        self.queue_filled = 0
        self._pending: list[Tensor] | None = None

    def views(self) -> ViewSpec:
        p = self.params
        return ViewSpec(2, p.local_views, p.local_size, (p.local_scale[0], p.local_scale[1]))

    @torch.no_grad()
    def normalize_prototypes(self) -> None:
        """Project the prototypes back onto the unit sphere (SwAV does so every step)."""
        w = self.prototypes.weight
        w.copy_(F.normalize(w, dim=1))

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        feats = [self.backbone(x) for x in images]
        zs = [F.normalize(self.projector(f), dim=1) for f in feats]
        scores = [self.prototypes(z) for z in zs]
        return MethodOutput([*scores, zs[0], zs[1]], feats[0])

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        scores, z_global = embeddings[:-2], embeddings[-2:]
        queue_scores = None
        if self.queue is not None and self.queue_filled >= self.params.queue_length:
            with torch.no_grad():
                w = self.prototypes.weight
                queue_scores = [self.queue[i].to(w) @ w.T for i in range(2)]
        self._pending = [z.detach() for z in z_global]
        return self.criterion(scores, queue_scores)

    def before_optimizer_step(self, progress: Progress) -> None:
        if progress.epoch < self.params.freeze_prototypes_epochs:
            self.prototypes.weight.grad = None

    @torch.no_grad()
    def after_optimizer_step(self, progress: Progress) -> None:
        self.normalize_prototypes()
        length = self.params.queue_length
        if length == 0 or self._pending is None:
            return
        new = torch.stack([z.float() for z in self._pending])  # (2, n, D)
        if self.queue is None:
            self.queue = new.new_zeros(2, length, new.shape[-1])
        queue = self.queue.to(new.device)
        self.queue = torch.cat([new, queue], dim=1)[:, :length]
        self.queue_filled = min(length, self.queue_filled + new.shape[1])
        self._pending = None

    def checkpoint_state(self) -> dict[str, Any]:
        queue = self.queue.cpu() if self.queue is not None else torch.zeros(0)
        return {"queue": queue, "queue_filled": self.queue_filled}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        queue = state.get("queue")
        self.queue = queue if queue is not None and queue.numel() > 0 else None
        self.queue_filled = int(state.get("queue_filled", 0))

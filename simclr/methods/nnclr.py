"""NNCLR: the nearest neighbour of a view in a support queue serves as its positive.

References:
    - [0]: NNCLR, 2021, https://arxiv.org/abs/2104.14548
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from simclr import distributed
from simclr.losses.nnclr import NNCLRLoss, nearest_neighbours
from simclr.methods.base import (
    METHODS,
    Method,
    MethodOutput,
    MethodParams,
    Progress,
    check_param,
)
from simclr.models.heads import MLP


@dataclass
class NNCLRParams(MethodParams):
    """NNCLR hyper-parameters (paper defaults).

    Attributes:
        temperature: Softmax temperature (0.1).
        queue_size: Support-set size (98304).
        proj_hidden_dim: Projector hidden width (2048; 3 layers, BN on the output).
        proj_output_dim: Projection width (256).
        pred_hidden_dim: Predictor hidden width (4096).
        gather_distributed: Negatives from every process; the queue receives every
            process's projections, so it is the same on every process.
    """

    temperature: float = 0.1
    queue_size: int = 98304
    proj_hidden_dim: int = 2048
    proj_output_dim: int = 256
    pred_hidden_dim: int = 4096
    gather_distributed: bool = True

    def validate(self) -> None:
        check_param(self.temperature > 0, "temperature", self.temperature, "a number > 0")
        check_param(self.queue_size >= 1, "queue_size", self.queue_size, "an integer >= 1")
        for name in ("proj_hidden_dim", "proj_output_dim", "pred_hidden_dim"):
            check_param(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")


@METHODS.register("nnclr")
class NNCLR(Method):
    """NNCLR: backbone + projector + predictor; positives are support-set neighbours.

    The support set is a FIFO queue of view-1 projections (newest first), filled in
    ``after_optimizer_step`` with the projections the step's loss used, and saved by
    ``checkpoint_state``. Until the first batch is queued, the support set is the batch
    itself (each projection is then its own neighbour). Batch-coupled (negatives):
    GradCache accumulation is exact, the queue is updated once per optimiser step.

    Args:
        backbone: Feature extractor with ``num_features``.
        params: :class:`NNCLRParams`.
        norm: Normalisation in the heads (``batch`` or ``group``).

    Shape:
        - images: two ``(n, 3, H, W)`` views
        - embeddings: ``[z1, z2, p1, p2]``, each ``(n, proj_output_dim)``

    Example:
        >>> import torch
        >>> from simclr.models import build_backbone
        >>> params = NNCLRParams(queue_size=8, proj_hidden_dim=32, proj_output_dim=16,
        ...                      pred_hidden_dim=32)
        >>> m = NNCLR(build_backbone("resnet18", 16, width=0.125), params)
        >>> out = m([torch.rand(4, 3, 16, 16)] * 2, [torch.ones(4, 1, 16, 16)] * 2)
        >>> _ = m.loss(out.embeddings)
        >>> m.after_optimizer_step(Progress(0, 0, 1, 1))
        >>> tuple(m.queue.shape)
        (4, 16)
    """

    config_class = NNCLRParams
    batch_coupled = True
    num_views = 2
    smoke_params = {
        "queue_size": 12,
        "proj_hidden_dim": 32,
        "proj_output_dim": 16,
        "pred_hidden_dim": 32,
    }

    def __init__(self, backbone: nn.Module, params: NNCLRParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        self.params = params
        dim, hid, out = backbone.num_features, params.proj_hidden_dim, params.proj_output_dim
        self.projector = MLP([dim, hid, hid, out], norm, last_norm=True)
        self.predictor = MLP([out, params.pred_hidden_dim, out], norm)
        self.criterion = NNCLRLoss(params.temperature, params.gather_distributed)
        self.queue: Tensor | None = None  # (filled, D), newest first
        self._pending: Tensor | None = None

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        feats = [self.backbone(x) for x in images]
        zs = [self.projector(f) for f in feats]
        ps = [self.predictor(z) for z in zs]
        return MethodOutput([*zs, *ps], feats[0])

    def support(self, z: Tensor) -> Tensor:
        """The support set (the queue, or the batch's own ``z`` while it is empty)."""
        if self.queue is None or self.queue.shape[0] == 0:
            return z.detach()
        return self.queue.to(z.device)

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        z1, z2, p1, p2 = embeddings
        nn1 = nearest_neighbours(z1, self.support(z1))
        nn2 = nearest_neighbours(z2, self.support(z2))
        self._pending = z1.detach()
        return self.criterion(nn1, nn2, p1, p2)

    @torch.no_grad()
    def after_optimizer_step(self, progress: Progress) -> None:
        if self._pending is None:
            return
        new = self._pending.float()
        if self.params.gather_distributed:
            new = distributed.all_gather_with_grad(new)
        old = self.queue.to(new.device) if self.queue is not None else new[:0]
        self.queue = torch.cat([new, old])[: self.params.queue_size]
        self._pending = None

    def checkpoint_state(self) -> dict[str, Any]:
        return {"queue": self.queue.cpu() if self.queue is not None else torch.zeros(0)}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        queue = state.get("queue")
        self.queue = queue if queue is not None and queue.numel() > 0 else None

"""NNCLR: the nearest neighbour of a view in a support queue serves as its positive.

References:
    - [0]: NNCLR, 2021, https://arxiv.org/abs/2104.14548
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
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

    The support set is a FIFO queue of the last ``queue_size`` view-1 projections, filled
    in ``after_optimizer_step`` with the projections the step's loss used and saved by
    ``checkpoint_state``. It is a ring buffer of unit vectors: a step writes its batch
    over the oldest rows and normalises only those, so a step's cost does not grow with
    the queue beyond the neighbour search itself (the paper's 98,304 rows included).
    Until the first batch is queued, the support set is the batch itself (each
    projection is then its own neighbour). Batch-coupled (negatives): GradCache
    accumulation is exact, the queue is updated once per optimiser step.

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
        >>> tuple(m.queue.shape), round(m.queue.norm(dim=1).min().item(), 4)
        ((4, 16), 1.0)
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
        self._buffer: Tensor | None = None  # (queue_size, D) unit rows, a ring
        self._filled = 0  # rows of the buffer in use
        self._next = 0  # the row the next projection overwrites (the oldest once full)
        self._pending: Tensor | None = None

    @property
    def queue(self) -> Tensor | None:
        """The queued projections as unit vectors, oldest first (``None`` before the first).

        Shape:
            - Output: ``(filled, proj_output_dim)``, filled <= ``queue_size``
        """
        if self._buffer is None or self._filled == 0:
            return None
        rows = self._buffer[: self._filled]
        return torch.cat([rows[self._next :], rows[: self._next]])

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        feats = [self.backbone(x) for x in images]
        zs = [self.projector(f) for f in feats]
        ps = [self.predictor(z) for z in zs]
        return MethodOutput([*zs, *ps], feats[0])

    def support(self, z: Tensor) -> Tensor:
        """The support set as unit rows (the queue, or the batch's own ``z`` while it is empty)."""
        if self._buffer is None or self._filled == 0:
            return F.normalize(z.detach(), dim=1)
        return self._buffer[: self._filled].to(z.device)

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        z1, z2, p1, p2 = embeddings
        nn1 = nearest_neighbours(z1, self.support(z1), support_normalized=True)
        nn2 = nearest_neighbours(z2, self.support(z2), support_normalized=True)
        self._pending = z1.detach()
        return self.criterion(nn1, nn2, p1, p2)

    @torch.no_grad()
    def after_optimizer_step(self, progress: Progress) -> None:
        if self._pending is None:
            return
        new = self._pending.float()
        self._pending = None
        if self.params.gather_distributed:
            new = distributed.all_gather_with_grad(new)
        size = self.params.queue_size
        new = F.normalize(new[:size], dim=1)  # a batch larger than the queue keeps its first rows
        if self._buffer is None:
            self._buffer = new.new_zeros(size, new.shape[1])
        elif self._buffer.device != new.device:
            self._buffer = self._buffer.to(new.device)
        rows = (self._next + torch.arange(new.shape[0], device=new.device)) % size
        self._buffer[rows] = new
        self._next = (self._next + new.shape[0]) % size
        self._filled = min(self._filled + new.shape[0], size)

    def checkpoint_state(self) -> dict[str, Any]:
        """The ring as it is: its rows in use and the row the next projection overwrites.

        Plain tensors, so the state loads with ``weights_only=True``; a resumed run holds
        the same rows at the same places and continues bit for bit.
        """
        if self._buffer is None or self._filled == 0:
            return {"support_queue": torch.zeros(0), "support_queue_next": torch.tensor(0)}
        return {  # a copy of the rows in use, not a view of the whole buffer's storage
            "support_queue": self._buffer[: self._filled].detach().cpu().clone(),
            "support_queue_next": torch.tensor(self._next),
        }

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`checkpoint_state` (or an older checkpoint's ``queue``, newest first)."""
        self._buffer, self._filled, self._next = None, 0, 0
        if "support_queue" in state:  # unit rows already: stored as they are, bit for bit
            rows, next_row = state["support_queue"].float(), int(state["support_queue_next"])
        else:  # before the ring: raw rows newest first, so the oldest are overwritten first
            rows, next_row = state.get("queue"), None
            if rows is not None and rows.numel() > 0:
                rows = F.normalize(rows.flip(0).float(), dim=1)
        if rows is None or rows.numel() == 0:
            return
        size, dim = self.params.queue_size, self.params.proj_output_dim
        if rows.ndim != 2 or rows.shape[0] > size or rows.shape[1] != dim:
            raise ValueError(
                f"support_queue: expected at most queue_size={size} rows of "
                f"proj_output_dim={dim} projections, got shape {tuple(rows.shape)}"
            )
        filled = rows.shape[0]
        if next_row is None:
            next_row = filled % size
        elif not (0 <= next_row < size and (filled == size or next_row == filled)):
            # until the ring is full, the next row written is the first one unused
            expected = f"{filled} (the first unused row)" if filled < size else f"0 to {size - 1}"
            raise ValueError(
                f"support_queue_next: expected {expected} for {filled} rows in a queue of "
                f"{size}, got {next_row}"
            )
        self._buffer = rows.new_zeros(size, dim)
        self._buffer[:filled] = rows
        self._filled, self._next = filled, next_row

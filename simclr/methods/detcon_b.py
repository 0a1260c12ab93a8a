"""DetCon-B: BYOL's online network and momentum teacher, with DetCon's contrastive loss
between mask-pooled region features of two views.

References:
    - [0]: DetCon, 2021, https://arxiv.org/abs/2103.10957
    - [1]: BYOL, 2020, https://arxiv.org/abs/2006.07733
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from simclr.losses.detcon_b import DetConBLoss
from simclr.methods.base import (
    METHODS,
    Method,
    MethodOutput,
    MethodParams,
    Progress,
    check_param,
)
from simclr.methods.byol import cosine_momentum, ema_update
from simclr.methods.detcon_s import check_spatial_backbone, pooled_regions
from simclr.models.heads import MLP
from simclr.models.mask_pooling import mask_pool


@dataclass
class DetConBParams(MethodParams):
    """DetCon-B hyper-parameters (the paper's defaults, BYOL's heads).

    Attributes:
        temperature: Softmax temperature, > 0 (0.1).
        num_samples: Regions drawn per view, with replacement (16).
        proj_hidden_dim: Projector hidden width (4096).
        proj_output_dim: Projection width (256).
        pred_hidden_dim: Predictor hidden width (4096).
        momentum_base: Teacher momentum at step 0 (0.99; the paper's 0.996 is for its
            long schedules).
        momentum_final: Momentum at the last step (1.0), by BYOL's cosine schedule.
        gather_distributed: Use every process's regions as negatives.
    """

    temperature: float = 0.1
    num_samples: int = 16
    proj_hidden_dim: int = 4096
    proj_output_dim: int = 256
    pred_hidden_dim: int = 4096
    momentum_base: float = 0.99
    momentum_final: float = 1.0
    gather_distributed: bool = True

    def validate(self) -> None:
        check_param(self.temperature > 0, "temperature", self.temperature, "a number > 0")
        for name in ("num_samples", "proj_hidden_dim", "proj_output_dim", "pred_hidden_dim"):
            check_param(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        check_param(
            0 <= self.momentum_base <= self.momentum_final <= 1,
            "momentum_base",
            self.momentum_base,
            f"a number in [0, momentum_final={self.momentum_final}] (and momentum_final <= 1)",
        )


@METHODS.register("detcon_b")
class DetConB(Method):
    """DetCon-B: online backbone + projector + predictor on pooled regions, against an
    EMA teacher's projections of the same regions
    (:class:`~simclr.losses.detcon_b.DetConBLoss`).

    Regions are drawn once per view and pooled from both networks' last feature maps
    (see :class:`~simclr.methods.detcon_s.DetConS` for the regions). Hooks:
    ``after_optimizer_step`` moves the teacher towards the online weights (BYOL's
    cosine momentum). Batch-coupled (other images' regions are the negatives).

    Args:
        backbone: A ResNet or the ConvNet (``feature_map`` is needed).
        params: :class:`DetConBParams`.
        norm: Normalisation in the heads (``batch`` or ``group``).

    Shape:
        - images: two ``(n, 3, H, W)`` views; masks: two ``(n, 1, H, W)``
        - embeddings: ``[p0, p1, t0, t1, ids0, ids1]``: predictions and teacher
          projections ``(n, M, proj_output_dim)``, then the drawn ids ``(n, M)``

    Example:
        >>> from simclr.models import build_backbone
        >>> params = DetConBParams(proj_hidden_dim=32, proj_output_dim=16,
        ...                        pred_hidden_dim=32, num_samples=4)
        >>> m = DetConB(build_backbone("resnet18", 16, width=0.125), params)
        >>> masks = torch.zeros(4, 1, 16, 16); masks[:, :, 4:12, 4:12] = 1
        >>> out = m([torch.rand(4, 3, 16, 16)] * 2, [masks, masks])
        >>> [tuple(e.shape) for e in out.embeddings][::2]
        [(4, 4, 16), (4, 4, 16), (4, 4)]
    """

    config_class = DetConBParams
    batch_coupled = True
    num_views = 2
    uses_regions = True
    smoke_params = {
        "proj_hidden_dim": 32,
        "proj_output_dim": 16,
        "pred_hidden_dim": 32,
        "num_samples": 4,
    }

    def __init__(self, backbone: nn.Module, params: DetConBParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        if not hasattr(backbone, "feature_map"):
            raise ValueError("method 'detcon_b' needs a backbone with a spatial feature map")
        self.params = params
        dim, out = backbone.num_features, params.proj_output_dim
        self.projector = MLP([dim, params.proj_hidden_dim, out], norm, bias=True)
        self.predictor = MLP([out, params.pred_hidden_dim, out], norm, bias=True)
        self.teacher_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.teacher_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.criterion = DetConBLoss(params.temperature, params.gather_distributed)

    @classmethod
    def check_backbone(cls, name: str) -> None:
        check_spatial_backbone("detcon_b", name)

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        n = images[0].shape[0]
        maps, weights, picked, pooled = pooled_regions(
            self.backbone, images, masks, self.params.num_samples
        )
        two_n, m, c = pooled.shape
        p = self.predictor(self.projector(pooled.reshape(two_n * m, c))).reshape(two_n, m, -1)
        with torch.no_grad():
            teacher_maps = self.teacher_backbone.feature_map(torch.cat(images, dim=0))
            t_pooled = mask_pool(teacher_maps, weights, picked)
            t = self.teacher_projector(t_pooled.reshape(two_n * m, c)).reshape(two_n, m, -1)
        ids = picked.to(p.dtype)
        return MethodOutput(
            [p[:n], p[n:], t[:n], t[n:], ids[:n], ids[n:]], maps[:n].mean(dim=(2, 3))
        )

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        p0, p1, t0, t1, ids0, ids1 = embeddings
        return self.criterion(p0, p1, t0, t1, ids0, ids1)

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

"""Barlow Twins: make the cross-correlation of two views' embeddings the identity.

References:
    - [0]: Barlow Twins, 2021, https://arxiv.org/abs/2103.03230
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from simclr.losses.barlow_twins import BarlowTwinsLoss
from simclr.methods.base import METHODS, Method, MethodOutput, MethodParams, check_param
from simclr.models.heads import MLP, default_projector_dim


@dataclass
class BarlowTwinsParams(MethodParams):
    """Barlow Twins hyper-parameters (paper defaults).

    Attributes:
        lambd: Off-diagonal weight (5e-3).
        proj_dim: Width of the 3 projector layers; ``None``: 8192 when the backbone has
            >= 2048 features (ResNet-50, the paper), else 2048 (ResNet-18).
        gather_distributed: Cross-correlation over the global batch under DDP.
    """

    lambd: float = 5e-3
    proj_dim: int | None = None
    gather_distributed: bool = True

    def validate(self) -> None:
        check_param(self.lambd >= 0, "lambd", self.lambd, "a number >= 0")
        check_param(
            self.proj_dim is None or self.proj_dim >= 1, "proj_dim", self.proj_dim, "None or >= 1"
        )


@METHODS.register("barlow_twins")
class BarlowTwins(Method):
    """Barlow Twins: backbone + 3-layer projector + redundancy-reduction loss.

    Batch-coupled (the loss standardises over the batch): GradCache accumulation is
    exact, and under DDP the correlation is over the global batch.

    Args:
        backbone: Feature extractor with ``num_features``.
        params: :class:`BarlowTwinsParams`.
        norm: Normalisation in the projector (``batch`` or ``group``).

    Shape:
        - images: two ``(n, 3, H, W)`` views
        - embeddings: ``[z1, z2]``, each ``(n, proj_dim)``

    Example:
        >>> import torch
        >>> from simclr.models import build_backbone
        >>> backbone = build_backbone("resnet18", 16, width=0.125)
        >>> m = BarlowTwins(backbone, BarlowTwinsParams(proj_dim=32))
        >>> out = m([torch.rand(4, 3, 16, 16)] * 2, [torch.ones(4, 1, 16, 16)] * 2)
        >>> m.loss(out.embeddings).ndim
        0
    """

    config_class = BarlowTwinsParams
    batch_coupled = True
    num_views = 2
    smoke_params = {"proj_dim": 32}

    def __init__(self, backbone: nn.Module, params: BarlowTwinsParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        dim = backbone.num_features
        p = params.proj_dim or default_projector_dim(dim)
        self.projector = MLP([dim, p, p, p], norm)
        self.criterion = BarlowTwinsLoss(params.lambd, params.gather_distributed)

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        feats = [self.backbone(x) for x in images]
        return MethodOutput([self.projector(f) for f in feats], feats[0])

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        z1, z2 = embeddings
        return self.criterion(z1, z2)

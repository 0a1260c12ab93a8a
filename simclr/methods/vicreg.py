"""VICReg: variance, invariance and covariance regularisation of two views' embeddings.

References:
    - [0]: VICReg, 2021, https://arxiv.org/abs/2105.04906
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from simclr.losses.vicreg import VICRegLoss
from simclr.methods.base import METHODS, Method, MethodOutput, MethodParams, check_param
from simclr.models.heads import MLP, default_projector_dim


@dataclass
class VICRegParams(MethodParams):
    """VICReg hyper-parameters (paper defaults).

    Attributes:
        sim_coeff: Invariance weight lambda (25).
        std_coeff: Variance weight mu (25).
        cov_coeff: Covariance weight nu (1).
        proj_dim: Width of the 3 expander layers; ``None``: 8192 for >= 2048 backbone
            features (ResNet-50, the paper), else 2048.
        gather_distributed: Statistics over the global batch under DDP.
    """

    sim_coeff: float = 25.0
    std_coeff: float = 25.0
    cov_coeff: float = 1.0
    proj_dim: int | None = None
    gather_distributed: bool = True

    def validate(self) -> None:
        for name in ("sim_coeff", "std_coeff", "cov_coeff"):
            check_param(getattr(self, name) >= 0, name, getattr(self, name), "a number >= 0")
        check_param(
            self.proj_dim is None or self.proj_dim >= 1, "proj_dim", self.proj_dim, "None or >= 1"
        )


@METHODS.register("vicreg")
class VICReg(Method):
    """VICReg: backbone + 3-layer expander + VICReg loss.

    Batch-coupled (variance and covariance over the batch): GradCache accumulation is
    exact, and under DDP the statistics are over the global batch.

    Args:
        backbone: Feature extractor with ``num_features``.
        params: :class:`VICRegParams`.
        norm: Normalisation in the expander (``batch`` or ``group``).

    Shape:
        - images: two ``(n, 3, H, W)`` views
        - embeddings: ``[z1, z2]``, each ``(n, proj_dim)``

    Example:
        >>> import torch
        >>> from simclr.models import build_backbone
        >>> m = VICReg(build_backbone("resnet18", 16, width=0.125), VICRegParams(proj_dim=32))
        >>> out = m([torch.rand(4, 3, 16, 16)] * 2, [torch.ones(4, 1, 16, 16)] * 2)
        >>> m.loss(out.embeddings).item() > 0
        True
    """

    config_class = VICRegParams
    batch_coupled = True
    num_views = 2
    smoke_params = {"proj_dim": 32}

    def __init__(self, backbone: nn.Module, params: VICRegParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        dim = backbone.num_features
        p = params.proj_dim or default_projector_dim(dim)
        self.projector = MLP([dim, p, p, p], norm)
        self.criterion = VICRegLoss(
            params.sim_coeff,
            params.std_coeff,
            params.cov_coeff,
            gather_distributed=params.gather_distributed,
        )

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        feats = [self.backbone(x) for x in images]
        return MethodOutput([self.projector(f) for f in feats], feats[0])

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        z1, z2 = embeddings
        return self.criterion(z1, z2)

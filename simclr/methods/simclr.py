"""SimCLR: backbone + projection MLP + NT-Xent.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from simclr.losses.nt_xent import NTXentLoss
from simclr.methods.base import METHODS, Method, MethodOutput, MethodParams
from simclr.models.heads import ProjectionHead


@dataclass
class SimCLRParams(MethodParams):
    """SimCLR hyper-parameters.

    Attributes:
        temperature: NT-Xent temperature, > 0 (thesis: 0.1 on CIFAR-10; SimCLR CIFAR: 0.5).
        proj_hidden_dim: Hidden width of the projection MLP; ``None`` = feature dim
            (2048 for ResNet-50: 2048-2048-128).
        proj_output_dim: Projection dimension.
        gather_distributed: Use every process's views as negatives (with gradients).
    """

    temperature: float = 0.5
    proj_hidden_dim: int | None = None
    proj_output_dim: int = 128
    gather_distributed: bool = True

    def validate(self) -> None:
        if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
            raise ValueError(
                f"config 'method.params.temperature' = {self.temperature!r}: expected a number > 0"
            )
        if self.proj_hidden_dim is not None and self.proj_hidden_dim < 1:
            raise ValueError(
                f"config 'method.params.proj_hidden_dim' = {self.proj_hidden_dim!r}: "
                "expected None or >= 1"
            )
        if self.proj_output_dim < 1:
            raise ValueError(
                f"config 'method.params.proj_output_dim' = {self.proj_output_dim!r}: expected >= 1"
            )


@METHODS.register("simclr")
class SimCLR(Method):
    """SimCLR with a 2-layer projection MLP and NT-Xent over both views.

    Args:
        backbone: Feature extractor with ``num_features``.
        params: :class:`SimCLRParams`.
        norm: Normalisation in the head (``batch`` or ``group``).

    Shape:
        - images: two ``(n, 3, H, W)`` views
        - embeddings: ``[z1, z2]``, each ``(n, proj_output_dim)``

    Example:
        >>> import torch
        >>> from simclr.models import build_backbone
        >>> m = SimCLR(build_backbone("resnet18", 32, width=0.125), SimCLRParams())
        >>> x = [torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)]
        >>> out = m(x, [torch.ones(4, 1, 32, 32)] * 2)
        >>> m.loss(out.embeddings).ndim
        0
    """

    config_class = SimCLRParams
    batch_coupled = True
    num_views = 2
    smoke_params = {"proj_hidden_dim": 32, "proj_output_dim": 16}

    def __init__(self, backbone: nn.Module, params: SimCLRParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        dim = backbone.num_features
        self.projector = ProjectionHead(
            dim, params.proj_hidden_dim or dim, params.proj_output_dim, norm
        )
        self.criterion = NTXentLoss(params.temperature, params.gather_distributed)

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        # both views in one pass: one BN batch of 2n, as in SimCLR's reference code
        n = images[0].shape[0]
        feats = self.backbone(torch.cat(images, dim=0))
        z = self.projector(feats)
        return MethodOutput([z[:n], z[n:]], feats[:n])

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        z1, z2 = embeddings
        return self.criterion(z1, z2)

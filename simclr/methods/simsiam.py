"""SimSiam: a predictor on one branch, a stop-gradient on the other, no negatives.

References:
    - [0]: SimSiam, 2020, https://arxiv.org/abs/2011.10566
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from simclr.losses.simsiam import SimSiamLoss
from simclr.methods.base import METHODS, Method, MethodOutput, MethodParams, check_param
from simclr.models.heads import MLP


@dataclass
class SimSiamParams(MethodParams):
    """SimSiam hyper-parameters (paper defaults, ImageNet ResNet-50).

    Attributes:
        proj_hidden_dim: Projector hidden width (2048).
        proj_output_dim: Projection width (2048); the projector has 3 layers and a
            non-affine BN on its output.
        pred_hidden_dim: Predictor bottleneck width (512).
        fixed_predictor_lr: Keep the predictor at the peak lr, without warm-up or
            decay (paper Sec. 4.2; a ``fixed_lr`` parameter group).
    """

    proj_hidden_dim: int = 2048
    proj_output_dim: int = 2048
    pred_hidden_dim: int = 512
    fixed_predictor_lr: bool = True

    def validate(self) -> None:
        for name in ("proj_hidden_dim", "proj_output_dim", "pred_hidden_dim"):
            check_param(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")


@METHODS.register("simsiam")
class SimSiam(Method):
    """SimSiam: backbone + 3-layer projector + bottleneck predictor, symmetric loss.

    Hooks: ``param_groups`` puts the predictor in ``fixed_lr`` groups.

    Args:
        backbone: Feature extractor with ``num_features``.
        params: :class:`SimSiamParams`.
        norm: Normalisation in the heads (``batch`` or ``group``).

    Shape:
        - images: two ``(n, 3, H, W)`` views
        - embeddings: ``[p1, p2, z1, z2]``, each ``(n, proj_output_dim)``

    Example:
        >>> import torch
        >>> from simclr.models import build_backbone
        >>> params = SimSiamParams(proj_hidden_dim=32, proj_output_dim=32, pred_hidden_dim=8)
        >>> m = SimSiam(build_backbone("resnet18", 16, width=0.125), params)
        >>> out = m([torch.rand(4, 3, 16, 16)] * 2, [torch.ones(4, 1, 16, 16)] * 2)
        >>> -1.0 <= m.loss(out.embeddings).item() <= 1.0
        True
    """

    config_class = SimSiamParams
    batch_coupled = False
    num_views = 2
    smoke_params = {"proj_hidden_dim": 32, "proj_output_dim": 32, "pred_hidden_dim": 8}

    def __init__(self, backbone: nn.Module, params: SimSiamParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        self.params = params
        dim, hid, out = backbone.num_features, params.proj_hidden_dim, params.proj_output_dim
        self.projector = MLP([dim, hid, hid, out], norm, last_norm=True, last_affine=False)
        self.predictor = MLP([out, params.pred_hidden_dim, out], norm)
        self.criterion = SimSiamLoss()

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        feats = [self.backbone(x) for x in images]
        zs = [self.projector(f) for f in feats]
        ps = [self.predictor(z) for z in zs]
        return MethodOutput([*ps, *zs], feats[0])

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        p1, p2, z1, z2 = embeddings
        return self.criterion(p1, p2, z1, z2)

    def param_groups(self, weight_decay: float, exclude_bn_bias: bool) -> list[dict[str, Any]]:
        groups = super().param_groups(weight_decay, exclude_bn_bias)
        if not self.params.fixed_predictor_lr:
            return groups
        pred = {id(p) for p in self.predictor.parameters()}
        out = []
        for g in groups:
            rest = [p for p in g["params"] if id(p) not in pred]
            mine = [p for p in g["params"] if id(p) in pred]
            if rest:
                out.append({**g, "params": rest})
            if mine:
                out.append({**g, "params": mine, "fixed_lr": True})
        return out

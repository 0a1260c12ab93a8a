"""VICRegL: VICReg on global embeddings and on matched local features of the spatial map.

References:
    - [0]: VICRegL, 2022, https://arxiv.org/abs/2210.01571
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from simclr.losses.vicregl import VICRegLLoss
from simclr.methods.base import METHODS, Method, MethodOutput, MethodParams, ViewSpec, check_param
from simclr.models.heads import MLP, default_projector_dim


@dataclass
class VICRegLParams(MethodParams):
    """VICRegL hyper-parameters (paper defaults, ResNet-50).

    Attributes:
        alpha: Weight of the global loss; ``1 - alpha`` weighs the local one (0.75).
        sim_coeff, std_coeff, cov_coeff: VICReg weights (25, 25, 1).
        num_matches: Feature-based matches kept per sample and direction (gamma, 20).
        proj_dim: Global expander width (3 layers); ``None``: 8192 for >= 2048 backbone
            features, else 2048.
        local_proj_dim: Local projector width (512), applied at every map location.
        local_views: Small extra views for the global loss (6, as multi-crop).
        local_size: Their side in pixels; ``None``: 96/224 of the global side (96 at 224).
        local_scale: Their crop area range ((0.05, 0.14)).
        gather_distributed: Statistics over the global batch under DDP.
    """

    alpha: float = 0.75
    sim_coeff: float = 25.0
    std_coeff: float = 25.0
    cov_coeff: float = 1.0
    num_matches: int = 20
    proj_dim: int | None = None
    local_proj_dim: int = 512
    local_views: int = 6
    local_size: int | None = None
    local_scale: list[float] = field(default_factory=lambda: [0.05, 0.14])
    gather_distributed: bool = True

    def validate(self) -> None:
        check_param(0 <= self.alpha <= 1, "alpha", self.alpha, "a number in [0, 1]")
        for name in ("sim_coeff", "std_coeff", "cov_coeff"):
            check_param(getattr(self, name) >= 0, name, getattr(self, name), "a number >= 0")
        for name in ("num_matches", "local_proj_dim"):
            check_param(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        check_param(self.local_views >= 0, "local_views", self.local_views, "an integer >= 0")
        check_param(
            self.proj_dim is None or self.proj_dim >= 1, "proj_dim", self.proj_dim, "None or >= 1"
        )
        check_param(
            self.local_size is None or self.local_size >= 1,
            "local_size",
            self.local_size,
            "None or an integer >= 1",
        )
        s = self.local_scale
        check_param(len(s) == 2 and 0 < s[0] <= s[1] <= 1, "local_scale", s, "[min, max] in (0, 1]")


@METHODS.register("vicregl")
class VICRegL(Method):
    """VICRegL on a ResNet: global expander on pooled features, local projector per location.

    The local features are the backbone's last spatial map (``ResNet.feature_map``) of
    the two global views, each location projected by a 3-layer MLP. Hooks: ``views``
    asks for 2 global + ``local_views`` local views. Batch-coupled: GradCache
    accumulation is exact.

    Args:
        backbone: A ResNet (``feature_map`` is needed).
        params: :class:`VICRegLParams`.
        norm: Normalisation in the heads (``batch`` or ``group``).

    Shape:
        - images: 2 global ``(n, 3, H, W)`` views, then local ``(n, 3, h, h)`` views
        - embeddings: global embeddings ``(n, proj_dim)`` of every view, then the two
          global views' local embeddings ``(n, H' * W', local_proj_dim)``

    Example:
        >>> import torch
        >>> from simclr.models import build_backbone
        >>> params = VICRegLParams(proj_dim=32, local_proj_dim=16, local_views=0)
        >>> m = VICRegL(build_backbone("resnet18", 16, width=0.125), params)
        >>> out = m([torch.rand(4, 3, 16, 16)] * 2, [torch.ones(4, 1, 16, 16)] * 2)
        >>> [tuple(e.shape) for e in out.embeddings]
        [(4, 32), (4, 32), (4, 4, 16), (4, 4, 16)]
    """

    config_class = VICRegLParams
    batch_coupled = True
    num_views = 2
    smoke_params = {
        "proj_dim": 32,
        "local_proj_dim": 16,
        "local_views": 2,
        "local_size": 8,
        "num_matches": 2,
    }

    def __init__(self, backbone: nn.Module, params: VICRegLParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        if not hasattr(backbone, "feature_map"):
            raise ValueError("method 'vicregl' needs a ResNet backbone (with a spatial map)")
        self.params = params
        dim = backbone.num_features
        p, lp = params.proj_dim or default_projector_dim(dim), params.local_proj_dim
        self.projector = MLP([dim, p, p, p], norm)
        self.local_projector = MLP([dim, lp, lp, lp], norm)
        self.criterion = VICRegLLoss(
            params.alpha,
            params.sim_coeff,
            params.std_coeff,
            params.cov_coeff,
            params.num_matches,
            params.gather_distributed,
        )

    @classmethod
    def check_backbone(cls, name: str) -> None:
        if name.startswith("vit"):
            raise ValueError(
                f"config 'model.backbone' = {name!r}: method 'vicregl' expects a ResNet "
                "(its local features are the last convolutional map)"
            )

    def views(self) -> ViewSpec:
        p = self.params
        return ViewSpec(2, p.local_views, p.local_size, (p.local_scale[0], p.local_scale[1]))

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        maps = [self.backbone.feature_map(x) for x in images]
        pooled = [m.mean(dim=(2, 3)) for m in maps]
        global_z = [self.projector(f) for f in pooled]
        local_z = []
        for m in maps[:2]:
            n, c = m.shape[:2]
            loc = m.flatten(2).transpose(1, 2).reshape(-1, c)  # (n * L, C)
            local_z.append(self.local_projector(loc).reshape(n, -1, self.params.local_proj_dim))
        return MethodOutput([*global_z, *local_z], pooled[0])

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        return self.criterion(list(embeddings[:-2]), list(embeddings[-2:]))

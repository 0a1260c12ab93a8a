"""DetCon-S: SimCLR's contrastive loss between mask-pooled region features of two views.

References:
    - [0]: DetCon, 2021, https://arxiv.org/abs/2103.10957
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from simclr.losses.detcon_s import DetConSLoss
from simclr.methods.base import METHODS, Method, MethodOutput, MethodParams, check_param
from simclr.models.heads import ProjectionHead
from simclr.models.mask_pooling import mask_pool, region_cell_weights, region_ids, sample_regions


@dataclass
class DetConSParams(MethodParams):
    """DetCon-S hyper-parameters (the paper's defaults).

    Attributes:
        temperature: Softmax temperature, > 0 (0.1).
        num_samples: Regions drawn per view, with replacement (16).
        proj_hidden_dim: Hidden width of the projection MLP; ``None`` = feature dim
            (SimCLR's head: 2048-2048-128 on a ResNet-50).
        proj_output_dim: Projection dimension (128).
        gather_distributed: Use every process's regions as negatives (with gradients).
    """

    temperature: float = 0.1
    num_samples: int = 16
    proj_hidden_dim: int | None = None
    proj_output_dim: int = 128
    gather_distributed: bool = True

    def validate(self) -> None:
        check_param(self.temperature > 0, "temperature", self.temperature, "a number > 0")
        check_param(self.num_samples >= 1, "num_samples", self.num_samples, "an integer >= 1")
        check_param(
            self.proj_hidden_dim is None or self.proj_hidden_dim >= 1,
            "proj_hidden_dim",
            self.proj_hidden_dim,
            "None or an integer >= 1",
        )
        check_param(
            self.proj_output_dim >= 1, "proj_output_dim", self.proj_output_dim, "an integer >= 1"
        )


def pooled_regions(
    backbone: nn.Module, images: list[Tensor], masks: list[Tensor], num_samples: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The backbone's map of both views, and ``num_samples`` regions drawn per view.

    Returns:
        ``(maps (2n, C, h, w), cell weights (2n, K, h*w), picked ids (2n, M),
        pooled features (2n, M, C))``, view 0 first.
    """
    maps = backbone.feature_map(torch.cat(images, dim=0))
    ids = torch.cat([region_ids(m) for m in masks], dim=0)
    weights = region_cell_weights(ids, (maps.shape[-2], maps.shape[-1]))
    picked = sample_regions(weights, num_samples)
    return maps, weights, picked, mask_pool(maps, weights, picked)


def check_spatial_backbone(method: str, name: str) -> None:
    """A ViT has no convolutional map to pool: refuse it in one line."""
    if name.startswith("vit"):
        raise ValueError(
            f"config 'model.backbone' = {name!r}: method {method!r} expects a ResNet or "
            "the ConvNet (it pools the last convolutional map within each region)"
        )


@METHODS.register("detcon_s")
class DetConS(Method):
    """DetCon-S: regions of both views pooled from the last feature map, projected and
    contrasted (:class:`~simclr.losses.detcon_s.DetConSLoss`).

    The regions are the views' masks after the joint geometry: a binary mask gives
    two regions (background and foreground), a label map (``data.masks`` naming a
    ``felzenszwalb`` cache) its segments. ``num_samples`` regions are drawn per view
    among those present; each is the area-weighted mean of the feature map over the
    region (:mod:`simclr.models.mask_pooling`), projected by SimCLR's head. The online
    probe reads the globally pooled features of the first view. Batch-coupled (other
    images' regions are the negatives): GradCache accumulation is exact.

    Args:
        backbone: A ResNet or the ConvNet (``feature_map`` is needed).
        params: :class:`DetConSParams`.
        norm: Normalisation in the head (``batch`` or ``group``).

    Shape:
        - images: two ``(n, 3, H, W)`` views; masks: two ``(n, 1, H, W)``
        - embeddings: ``[z0, z1, ids0, ids1]``: ``(n, M, proj_output_dim)`` twice, then
          the drawn region ids ``(n, M)`` (float, so that they travel with the
          embeddings)

    Example:
        >>> from simclr.models import build_backbone
        >>> params = DetConSParams(proj_hidden_dim=32, proj_output_dim=16, num_samples=4)
        >>> m = DetConS(build_backbone("resnet18", 16, width=0.125), params)
        >>> masks = torch.zeros(4, 1, 16, 16); masks[:, :, 4:12, 4:12] = 1
        >>> out = m([torch.rand(4, 3, 16, 16)] * 2, [masks, masks])
        >>> [tuple(e.shape) for e in out.embeddings]
        [(4, 4, 16), (4, 4, 16), (4, 4), (4, 4)]
        >>> m.loss(out.embeddings).ndim
        0
    """

    config_class = DetConSParams
    batch_coupled = True
    num_views = 2
    uses_regions = True
    smoke_params = {"proj_hidden_dim": 32, "proj_output_dim": 16, "num_samples": 4}

    def __init__(self, backbone: nn.Module, params: DetConSParams, norm: str = "batch") -> None:
        super().__init__(backbone)
        if not hasattr(backbone, "feature_map"):
            raise ValueError("method 'detcon_s' needs a backbone with a spatial feature map")
        self.params = params
        dim = backbone.num_features
        self.projector = ProjectionHead(
            dim, params.proj_hidden_dim or dim, params.proj_output_dim, norm
        )
        self.criterion = DetConSLoss(params.temperature, params.gather_distributed)

    @classmethod
    def check_backbone(cls, name: str) -> None:
        check_spatial_backbone("detcon_s", name)

    def forward(self, images: list[Tensor], masks: list[Tensor]) -> MethodOutput:
        n = images[0].shape[0]
        maps, _, picked, pooled = pooled_regions(
            self.backbone, images, masks, self.params.num_samples
        )
        two_n, m, c = pooled.shape
        z = self.projector(pooled.reshape(two_n * m, c)).reshape(two_n, m, -1)
        ids = picked.to(z.dtype)
        return MethodOutput([z[:n], z[n:], ids[:n], ids[n:]], maps[:n].mean(dim=(2, 3)))

    def loss(self, embeddings: list[Tensor]) -> Tensor:
        z0, z1, ids0, ids1 = embeddings
        return self.criterion(z0, z1, ids0, ids1)

"""The adapter that runs a kornia geometric augmentation inside the engine.

References:
    - [0]: kornia, ``augmentation/_2d/geometric/affine.py`` (per-sample matrices)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segaug.augment.geometry.base import GeometricOp, GeoParams, Size, _eye, _size

__all__ = ["KorniaGeometric"]


class KorniaGeometric(GeometricOp):
    """Adapter: a kornia geometric augmentation as a :class:`GeometricOp`.

    Parameters come from the module's own sampler (``forward_parameters``, on the global
    torch generator), and its per-sample ``transform_matrix`` (``compute_transformation``)
    joins the engine's single resampling. kornia draws the coin too (inside
    ``forward_parameters``), so the adapter overrides :meth:`~GeometricOp.draw` and records
    kornia's coin as ``fire``; rows where it did not fire get the identity, and ``p`` is
    the module's probability. The recorded parameters are the matrices, so a replay is
    exact.
    Resampling is the engine's (bilinear image, nearest mask, zeros outside the image),
    not the module's ``resample``/``padding_mode`` flags.

    Args:
        module: A ``kornia.augmentation`` geometric augmentation (``RandomAffine``,
            ``RandomRotation``, ``RandomPerspective``, ``RandomResizedCrop``, ...).
        output_size: Output (H, W) when the module changes the size; by default the
            module's ``size`` (crops) if it has one, else the input size.

    Shape:
        - Input: :math:`(B, C, H, W)`. Output: :math:`(B, C, h, w)`.

    Example:
        >>> import kornia.augmentation as K
        >>> op = KorniaGeometric(K.RandomRotation(30.0, p=1.0))
        >>> op.draw(2, (16, 16))["matrix"].shape
        torch.Size([2, 3, 3])
    """

    def __init__(self, module: nn.Module, output_size: int | tuple[int, int] | None = None) -> None:
        import kornia

        if not isinstance(module, kornia.augmentation.GeometricAugmentationBase2D):
            raise ValueError(
                "module must be a kornia geometric augmentation (GeometricAugmentationBase2D), "
                f"got {type(module).__name__}"
            )
        super().__init__(float(module.p))
        self.module = module
        size = getattr(module, "flags", {}).get("size", getattr(module, "size", None))
        if output_size is None and isinstance(size, (tuple, list)):
            output_size = tuple(int(s) for s in size)
        self.output_size = None if output_size is None else _size(output_size, "output_size")

    def out_size(self, size: Size) -> Size:
        return self.output_size if self.output_size is not None else (int(size[0]), int(size[1]))

    def draw(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """``matrix`` (n, 3, 3) float64 (identity where kornia did not fire), ``fire`` (n,)."""
        shape = torch.Size((n, 3, int(size[0]), int(size[1])))
        kp = self.module.forward_parameters(shape)
        fire = kp["batch_prob"].bool().cpu()
        like = torch.zeros(1, 1, 1, 1).expand(*shape)  # shape and dtype only, no memory
        m = self.module.compute_transformation(like, kp, self.module.flags)
        m = m.detach().to(device="cpu", dtype=torch.float64)
        return {"matrix": torch.where(fire[:, None, None], m, _eye(n)), "fire": fire}

    def matrix(self, params: GeoParams, size: Size) -> Tensor:
        return params["matrix"].to(torch.float64)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

"""GeometrySequence: several geometric ops composed into one resampling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from segaug.augment.geometry.affine import RandomResizedCropFlip
from segaug.augment.geometry.base import GeometricOp, GeoParams, Size, Stage, sampling_grid
from segaug.augment.geometry.kornia import KorniaGeometric
from segaug.augment.ops import wrap_kornia

__all__ = ["GeometrySequence", "as_geometric"]


class GeometrySequence(GeometricOp):
    """Several geometric ops applied in order, as one resampling.

    Parameters are one flat dict: op ``i``'s key ``name`` is stored as ``"i.name"``
    (:meth:`split` gives them back per op). An object-centred crop must come first, since
    foreground boxes are measured on the input. The crop's settings (``output_size``,
    ``scale``, ``ratio``, ``flip_p``) read through, so code that inspects a recipe's crop
    works with a sequence too. Each op draws its own coin, so the sequence itself fires on
    every row (its ``p`` is 1) and overrides :meth:`~GeometricOp.draw`.

    Args:
        ops: Geometric ops (kornia geometric augmentations are wrapped), in order.

    Shape:
        - images: :math:`(B, C, H, W)`; masks: :math:`(B, 1, H, W)`.
        - Output: :math:`(B, C, h, w)` with the size after the last op.

    Example:
        >>> from segaug.augment.geometry import RandomVerticalFlip
        >>> seq = GeometrySequence([RandomResizedCropFlip(16), RandomVerticalFlip()])
        >>> params = seq.draw(2, (24, 24))
        >>> sorted(params), seq.out_size((24, 24))
        (['0.boxes', '0.flip', '1.flip'], (16, 16))
    """

    def __init__(self, ops: Sequence[GeometricOp | nn.Module]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(as_geometric(op, f"geometric[{i}]") for i, op in enumerate(ops))
        for i, op in enumerate(self.ops):
            if i > 0 and op.object_centered:
                raise ValueError(
                    f"geometric[{i}] is object-centred; it must be the first op, since "
                    "foreground boxes are measured on the input"
                )

    def __len__(self) -> int:
        return len(self.ops)

    def __getitem__(self, i: int) -> GeometricOp:
        return self.ops[i]

    @property
    def object_centered(self) -> bool:  # type: ignore[override]
        return len(self.ops) > 0 and bool(self.ops[0].object_centered)

    @property
    def crop(self) -> RandomResizedCropFlip | None:
        """The first :class:`RandomResizedCropFlip` of the sequence, if any."""
        return next((op for op in self.ops if isinstance(op, RandomResizedCropFlip)), None)

    def _crop_attr(self, name: str):
        crop = self.crop
        if crop is None:
            raise AttributeError(f"this GeometrySequence has no RandomResizedCropFlip ({name})")
        return getattr(crop, name)

    output_size = property(lambda self: self._crop_attr("output_size"))
    scale = property(lambda self: self._crop_attr("scale"))
    ratio = property(lambda self: self._crop_attr("ratio"))
    flip_p = property(lambda self: self._crop_attr("flip_p"))

    def with_crop(self, crop: RandomResizedCropFlip) -> GeometrySequence:
        """A copy with the first crop replaced by ``crop`` (prepended if there is none)."""
        ops = list(self.ops)
        i = next((j for j, op in enumerate(ops) if isinstance(op, RandomResizedCropFlip)), None)
        if i is None:
            ops.insert(0, crop)
        else:
            ops[i] = crop
        return GeometrySequence(ops)

    def out_size(self, size: Size) -> Size:
        for op in self.ops:
            size = op.out_size(size)
        return (int(size[0]), int(size[1]))

    def draw(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        params: GeoParams = {}
        for i, op in enumerate(self.ops):
            for key, v in op.draw(n, size, fg_boxes if i == 0 else None).items():
                params[f"{i}.{key}"] = v
            size = op.out_size(size)
        return params

    def split(self, params: GeoParams) -> list[GeoParams]:
        """The flat parameters as one dict per op."""
        out: list[GeoParams] = [{} for _ in self.ops]
        for key, v in params.items():
            i, name = key.split(".", 1)
            out[int(i)][name] = v
        return out

    def stages(self, params: GeoParams, size: Size) -> list[Stage]:
        out: list[Stage] = []
        for op, p in zip(self.ops, self.split(params), strict=True):
            out.extend(op.stages(p, size))
            size = op.out_size(size)
        return out

    def moves(self, params: GeoParams, size: Size) -> Tensor:
        return sampling_grid(self.stages(params, size), torch.device("cpu"), torch.float32)[2]


def as_geometric(op: object, where: str = "geometric") -> GeometricOp:
    """Return ``op`` as a :class:`GeometricOp`, wrapping kornia geometric augmentations.

    Raises:
        ValueError: If ``op`` is neither; ``where`` names the argument in the message.
    """
    return wrap_kornia(
        op,
        GeometricOp,
        KorniaGeometric,
        where,
        "must be a segaug GeometricOp or a kornia geometric augmentation",
    )

"""Matrix ops: random resized crop + flip, flips, rotation, affine.

Crop boxes are drawn the way ``torchvision.transforms.RandomResizedCrop`` draws them
(10 tries of area and log-uniform aspect ratio, integer boxes, a centre-crop fallback),
vectorised over the batch.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709 (crop scale (0.08, 1), flip p=0.5)
    - [1]: ContrastiveCrop, CVPR 2022, https://arxiv.org/abs/2202.03278 (crops centred on
      the object's bounding box; used when ``object_centered`` is set)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from segaug.augment.geometry.base import (
    GeometricOp,
    GeoParams,
    Size,
    _draw_turns,
    _eye,
    _range,
    _size,
    _turns,
    _uniform,
)
from segaug.augment.ops import check_probability

__all__ = [
    "RandomResizedCropFlip",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomRotation",
    "RandomAffine",
]


class RandomResizedCropFlip(GeometricOp):
    """Random resized crop to ``output_size`` and a random horizontal flip.

    The crop fires on every row, so it draws no coin (its ``p`` is 1) and overrides
    :meth:`~GeometricOp.draw`; the flip is one of its parameters, drawn with ``flip_p``.

    Args:
        output_size: Output side, or (height, width).
        scale: Range of the crop area as a fraction of the image area.
        ratio: Range of the crop aspect ratio (width / height), drawn log-uniformly.
        flip_p: Probability of a horizontal flip.
        object_centered: If True, the crop centre is drawn uniformly inside the
            foreground's bounding box (ContrastiveCrop's idea), so crops keep part of
            the object; the box is then shifted to lie inside the image. Rows given no
            foreground box are cropped as usual.

    Shape:
        - images: :math:`(B, C, H, W)` float.
        - masks: :math:`(B, 1, H, W)` float.
        - Output: :math:`(B, C, h, w)` and :math:`(B, 1, h, w)`.

    Example:
        >>> geo = RandomResizedCropFlip(16)
        >>> params = geo.draw(2, (32, 32))
        >>> x, m = geo.apply(torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32), params)
        >>> x.shape, m.shape
        (torch.Size([2, 3, 16, 16]), torch.Size([2, 1, 16, 16]))
    """

    stays_inside = True

    def __init__(
        self,
        output_size: int | tuple[int, int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        object_centered: bool = False,
    ) -> None:
        super().__init__()
        output_size = _size(output_size, "output_size")
        if not (len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1):
            raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {scale!r}")
        if not (len(ratio) == 2 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"ratio must satisfy 0 < min <= max, got {ratio!r}")
        self.output_size = output_size
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.flip_p = check_probability(flip_p, "flip_p")
        self.object_centered = bool(object_centered)

    def out_size(self, size: Size) -> Size:
        return self.output_size

    def draw(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """Draw crop boxes ``(x0, y0, w, h)`` (n, 4) long and ``flip`` (n,) bool, on the CPU.

        Args:
            n: Number of samples.
            size: Input (H, W).
            fg_boxes: Optional (n, 4) foreground boxes ``(x0, y0, x1, y1)``; used when
                ``object_centered`` is set. Rows with a negative ``x0`` are cropped as usual.
        """
        h, w = size
        area = float(h * w)
        tries = 10
        target = area * (torch.rand(n, tries) * (self.scale[1] - self.scale[0]) + self.scale[0])
        log_r = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        aspect = torch.exp(torch.rand(n, tries) * (log_r[1] - log_r[0]) + log_r[0])
        cw = torch.sqrt(target * aspect).round().long()
        ch = torch.sqrt(target / aspect).round().long()
        ok = (cw > 0) & (ch > 0) & (cw <= w) & (ch <= h)
        first = torch.where(ok.any(dim=1), ok.float().argmax(dim=1), torch.full((n,), -1))
        # torchvision's fallback: the whole image, clipped to the ratio range, centred.
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            fw, fh = w, int(round(w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fh, fw = h, int(round(h * self.ratio[1]))
        else:
            fw, fh = w, h
        idx = first.clamp(min=0)
        bw = torch.where(first >= 0, cw.gather(1, idx[:, None])[:, 0], torch.full((n,), fw))
        bh = torch.where(first >= 0, ch.gather(1, idx[:, None])[:, 0], torch.full((n,), fh))
        # Integer top-left corner, uniform over valid positions (torch.randint semantics).
        x0 = (torch.rand(n) * (w - bw + 1)).floor().long()
        y0 = (torch.rand(n) * (h - bh + 1)).floor().long()
        x0 = torch.where(first >= 0, x0, torch.full((n,), (w - fw) // 2))
        y0 = torch.where(first >= 0, y0, torch.full((n,), (h - fh) // 2))
        if self.object_centered and fg_boxes is not None:
            has = fg_boxes[:, 0] >= 0
            cx = fg_boxes[:, 0] + torch.rand(n) * (fg_boxes[:, 2] - fg_boxes[:, 0]).clamp(min=1)
            cy = fg_boxes[:, 1] + torch.rand(n) * (fg_boxes[:, 3] - fg_boxes[:, 1]).clamp(min=1)
            ox = (cx - bw / 2).round().long().clamp(min=0)
            oy = (cy - bh / 2).round().long().clamp(min=0)
            ox = torch.minimum(ox, w - bw)
            oy = torch.minimum(oy, h - bh)
            x0 = torch.where(has, ox, x0)
            y0 = torch.where(has, oy, y0)
        flip = torch.rand(n) < self.flip_p
        return {"boxes": torch.stack([x0, y0, bw, bh], dim=1), "flip": flip}

    def matrix(self, params: GeoParams, size: Size) -> Tensor:
        """Box ``(x0, y0, w, h)`` onto the output: ``u = (x + 0.5 - x0) * w_out / w - 0.5``,
        then ``u -> w_out - 1 - u`` where flipped."""
        x0, y0, bw, bh = params["boxes"].to(torch.float64).unbind(dim=1)
        out_h, out_w = self.output_size
        sx, sy = out_w / bw, out_h / bh
        tx, ty = (0.5 - x0) * sx - 0.5, (0.5 - y0) * sy - 0.5
        flip = params["flip"].to(torch.bool)
        m = _eye(x0.shape[0])
        m[:, 0, 0] = torch.where(flip, -sx, sx)
        m[:, 0, 2] = torch.where(flip, out_w - 1 - tx, tx)
        m[:, 1, 1] = sy
        m[:, 1, 2] = ty
        return m

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, scale={self.scale}, ratio={self.ratio}, "
            f"flip_p={self.flip_p}, object_centered={self.object_centered}"
        )


class _Flip(GeometricOp):
    """A mirror along one axis; the coin is its only parameter, recorded as ``flip``."""

    axis = 0  # 0: x (horizontal flip), 1: y (vertical flip)
    stays_inside = True
    fire_key = "flip"

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)

    def matrix(self, params: GeoParams, size: Size) -> Tensor:
        m = _eye(params["flip"].shape[0])
        a = self.axis
        extent = size[1] if a == 0 else size[0]
        m[:, a, a] = -1.0
        m[:, a, 2] = float(extent - 1)
        return m

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RandomHorizontalFlip(_Flip):
    """Mirror left-right with probability ``p``, image and mask together.

    Args:
        p: Probability of a flip, per sample.

    Shape:
        - Input and output: :math:`(B, C, H, W)` and :math:`(B, 1, H, W)`.

    Example:
        >>> x, flip = torch.rand(1, 3, 4, 4), {"flip": torch.tensor([True])}
        >>> y, _ = RandomHorizontalFlip(p=1.0).apply(x, torch.ones(1, 1, 4, 4), flip)
        >>> torch.allclose(y, x.flip(-1), atol=1e-6)
        True
    """

    axis = 0


class RandomVerticalFlip(_Flip):
    """Mirror top-bottom with probability ``p``, image and mask together.

    Args:
        p: Probability of a flip, per sample.

    Shape:
        - Input and output: :math:`(B, C, H, W)` and :math:`(B, 1, H, W)`.

    Example:
        >>> op = RandomVerticalFlip(p=1.0)
        >>> m = torch.zeros(1, 1, 4, 4); m[:, :, 0] = 1
        >>> _, out = op.apply(torch.rand(1, 3, 4, 4), m, op.draw(1, (4, 4)))
        >>> out[0, 0, :, 0].tolist()
        [0.0, 0.0, 0.0, 1.0]
    """

    axis = 1


def _about_centre(a: Tensor, size: Size, t: Tensor | None = None) -> Tensor:
    """(n, 2, 2) linear parts ``a`` -> 3x3 maps about the image centre (+ translation ``t``)."""
    h, w = size
    c = torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=torch.float64)
    m = _eye(a.shape[0])
    m[:, :2, :2] = a
    shift = c - (a @ c)
    m[:, :2, 2] = shift if t is None else shift + t
    return m


def _rotation(cos: Tensor, sin: Tensor) -> Tensor:
    # Counter-clockwise as displayed (y down), as kornia/OpenCV and torch.rot90(dims=(-2, -1)).
    return torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)


class RandomRotation(GeometricOp):
    """Rotate about the image centre by a random angle or a random multiple of 90 degrees.

    Give exactly one of ``degrees`` and ``turns``. Angles are counter-clockwise as
    displayed (kornia's and OpenCV's convention). Corners that come from outside the
    image are 0 in the image and in the mask.

    Args:
        degrees: An angle range in degrees: ``a`` means (-a, a), or a (min, max) pair.
        turns: Quarter turns to draw from uniformly, e.g. ``(0, 1, 2, 3)`` or ``(1,)``
            (a 90 degree turn, as lightly's ``RandomRotate``); exact pixel permutations on
            square images.
        p: Probability of rotating a sample.

    Shape:
        - Input and output: :math:`(B, C, H, W)` and :math:`(B, 1, H, W)`.

    Example:
        >>> op = RandomRotation(turns=(1,), p=1.0)
        >>> x = torch.rand(1, 3, 5, 5)
        >>> y, _ = op.apply(x, torch.ones(1, 1, 5, 5), op.draw(1, (5, 5)))
        >>> torch.allclose(y, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)
        True
    """

    def __init__(
        self,
        degrees: float | tuple[float, float] | None = None,
        turns: Sequence[int] | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        if (degrees is None) == (turns is None):
            raise ValueError(
                f"give exactly one of degrees and turns, got degrees={degrees!r}, turns={turns!r}"
            )
        self.degrees = None if degrees is None else _range(degrees, "degrees")
        self.turns = None if turns is None else _turns(turns)

    def sample(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """``angle`` (n,) float64 degrees."""
        if self.turns is not None:
            return {"angle": _draw_turns(self.turns, n).to(torch.float64) * 90.0}
        return {"angle": _uniform(n, *self.degrees)}

    def matrix(self, params: GeoParams, size: Size) -> Tensor:
        angle = params["angle"].to(torch.float64)
        rad = torch.deg2rad(angle)
        cos, sin = torch.cos(rad), torch.sin(rad)
        # Exact values at multiples of 90 degrees, so quarter turns permute pixels exactly.
        quarter = torch.remainder(angle, 90.0) == 0
        k = torch.remainder(torch.round(angle / 90.0), 4).long()
        table_c = torch.tensor([1.0, 0.0, -1.0, 0.0], dtype=torch.float64)
        table_s = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=torch.float64)
        cos = torch.where(quarter, table_c[k], cos)
        sin = torch.where(quarter, table_s[k], sin)
        return _about_centre(_rotation(cos, sin), size)

    def extra_repr(self) -> str:
        what = f"degrees={self.degrees}" if self.degrees is not None else f"turns={self.turns}"
        return f"{what}, p={self.p}"


class RandomAffine(GeometricOp):
    """Random rotation, translation, scale and shear about the image centre.

    Parameters follow ``torchvision.transforms.RandomAffine``: the angle is uniform in
    ``degrees``, the shift uniform in ``(-translate[0] * W, translate[0] * W)`` (and
    likewise for y), the zoom uniform in ``scale``, the shear angles uniform in ``shear``.
    The matrix is ``T(centre + shift) R S Shear T(-centre)``.

    Args:
        degrees: Rotation range (``a`` means (-a, a)), in degrees.
        translate: Maximal absolute shift as fractions (x, y) of the width and height.
        scale: Zoom range (min, max).
        shear: x shear range in degrees (``a`` or (min, max)), or (xmin, xmax, ymin, ymax).
        p: Probability of transforming a sample.

    Shape:
        - Input and output: :math:`(B, C, H, W)` and :math:`(B, 1, H, W)`.

    Example:
        >>> op = RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5)
        >>> params = op.draw(3, (16, 16))
        >>> sorted(params), op.matrix(params, (16, 16)).shape
        (['angle', 'fire', 'scale', 'shear', 'translate'], torch.Size([3, 3, 3]))
    """

    def __init__(
        self,
        degrees: float | tuple[float, float] = 0.0,
        translate: tuple[float, float] | None = None,
        scale: tuple[float, float] | None = None,
        shear: float | Sequence[float] | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        self.degrees = _range(degrees, "degrees")
        if translate is not None and not (
            isinstance(translate, (tuple, list))
            and len(translate) == 2
            and all(isinstance(t, (int, float)) and 0 <= t <= 1 for t in translate)
        ):
            raise ValueError(f"translate must be (x, y) fractions in [0, 1], got {translate!r}")
        self.translate = None if translate is None else (float(translate[0]), float(translate[1]))
        if scale is not None and not (
            isinstance(scale, (tuple, list)) and len(scale) == 2 and 0 < scale[0] <= scale[1]
        ):
            raise ValueError(f"scale must be (min, max) with 0 < min <= max, got {scale!r}")
        self.scale = None if scale is None else (float(scale[0]), float(scale[1]))
        if shear is None:
            self.shear = ((0.0, 0.0), (0.0, 0.0))
        elif isinstance(shear, (tuple, list)) and len(shear) == 4:
            self.shear = (_range(shear[:2], "shear"), _range(shear[2:], "shear"))
        else:
            self.shear = (_range(shear, "shear"), (0.0, 0.0))

    def sample(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """``angle`` (n,), ``translate`` (n, 2) pixels, ``scale`` (n,), ``shear`` (n, 2)
        degrees, float64."""
        h, w = size
        angle = _uniform(n, *self.degrees)
        tx, ty = self.translate if self.translate is not None else (0.0, 0.0)
        shift = torch.stack([_uniform(n, -tx * w, tx * w), _uniform(n, -ty * h, ty * h)], 1)
        zoom = (
            _uniform(n, *self.scale)
            if self.scale is not None
            else torch.ones(n, dtype=torch.float64)
        )
        shear = torch.stack([_uniform(n, *self.shear[0]), _uniform(n, *self.shear[1])], 1)
        return {"angle": angle, "translate": shift, "scale": zoom, "shear": shear}

    def matrix(self, params: GeoParams, size: Size) -> Tensor:
        rad = torch.deg2rad(params["angle"].to(torch.float64))
        rot = _rotation(torch.cos(rad), torch.sin(rad))
        sh = torch.tan(torch.deg2rad(params["shear"].to(torch.float64)))
        shear = _eye(sh.shape[0])[:, :2, :2]
        shear[:, 0, 1] = sh[:, 0]
        shear[:, 1, 0] = sh[:, 1]
        a = rot * params["scale"].to(torch.float64)[:, None, None] @ shear
        return _about_centre(a, size, params["translate"].to(torch.float64))

    def extra_repr(self) -> str:
        return (
            f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
            f"shear={self.shear}, p={self.p}"
        )

"""Joint geometry for images and masks: ops that compose into one resampling.

A geometric op (:class:`GeometricOp`) draws per-sample parameters on the CPU from the
global torch generator and describes, per sample, where each output pixel comes from:
either a 3x3 matrix (crop, flips, rotation, affine, kornia's geometric augmentations) or
a point map (:class:`LocalRotation`, :class:`RegionShuffle`, which move pixels inside
regions and are no global matrix). :class:`GeometrySequence` chains ops; the matrices are
multiplied and the point maps evaluated on the output pixel grid, so a whole chain costs
**one** ``grid_sample`` for the image (bilinear) and one for the mask (nearest), whatever
its length.

Coordinates are pixel coordinates with pixel centres at integers (kornia's and OpenCV's
convention): the image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``. A matrix maps input
points to output points, as kornia's ``transform_matrix`` does. Output points whose
source lies outside the image get 0 in the image and the mask (background); within the
image, sampling clamps to the border pixels, as the crop always did.

Crop boxes are drawn the way ``torchvision.transforms.RandomResizedCrop`` draws them
(10 tries of area and log-uniform aspect ratio, integer boxes, a centre-crop fallback),
vectorised over the batch.

References:
    - [0]: SimCLR, 2020, https://arxiv.org/abs/2002.05709 (crop scale (0.08, 1), flip p=0.5)
    - [1]: ContrastiveCrop, CVPR 2022, https://arxiv.org/abs/2202.03278 (crops centred on
      the object's bounding box; used when ``object_centered`` is set)
    - [2]: kornia, ``augmentation/_2d/geometric/affine.py`` (per-sample matrices)
    - [3]: Moon et al., Tailoring Self-Supervision for Supervised Learning (LoRot-I),
      ECCV 2022, https://arxiv.org/abs/2207.10023
    - [4]: Chen et al., Destruction and Construction Learning for Fine-grained Image
      Recognition (DCL), CVPR 2019 (region confusion mechanism)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "GeometricOp",
    "GeometrySequence",
    "RandomResizedCropFlip",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomRotation",
    "RandomAffine",
    "KorniaGeometric",
    "LocalRotation",
    "RegionShuffle",
    "as_geometric",
    "foreground_boxes",
    "sampling_grid",
    "resample",
]

Size = tuple[int, int]
GeoParams = dict[str, Tensor]
Stage = tuple["GeometricOp", GeoParams, Size]


def _prob(p: float, name: str = "p") -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


def _size(size: int | Sequence[int], name: str) -> Size:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if not (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise ValueError(f"{name} must be a positive int or (height, width), got {size!r}")
    return (int(size[0]), int(size[1]))


def _range(v: float | Sequence[float], name: str, symmetric: bool = True) -> tuple[float, float]:
    """``v`` -> ``(-v, v)`` (``symmetric``) or a (min, max) pair, validated."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if symmetric and v >= 0:
            return (-float(v), float(v))
    elif (
        isinstance(v, (tuple, list))
        and len(v) == 2
        and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in v)
    ):
        if v[0] <= v[1]:
            return (float(v[0]), float(v[1]))
    raise ValueError(
        f"{name} must be a non-negative number or a (min, max) pair with min <= max, got {v!r}"
    )


def _uniform(n: int, lo: float, hi: float) -> Tensor:
    return torch.rand(n, dtype=torch.float64) * (hi - lo) + lo


def _eye(n: int) -> Tensor:
    return torch.eye(3, dtype=torch.float64).expand(n, 3, 3).clone()


def _normaliser(size: Size) -> Tensor:
    """Pixel (centres at integers) -> ``grid_sample`` coordinates with align_corners=False."""
    h, w = size
    return torch.tensor(
        [[2.0 / w, 0.0, 1.0 / w - 1.0], [0.0, 2.0 / h, 1.0 / h - 1.0], [0.0, 0.0, 1.0]],
        dtype=torch.float64,
    )


def _pixel_grid(n: int, size: Size, device: torch.device, dtype: torch.dtype) -> Tensor:
    h, w = size
    ys, xs = torch.meshgrid(
        torch.arange(h, device=device, dtype=dtype),
        torch.arange(w, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack([xs, ys], dim=-1).expand(n, h, w, 2)


def _transform_points(m: Tensor, points: Tensor) -> Tensor:
    """Apply (n, 3, 3) matrices to (n, h, w, 2) points (with a perspective divide)."""
    m = m.to(device=points.device, dtype=points.dtype)
    x, y = points[..., 0], points[..., 1]

    def row(i: int) -> Tensor:
        return m[:, i, 0, None, None] * x + m[:, i, 1, None, None] * y + m[:, i, 2, None, None]

    gx, gy = row(0), row(1)
    if bool((m[:, 2, :2] != 0).any() or (m[:, 2, 2] != 1).any()):
        z = row(2)
        gx, gy = gx / z, gy / z
    return torch.stack([gx, gy], dim=-1)


def foreground_boxes(masks: Tensor) -> Tensor:
    """Bounding boxes ``(x0, y0, x1, y1)`` (exclusive ends) of mask pixels > 0.5.

    Rows with an empty mask get the whole image.

    Shape:
        - masks: :math:`(B, 1, H, W)` float.
        - Output: :math:`(B, 4)` long, on the CPU.

    Example:
        >>> m = torch.zeros(1, 1, 8, 8); m[:, :, 2:5, 1:7] = 1
        >>> foreground_boxes(m).tolist()
        [[1, 2, 7, 5]]
    """
    b, _, h, w = masks.shape
    fg = masks[:, 0] > 0.5
    cols = fg.any(dim=1)  # (B, W)
    rows = fg.any(dim=2)  # (B, H)
    ar_w = torch.arange(w, device=masks.device)
    ar_h = torch.arange(h, device=masks.device)
    big = torch.iinfo(torch.long).max
    x0 = torch.where(cols, ar_w, big).amin(dim=1)
    x1 = torch.where(cols, ar_w, -1).amax(dim=1) + 1
    y0 = torch.where(rows, ar_h, big).amin(dim=1)
    y1 = torch.where(rows, ar_h, -1).amax(dim=1) + 1
    boxes = torch.stack([x0, y0, x1, y1], dim=1).cpu()
    empty = ~cols.any(dim=1).cpu()
    boxes[empty] = torch.tensor([0, 0, w, h])
    return boxes


# --------------------------------------------------------------------- the protocol
class GeometricOp(nn.Module):
    """A geometric op: per-sample parameters and, per sample, a matrix or a point map.

    Subclasses implement :meth:`draw` and either :meth:`matrix` (a 3x3 map from input
    to output pixel coordinates; most ops) or :meth:`backward` (a map from output points
    to input points, for ops that are no global matrix), and :meth:`out_size` when they
    change the size. Everything else comes from here: :meth:`apply` resamples image and
    mask once, and :class:`GeometrySequence` composes several ops into one resampling.

    Parameters are drawn on the CPU with the global torch generator, so
    ``torch.manual_seed`` fixes them, and are a flat ``dict[str, Tensor]`` with one row
    per sample, so they can be inspected and passed back to replay a call.

    Shape:
        - images: :math:`(B, C, H, W)` float.
        - masks: :math:`(B, 1, H, W)` float.
        - Output: :math:`(B, C, h, w)` and :math:`(B, 1, h, w)` with ``(h, w) = out_size((H, W))``.

    Example:
        >>> class Shift(GeometricOp):  # a whole op: move every sample right by 1-3 px
        ...     def draw(self, n, size, fg_boxes=None):
        ...         return {"dx": torch.randint(1, 4, (n,))}
        ...     def matrix(self, params, size):
        ...         m = torch.eye(3, dtype=torch.float64).repeat(len(params["dx"]), 1, 1)
        ...         m[:, 0, 2] = params["dx"].double()
        ...         return m
        >>> op = Shift()
        >>> x, m = op.apply(torch.rand(2, 3, 8, 8), torch.ones(2, 1, 8, 8), op.draw(2, (8, 8)))
        >>> x.shape, bool((m[:, :, :, 0] == 0).all())  # the first column came from outside
        (torch.Size([2, 3, 8, 8]), True)
    """

    object_centered: bool = False
    #: True when every output point of the op comes from inside its input (crops, flips,
    #: pixel permutations); the engine then skips the outside-the-image test.
    stays_inside: bool = False

    def out_size(self, size: Size) -> Size:
        """Output (H, W) for input ``size``; the input size unless overridden."""
        return (int(size[0]), int(size[1]))

    def draw(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """Per-sample parameters for ``n`` samples of input ``size`` (H, W), on the CPU.

        ``fg_boxes`` (n, 4) foreground boxes, for object-centred ops; others ignore it.
        """
        raise NotImplementedError

    def matrix(self, params: GeoParams, size: Size) -> Tensor | None:
        """(n, 3, 3) float64 input-to-output pixel maps, or None for point-map ops."""
        return None

    def backward(self, params: GeoParams, points: Tensor, size: Size) -> Tensor:
        """Map output points (n, h, w, 2) ``(x, y)`` to input points of input ``size``.

        The default inverts :meth:`matrix`; point-map ops override it.
        """
        m = self.matrix(params, size)
        if m is None:
            raise NotImplementedError(f"{type(self).__name__} defines neither matrix nor backward")
        return _transform_points(torch.linalg.inv(m), points)

    def moves(self, params: GeoParams, size: Size) -> Tensor:
        """(n,) bool, the samples this op changes (others may be left bit-identical)."""
        m = self.matrix(params, size)
        if m is None:
            raise NotImplementedError(f"{type(self).__name__} must define moves()")
        if self.out_size(size) != tuple(size):
            return torch.ones(m.shape[0], dtype=torch.bool)
        return (m != torch.eye(3, dtype=m.dtype)).flatten(1).any(dim=1)

    def stages(self, params: GeoParams, size: Size) -> list[Stage]:
        """``(op, params, input size)`` for each elementary op, in order of application."""
        return [(self, params, (int(size[0]), int(size[1])))]

    def grid(
        self, params: GeoParams, size: Size, device: torch.device, dtype: torch.dtype
    ) -> Tensor:
        """Sampling grid (n, h, w, 2) for ``F.grid_sample`` with ``align_corners=False``."""
        return sampling_grid(self.stages(params, size), device, dtype)[0]

    def apply(self, images: Tensor, masks: Tensor, params: GeoParams) -> tuple[Tensor, Tensor]:
        """Resample ``images`` (bilinear) and ``masks`` (nearest) jointly, once."""
        return resample(images, masks, self.stages(params, (images.shape[-2], images.shape[-1])))


def _batch(stages: Sequence[Stage]) -> int:
    for _, p, _ in stages:
        for v in p.values():
            return int(v.shape[0])
    raise ValueError("stages: the parameters hold no tensor, so the batch size is unknown")


def sampling_grid(
    stages: Sequence[Stage], device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Size, Tensor]:
    """Compose ``stages`` into one sampling grid.

    Matrices are multiplied in float64; point maps are evaluated on the output pixel
    grid (in float64 for float64 images, float32 otherwise).

    Returns:
        ``(grid, out_size, moved)``: the normalised grid (n, h, w, 2) in ``dtype``, the
        output (h, w), and (n,) bool (CPU), the samples some stage changes.
    """
    n = _batch(stages)
    outs = [op.out_size(s) for op, _, s in stages]
    in_size, out = stages[0][2], outs[-1]
    moved = torch.zeros(n, dtype=torch.bool)
    for op, p, s in stages:
        moved |= op.moves(p, s).cpu()
    if tuple(in_size) != tuple(out):
        moved[:] = True
    cdtype = torch.float64 if dtype == torch.float64 else torch.float32
    pending = _eye(n)  # output-to-input map not yet applied to points
    points: Tensor | None = None
    for op, p, s in reversed(stages):
        m = op.matrix(p, s)
        if m is not None:
            pending = torch.linalg.inv(m.to(torch.float64)) @ pending
            continue
        if points is None:
            points = _pixel_grid(n, out, device, cdtype)
        points = op.backward(p, _transform_points(pending, points), s)
        pending = _eye(n)
    nrm = _normaliser(in_size)
    if points is not None:
        g = _transform_points(nrm @ pending, points)
        return g.to(dtype), out, moved
    # Only matrices: one normalised map, evaluated on the output pixel centres.
    gm = nrm @ pending @ torch.linalg.inv(_normaliser(out))
    h, w = out
    ox = (torch.arange(w, dtype=torch.float64) * 2 + 1) / w - 1
    oy = (torch.arange(h, dtype=torch.float64) * 2 + 1) / h - 1
    affine = bool((gm[:, 2, :2] == 0).all() and (gm[:, 2, 2] == 1).all())
    if affine and bool((gm[:, 0, 1] == 0).all() and (gm[:, 1, 0] == 0).all()):
        # Axis-aligned (crops, flips, right-angle-free): separable, computed in float64.
        gx = (gm[:, 0, 0, None] * ox + gm[:, 0, 2, None]).to(device=device, dtype=dtype)
        gy = (gm[:, 1, 1, None] * oy + gm[:, 1, 2, None]).to(device=device, dtype=dtype)
        return (
            torch.stack([gx[:, None, :].expand(n, h, w), gy[:, :, None].expand(n, h, w)], dim=-1),
            out,
            moved,
        )
    base = torch.stack(
        torch.meshgrid(oy.to(device, cdtype), ox.to(device, cdtype), indexing="ij")[::-1], dim=-1
    ).expand(n, h, w, 2)
    return _transform_points(gm, base).to(dtype), out, moved


def resample(images: Tensor, masks: Tensor, stages: Sequence[Stage]) -> tuple[Tensor, Tensor]:
    """Apply the composed ``stages`` to images (bilinear) and masks (nearest), once.

    Samples that no stage moves are copied bit for bit; the others are resampled with
    one ``grid_sample`` each for images and masks. Points outside the input image get 0.

    Shape:
        - images: :math:`(B, C, H, W)` float; masks: :math:`(B, 1, H, W)`.
        - Output: :math:`(B, C, h, w)` and :math:`(B, 1, h, w)`.
    """
    grid, out, moved = sampling_grid(stages, images.device, images.dtype)
    masks = masks.to(images.dtype)
    if not bool(moved.any()):
        return images.clone(), masks
    rows = None if bool(moved.all()) else torch.nonzero(moved).squeeze(1).to(images.device)
    g = grid if rows is None else grid[rows]
    x = images if rows is None else images[rows]
    mk = masks if rows is None else masks[rows]
    y = F.grid_sample(x, g, mode="bilinear", padding_mode="border", align_corners=False)
    ym = F.grid_sample(mk, g, mode="nearest", padding_mode="border", align_corners=False)
    if not all(op.stays_inside for op, _, _ in stages):
        outside = (g.abs() > 1).any(dim=-1)
        if bool(outside.any()):
            keep = ~outside[:, None]
            y = y * keep
            ym = ym * keep
    y = y.clamp_(0.0, 1.0)
    if rows is None:
        return y, ym
    out_x, out_m = images.clone(), masks.clone()
    out_x[rows] = y
    out_m[rows] = ym
    return out_x, out_m


# --------------------------------------------------------------------- matrix ops
class RandomResizedCropFlip(GeometricOp):
    """Random resized crop to ``output_size`` and a random horizontal flip.

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
        self.flip_p = _prob(flip_p, "flip_p")
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
    axis = 0  # 0: x (horizontal flip), 1: y (vertical flip)
    stays_inside = True

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _prob(p)

    def draw(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        return {"flip": torch.rand(n) < self.p}

    def matrix(self, params: GeoParams, size: Size) -> Tensor:
        flip = params["flip"].to(torch.bool)
        m = _eye(flip.shape[0])
        a = self.axis
        extent = size[1] if a == 0 else size[0]
        m[:, a, a] = torch.where(flip, -1.0, 1.0).to(torch.float64)
        m[:, a, 2] = torch.where(flip, float(extent - 1), 0.0).to(torch.float64)
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
        super().__init__()
        if (degrees is None) == (turns is None):
            raise ValueError(
                f"give exactly one of degrees and turns, got degrees={degrees!r}, turns={turns!r}"
            )
        self.degrees = None if degrees is None else _range(degrees, "degrees")
        if turns is not None:
            if not (
                isinstance(turns, Sequence)
                and len(turns) > 0
                and all(isinstance(k, int) and not isinstance(k, bool) for k in turns)
            ):
                raise ValueError(f"turns must be a non-empty sequence of ints, got {turns!r}")
            turns = tuple(int(k) % 4 for k in turns)
        self.turns = turns
        self.p = _prob(p)

    def draw(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """``angle`` (n,) float64 degrees (0 where it does not fire) and ``fire`` (n,) bool."""
        if self.turns is not None:
            k = torch.tensor(self.turns)[torch.randint(len(self.turns), (n,))]
            angle = k.to(torch.float64) * 90.0
        else:
            angle = _uniform(n, *self.degrees)
        fire = torch.rand(n) < self.p
        return {"angle": torch.where(fire, angle, 0.0), "fire": fire}

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
        super().__init__()
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
        self.p = _prob(p)

    def draw(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """``angle`` (n,), ``translate`` (n, 2) pixels, ``scale`` (n,), ``shear`` (n, 2)
        degrees, float64, identity values where ``fire`` (n,) is False."""
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
        fire = torch.rand(n) < self.p
        f1 = fire[:, None]
        return {
            "angle": torch.where(fire, angle, 0.0),
            "translate": torch.where(f1, shift, 0.0),
            "scale": torch.where(fire, zoom, 1.0),
            "shear": torch.where(f1, shear, 0.0),
            "fire": fire,
        }

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


class KorniaGeometric(GeometricOp):
    """Adapter: a kornia geometric augmentation as a :class:`GeometricOp`.

    Parameters come from the module's own sampler (``forward_parameters``, on the global
    torch generator), and its per-sample ``transform_matrix`` (``compute_transformation``)
    joins the engine's single resampling; rows where kornia's probability did not fire get
    the identity. The recorded parameters are the matrices, so a replay is exact.
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
        super().__init__()
        import kornia

        if not isinstance(module, kornia.augmentation.GeometricAugmentationBase2D):
            raise ValueError(
                "module must be a kornia geometric augmentation (GeometricAugmentationBase2D), "
                f"got {type(module).__name__}"
            )
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


# --------------------------------------------------------------------- point-map ops
class LocalRotation(GeometricOp):
    """LoRot-I: rotate one random square region by k x 90 degrees, k per sample.

    The square's side is drawn uniformly between ``size[0]`` and ``size[1]`` of the
    shorter image side (a quarter to a half by default), its position uniformly inside
    the image, and ``k`` uniformly from ``turns``. Pixels outside the square stay put.
    A rotation of a region is no global matrix, so this op is a point map: each output
    point inside the square is sent to its rotated source point, other points to
    themselves. It still joins the engine's single resampling, and the mask follows the
    pixels. On the pixel grid it equals ``torch.rot90(square, k, dims=(-2, -1))``.

    Moon et al. rotate the region to make a 4-way rotation label (k in 0-3); as an
    augmentation only a turn changes the view, so ``turns`` defaults to (1, 2, 3).

    Args:
        size: (min, max) side of the square as fractions of the shorter image side.
        turns: Quarter turns to draw from (counter-clockwise as displayed).
        p: Probability of rotating a region in a sample.

    Shape:
        - Input and output: :math:`(B, C, H, W)` and :math:`(B, 1, H, W)`.

    Example:
        >>> op = LocalRotation()
        >>> params = op.draw(3, (32, 32))
        >>> side = params["box"][:, 2]  # a quarter to a half of 32
        >>> params["box"].shape, bool(((side >= 8) & (side <= 16)).all())
        (torch.Size([3, 3]), True)

    References:
        - [0]: Moon et al., Tailoring Self-Supervision for Supervised Learning (LoRot-I),
          ECCV 2022, https://arxiv.org/abs/2207.10023
    """

    stays_inside = True

    def __init__(
        self,
        size: tuple[float, float] = (0.25, 0.5),
        turns: Sequence[int] = (1, 2, 3),
        p: float = 1.0,
    ) -> None:
        super().__init__()
        if not (isinstance(size, (tuple, list)) and len(size) == 2 and 0 < size[0] <= size[1] <= 1):
            raise ValueError(
                f"size must be (min, max) fractions with 0 < min <= max <= 1, got {size!r}"
            )
        if not (
            isinstance(turns, Sequence)
            and len(turns) > 0
            and all(isinstance(k, int) and not isinstance(k, bool) for k in turns)
        ):
            raise ValueError(f"turns must be a non-empty sequence of ints, got {turns!r}")
        self.size = (float(size[0]), float(size[1]))
        self.turns = tuple(int(k) % 4 for k in turns)
        self.p = _prob(p)

    def draw(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """``box`` (n, 3) long ``(x0, y0, side)``, ``k`` (n,) long, ``fire`` (n,) bool."""
        h, w = size
        short = min(h, w)
        lo = max(1, math.ceil(self.size[0] * short))
        hi = max(lo, math.floor(self.size[1] * short))
        side = lo + (torch.rand(n) * (hi - lo + 1)).floor().long()
        x0 = (torch.rand(n) * (w - side + 1)).floor().long()
        y0 = (torch.rand(n) * (h - side + 1)).floor().long()
        k = torch.tensor(self.turns)[torch.randint(len(self.turns), (n,))]
        fire = torch.rand(n) < self.p
        return {"box": torch.stack([x0, y0, side], dim=1), "k": k, "fire": fire}

    def moves(self, params: GeoParams, size: Size) -> Tensor:
        return params["fire"].to(torch.bool) & (params["k"] % 4 != 0) & (params["box"][:, 2] > 1)

    def backward(self, params: GeoParams, points: Tensor, size: Size) -> Tensor:
        dev, dt = points.device, points.dtype
        box = params["box"].to(device=dev, dtype=dt)
        x0, y0, s = (box[:, i, None, None] for i in range(3))
        k = (params["k"] % 4).to(dev)[:, None, None]
        on = self.moves(params, size).to(dev)[:, None, None]
        u, v = points[..., 0] - x0, points[..., 1] - y0
        e = s - 1
        inside = on & (u >= -0.5) & (u < s - 0.5) & (v >= -0.5) & (v < s - 0.5)
        # Source of output (col u, row v) under torch.rot90(square, k, dims=(-2, -1)).
        su = torch.where(k == 1, e - v, torch.where(k == 2, e - u, torch.where(k == 3, v, u)))
        sv = torch.where(k == 1, u, torch.where(k == 2, e - v, torch.where(k == 3, e - u, v)))
        src = torch.stack([su + x0, sv + y0], dim=-1)
        return torch.where(inside[..., None], src, points)

    def extra_repr(self) -> str:
        return f"size={self.size}, turns={self.turns}, p={self.p}"


class RegionShuffle(GeometricOp):
    """DCL's region confusion: shuffle the cells of an N x N grid, a bounded distance.

    As in Destruction and Construction Learning: the image is split into ``grid`` x
    ``grid`` cells; in each row of cells, cell ``i`` gets the sort key ``i + r`` with
    ``r`` uniform in ``[-k, k]`` and the row is reordered by key; then each column of the
    result likewise. A cell therefore moves by less than ``2k`` cells along each axis.
    Cells are ``H // grid`` x ``W // grid`` pixels; the last ``H % grid`` rows and
    ``W % grid`` columns (none when the side divides) stay in place, so the op is an
    exact permutation of whole cells. It is a point map (a translation per cell), joins
    the engine's single resampling, and the mask moves with the pixels. The cell
    permutation is recorded per sample in ``src``.

    Args:
        grid: N, cells per side (DCL: 7).
        k: Neighbourhood range (DCL: 2); 0 leaves the image unchanged.
        p: Probability of shuffling a sample.

    Shape:
        - Input and output: :math:`(B, C, H, W)` and :math:`(B, 1, H, W)`, H and W >= ``grid``.

    Example:
        >>> op = RegionShuffle(grid=4, k=1)
        >>> src = op.draw(2, (16, 16))["src"]  # (row, col) of each cell's source cell
        >>> src.shape, int((src - op.identity_cells(2)).abs().max()) <= 1
        (torch.Size([2, 4, 4, 2]), True)

    References:
        - [0]: Chen, Bai, Zhang, Mei, Destruction and Construction Learning for
          Fine-grained Image Recognition, CVPR 2019 (region confusion mechanism)
    """

    stays_inside = True

    def __init__(self, grid: int = 7, k: int = 2, p: float = 1.0) -> None:
        super().__init__()
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            raise ValueError(f"grid must be a positive int, got {grid!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be a non-negative int, got {k!r}")
        self.grid = grid
        self.k = k
        self.p = _prob(p)

    def identity_cells(self, n: int) -> Tensor:
        """(n, N, N, 2) long: every cell its own source."""
        ar = torch.arange(self.grid)
        rc = torch.stack(torch.meshgrid(ar, ar, indexing="ij"), dim=-1)
        return rc.expand(n, self.grid, self.grid, 2).clone()

    def draw(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """``src`` (n, N, N, 2) long source cell (row, col) of each output cell; ``fire``."""
        g = self.grid
        if size[0] < g or size[1] < g:
            raise ValueError(f"images of size {tuple(size)} are smaller than grid={g} cells")
        ar = torch.arange(g, dtype=torch.float32)
        row_keys = ar + (torch.rand(n, g, g) * 2 - 1) * self.k  # [b, row, col]
        col_keys = ar[:, None] + (torch.rand(n, g, g) * 2 - 1) * self.k  # [b, row, col]
        by_row = torch.argsort(row_keys, dim=2, stable=True)  # [b, r, c] -> source col
        by_col = torch.argsort(col_keys, dim=1, stable=True)  # [b, r, c] -> source row
        src_col = torch.gather(by_row, 1, by_col)  # the source row's column shuffle
        src = torch.stack([by_col, src_col], dim=-1)
        fire = torch.rand(n) < self.p
        src = torch.where(fire[:, None, None, None], src, self.identity_cells(n))
        return {"src": src, "fire": fire}

    def moves(self, params: GeoParams, size: Size) -> Tensor:
        n = params["src"].shape[0]
        return (params["src"] != self.identity_cells(n)).flatten(1).any(dim=1)

    def backward(self, params: GeoParams, points: Tensor, size: Size) -> Tensor:
        g = self.grid
        dev, dt = points.device, points.dtype
        ch, cw = size[0] // g, size[1] // g
        n, h, w, _ = points.shape
        ci = torch.floor((points[..., 1] + 0.5) / ch)
        cj = torch.floor((points[..., 0] + 0.5) / cw)
        inside = (ci >= 0) & (ci < g) & (cj >= 0) & (cj < g)
        idx = (ci.clamp(0, g - 1) * g + cj.clamp(0, g - 1)).long().reshape(n, h * w)
        src = params["src"].to(dev).reshape(n, g * g, 2)
        sr = torch.gather(src[..., 0], 1, idx).reshape(n, h, w).to(dt)
        sc = torch.gather(src[..., 1], 1, idx).reshape(n, h, w).to(dt)
        moved = torch.stack([points[..., 0] + (sc - cj) * cw, points[..., 1] + (sr - ci) * ch], -1)
        return torch.where(inside[..., None], moved, points)

    def extra_repr(self) -> str:
        return f"grid={self.grid}, k={self.k}, p={self.p}"


# --------------------------------------------------------------------- composition
class GeometrySequence(GeometricOp):
    """Several geometric ops applied in order, as one resampling.

    Parameters are one flat dict: op ``i``'s key ``name`` is stored as ``"i.name"``
    (:meth:`split` gives them back per op). An object-centred crop must come first, since
    foreground boxes are measured on the input. The crop's settings (``output_size``,
    ``scale``, ``ratio``, ``flip_p``) read through, so code that inspects a recipe's crop
    works with a sequence too.

    Args:
        ops: Geometric ops (kornia geometric augmentations are wrapped), in order.

    Shape:
        - images: :math:`(B, C, H, W)`; masks: :math:`(B, 1, H, W)`.
        - Output: :math:`(B, C, h, w)` with the size after the last op.

    Example:
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
    if isinstance(op, GeometricOp):
        return op
    if isinstance(op, nn.Module) and op.__class__.__module__.startswith("kornia."):
        try:
            return KorniaGeometric(op)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    raise ValueError(
        f"{where} must be a segaug GeometricOp or a kornia geometric augmentation, "
        f"got {type(op).__name__}"
    )

"""The geometric-op protocol and the engine that composes ops into one resampling.

Coordinates are pixel coordinates with pixel centres at integers (kornia's and OpenCV's
convention): the image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``. A matrix maps input
points to output points, as kornia's ``transform_matrix`` does. Output points whose
source lies outside the image get 0 in the image and the mask (background); within the
image, sampling clamps to the border pixels, as the crop always did.

**Extension point.** Subclass :class:`GeometricOp` and implement ``sample`` and
``matrix`` (``backward`` and ``changes`` for a point map); the base draws the
probability coin ``p`` and the engine leaves the rows where it did not fire unchanged.
Its docstring has a complete example. The op modules next to this one share its
validation and drawing helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segaug.augment.ops import check_probability, draw_fire

__all__ = ["GeometricOp", "foreground_boxes", "sampling_grid", "resample"]

Size = tuple[int, int]
GeoParams = dict[str, Tensor]
Stage = tuple["GeometricOp", GeoParams, Size]


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


def _turns(turns: object) -> tuple[int, ...]:
    """``turns`` as quarter turns in 0-3, validated: a non-empty sequence of ints."""
    if not (
        isinstance(turns, Sequence)
        and len(turns) > 0
        and all(isinstance(k, int) and not isinstance(k, bool) for k in turns)
    ):
        raise ValueError(f"turns must be a non-empty sequence of ints, got {turns!r}")
    return tuple(int(k) % 4 for k in turns)


def _draw_turns(turns: tuple[int, ...], n: int) -> Tensor:
    """(n,) long, quarter turns drawn uniformly from ``turns``."""
    return torch.tensor(turns)[torch.randint(len(turns), (n,))]


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
    """Base class of a random geometric op: per-sample parameters, a matrix or a point map.

    The base class draws the op's probability coin: :meth:`draw` calls the subclass's
    :meth:`sample` and records ``fire`` (n,) bool, True for the rows where the op fires
    (probability ``p``, :func:`~segaug.augment.ops.draw_fire`). The engine applies the
    op only on those rows; the others pass through unchanged, so a subclass never looks
    at the coin. A subclass implements

    - :meth:`sample`: its per-row parameters, on the CPU;
    - :meth:`matrix`: per row, the 3x3 map from input to output pixel coordinates (most
      ops); or, for an op that is no global matrix (a point map), :meth:`backward` (from
      output points to input points) and :meth:`changes`;
    - :meth:`out_size`, when it changes the size.

    Everything else comes from here: :meth:`apply` resamples image and mask once, and
    :class:`~segaug.augment.geometry.GeometrySequence` composes several ops into one
    resampling. This is :class:`~segaug.augment.ops.IntensityOp`'s pattern (the same
    ``p``, ``draw``, ``sample`` and ``fire``) with one difference: the coin is drawn
    *after* the parameters, where the geometric ops have always drawn it, so seeded runs
    keep their numbers; the parameters are drawn for every row for the same reason.
    Ops with no coin of their own override :meth:`draw` instead (the crop fires on every
    row, kornia's adapter keeps kornia's coin, a sequence its ops' coins); parameters
    without a coin fire on every row.

    Parameters are drawn on the CPU with the global torch generator, so
    ``torch.manual_seed`` fixes them, and are a flat ``dict[str, Tensor]`` with one row
    per sample, so they can be inspected and passed back to replay a call.

    Args:
        p: Probability that the op fires on a sample.

    Shape:
        - images: :math:`(B, C, H, W)` float.
        - masks: :math:`(B, 1, H, W)` float.
        - Output: :math:`(B, C, h, w)` and :math:`(B, 1, h, w)` with ``(h, w) = out_size((H, W))``.

    Example:
        A whole op, run by :class:`~segaug.RegionAugment`: move a sample right by 1-3 px.

        >>> from segaug import RegionAugment
        >>> class Shift(GeometricOp):
        ...     def sample(self, n, size, fg_boxes=None):
        ...         return {"dx": torch.randint(1, 4, (n,))}
        ...     def matrix(self, params, size):
        ...         m = torch.eye(3, dtype=torch.float64).repeat(len(params["dx"]), 1, 1)
        ...         m[:, 0, 2] = params["dx"].double()
        ...         return m
        >>> aug = RegionAugment(foreground=[], background=[], fallback=[], geometric=Shift(p=0.5))
        >>> x, m = torch.rand(4, 3, 8, 8), torch.ones(4, 1, 8, 8)
        >>> _ = torch.manual_seed(0)
        >>> out = aug(x, m)
        >>> fire = out.params.geometry["fire"]
        >>> fire.tolist()
        [True, False, True, False]
        >>> bool((out.masks[fire, :, :, 0] == 0).all())  # the first column came from outside
        True
        >>> torch.equal(out.images[~fire], x[~fire])  # the other rows are left as they were
        True
    """

    object_centered: bool = False
    #: True when every output point of the op comes from inside its input (crops, flips,
    #: pixel permutations); the engine then skips the outside-the-image test.
    stays_inside: bool = False
    #: The parameter that records the coin; the flips call it ``"flip"``.
    fire_key: str = "fire"

    def __init__(self, p: float = 1.0) -> None:
        super().__init__()
        self.p = check_probability(p)

    def out_size(self, size: Size) -> Size:
        """Output (H, W) for input ``size``; the input size unless overridden."""
        return (int(size[0]), int(size[1]))

    def draw(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """Draw the op's own per-row parameters, then ``fire`` (n,) bool, on the CPU.

        Args:
            n: Number of rows.
            size: Input (H, W).
            fg_boxes: Optional (n, 4) foreground boxes ``(x0, y0, x1, y1)``, for
                object-centred ops; others ignore them.
        """
        params = self.sample(n, size, fg_boxes)
        params[self.fire_key] = draw_fire(n, self.p)
        return params

    def sample(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """Per-row parameters for ``n`` rows of input ``size`` (H, W), on the CPU.

        Every returned tensor must have first dimension ``n``. They are drawn for every
        row; the rows where the op does not fire ignore them. ``fg_boxes`` as in
        :meth:`draw`.
        """
        return {}

    def fires(self, params: GeoParams) -> Tensor:
        """(n,) bool (CPU), the rows where the op fired; every row without a coin."""
        fire = params.get(self.fire_key)
        if fire is None:
            return torch.ones(_rows(params), dtype=torch.bool)
        return fire.to(device="cpu", dtype=torch.bool)

    def matrix(self, params: GeoParams, size: Size) -> Tensor | None:
        """(n, 3, 3) float64 input-to-output pixel maps of every row as if it fired.

        None for point-map ops.
        """
        return None

    def backward(self, params: GeoParams, points: Tensor, size: Size) -> Tensor:
        """Map output points (n, h, w, 2) ``(x, y)`` to input points of input ``size``.

        Every row as if it fired. The default inverts :meth:`matrix`; point-map ops
        override it.
        """
        m = self.matrix(params, size)
        if m is None:
            raise NotImplementedError(f"{type(self).__name__} defines neither matrix nor backward")
        return _transform_points(torch.linalg.inv(m), points)

    def changes(self, params: GeoParams, size: Size) -> Tensor:
        """(n,) bool, the rows the op would change if it fired.

        The default compares :meth:`matrix` with the identity; point-map ops override it.
        """
        m = self.matrix(params, size)
        if m is None:
            raise NotImplementedError(f"{type(self).__name__} must define changes()")
        return (m != torch.eye(3, dtype=m.dtype)).flatten(1).any(dim=1)

    def moves(self, params: GeoParams, size: Size) -> Tensor:
        """(n,) bool, the rows this op changes (others may be left bit-identical).

        The rows that fired and that it changes; every row when it changes the size.
        """
        if self.out_size(size) != tuple(size):
            return torch.ones(_rows(params), dtype=torch.bool)
        return self.fires(params) & self.changes(params, size).cpu()

    def fired_matrix(self, params: GeoParams, size: Size) -> Tensor | None:
        """:meth:`matrix` on the rows that fired, the identity on the others (float64).

        What the engine composes; None for point-map ops.
        """
        m = self.matrix(params, size)
        if m is None:
            return None
        return torch.where(self.fires(params)[:, None, None], m.to(torch.float64), _eye(len(m)))

    def fired_backward(self, params: GeoParams, points: Tensor, size: Size) -> Tensor:
        """:meth:`backward` on the rows that fired; the other rows' points stay put.

        What the engine evaluates for point-map ops.
        """
        fire = self.fires(params).to(points.device)[:, None, None, None]
        return torch.where(fire, self.backward(params, points, size), points)

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


def _rows(params: GeoParams) -> int:
    """The batch size of one op's parameters: the first dimension of any of them."""
    for v in params.values():
        return int(v.shape[0])
    raise ValueError("params hold no tensor, so the batch size is unknown")


def _batch(stages: Sequence[Stage]) -> int:
    for _, p, _ in stages:
        if p:
            return _rows(p)
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
        m = op.fired_matrix(p, s)
        if m is not None:
            pending = torch.linalg.inv(m) @ pending
            continue
        if points is None:
            points = _pixel_grid(n, out, device, cdtype)
        points = op.fired_backward(p, _transform_points(pending, points), s)
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
    g = grid if rows is None else grid.index_select(0, rows)
    x = images if rows is None else images.index_select(0, rows)
    mk = masks if rows is None else masks.index_select(0, rows)
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
    out_x.index_copy_(0, rows, y)
    out_m.index_copy_(0, rows, ym)
    return out_x, out_m

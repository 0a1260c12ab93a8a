"""Region ops: point maps that move pixels inside regions (LoRot-I, DCL).

References:
    - [0]: Moon et al., Tailoring Self-Supervision for Supervised Learning (LoRot-I),
      ECCV 2022, https://arxiv.org/abs/2207.10023
    - [1]: Chen et al., Destruction and Construction Learning for Fine-grained Image
      Recognition (DCL), CVPR 2019 (region confusion mechanism)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from segaug.augment.geometry.base import GeometricOp, GeoParams, Size, _draw_turns, _turns

__all__ = ["LocalRotation", "RegionShuffle"]


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
        super().__init__(p)
        if not (isinstance(size, (tuple, list)) and len(size) == 2 and 0 < size[0] <= size[1] <= 1):
            raise ValueError(
                f"size must be (min, max) fractions with 0 < min <= max <= 1, got {size!r}"
            )
        self.size = (float(size[0]), float(size[1]))
        self.turns = _turns(turns)

    def sample(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """``box`` (n, 3) long ``(x0, y0, side)`` and ``k`` (n,) long quarter turns."""
        h, w = size
        short = min(h, w)
        lo = max(1, math.ceil(self.size[0] * short))
        hi = max(lo, math.floor(self.size[1] * short))
        side = lo + (torch.rand(n) * (hi - lo + 1)).floor().long()
        x0 = (torch.rand(n) * (w - side + 1)).floor().long()
        y0 = (torch.rand(n) * (h - side + 1)).floor().long()
        k = _draw_turns(self.turns, n)
        return {"box": torch.stack([x0, y0, side], dim=1), "k": k}

    def changes(self, params: GeoParams, size: Size) -> Tensor:
        return (params["k"] % 4 != 0) & (params["box"][:, 2] > 1)

    def backward(self, params: GeoParams, points: Tensor, size: Size) -> Tensor:
        dev, dt = points.device, points.dtype
        box = params["box"].to(device=dev, dtype=dt)
        x0, y0, s = (box[:, i, None, None] for i in range(3))
        k = (params["k"] % 4).to(dev)[:, None, None]
        on = self.changes(params, size).to(dev)[:, None, None]
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
    permutation is recorded per sample in ``src`` (drawn for every sample; those where
    ``fire`` is False stay in place).

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
        super().__init__(p)
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            raise ValueError(f"grid must be a positive int, got {grid!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be a non-negative int, got {k!r}")
        self.grid = grid
        self.k = k

    def identity_cells(self, n: int) -> Tensor:
        """(n, N, N, 2) long: every cell its own source."""
        ar = torch.arange(self.grid)
        rc = torch.stack(torch.meshgrid(ar, ar, indexing="ij"), dim=-1)
        return rc.expand(n, self.grid, self.grid, 2).clone()

    def sample(self, n: int, size: Size, fg_boxes: Tensor | None = None) -> GeoParams:
        """``src`` (n, N, N, 2) long, the source cell (row, col) of each output cell."""
        g = self.grid
        if size[0] < g or size[1] < g:
            raise ValueError(f"images of size {tuple(size)} are smaller than grid={g} cells")
        ar = torch.arange(g, dtype=torch.float32)
        row_keys = ar + (torch.rand(n, g, g) * 2 - 1) * self.k  # [b, row, col]
        col_keys = ar[:, None] + (torch.rand(n, g, g) * 2 - 1) * self.k  # [b, row, col]
        by_row = torch.argsort(row_keys, dim=2, stable=True)  # [b, r, c] -> source col
        by_col = torch.argsort(col_keys, dim=1, stable=True)  # [b, r, c] -> source row
        src_col = torch.gather(by_row, 1, by_col)  # the source row's column shuffle
        return {"src": torch.stack([by_col, src_col], dim=-1)}

    def changes(self, params: GeoParams, size: Size) -> Tensor:
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

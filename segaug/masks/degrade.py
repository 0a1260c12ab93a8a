"""Exact masks made worse on purpose, to a chosen IoU: how good must masks be?

A user's masks come from a segmenter and are wrong in the ways segmenters are wrong:
boundaries too far out or too far in, a shifted object, a missed part, a patch of
background taken for the object. :func:`degrade_masks` applies these errors to exact
masks, all with one strength ``t``, and finds by bisection the ``t`` at which the mean
IoU against the exact masks reaches the target. Each mask draws, once and from the
seed, which errors it gets and their directions, so the masks of one call differ in how
they are wrong (as a segmenter's do) and the mean IoU falls smoothly as ``t`` grows.

The errors, for a mask whose object has ``A`` pixels and scale ``L = sqrt(A)``
(each is on for a mask with probability 1/2, and at least one is on):

* **boundary**: the mask grown (dilation) or shrunk (erosion), by ``t * 0.5 * L * u``
  pixels of Euclidean distance (``u`` uniform in [0.5, 1], the sign a coin);
* **shift**: the mask moved by ``t * 0.6 * L * u`` pixels in a uniform direction
  (pixels moved in from outside the image are background);
* **dropped blobs**: two discs of radius ``t * 0.35 * L * u`` around object pixels
  are removed (a missed part);
* **added blobs**: two discs of the same radius around pixels of the object's box,
  grown by ``L / 2``, are added (background taken for the object).

Empty masks stay empty and do not count in the mean.

Example:
    >>> import numpy as np
    >>> masks = np.zeros((64, 32, 32), np.uint8)
    >>> masks[:, 8:24, 6:26] = 1
    >>> out = degrade_masks(masks, 0.75, seed=0)
    >>> out.shape, out.dtype, abs(float(mask_iou(out, masks).mean()) - 0.75) < 0.03
    ((64, 32, 32), dtype('uint8'), True)
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from segaug.masks.sources import MaskSource

__all__ = ["DegradedMasks", "degrade_masks", "mask_iou"]

_BOUNDARY, _SHIFT, _BLOB = 0.5, 0.6, 0.35
"""Largest error at strength 1, per error, in units of the object's scale."""
_BLOBS = 2
"""Discs per mask, dropped and added."""


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of each pair of binary masks (``nan`` where both are empty).

    Shape:
        - a, b: :math:`(N, H, W)` (or :math:`(H, W)`), nonzero = foreground.
        - output: :math:`(N,)` float64 (or a 0-d array).

    Example:
        >>> import numpy as np
        >>> a = np.zeros((1, 4, 4), np.uint8); a[0, :2] = 1
        >>> b = np.zeros((1, 4, 4), np.uint8); b[0, :1] = 1
        >>> mask_iou(a, b).tolist()
        [0.5]
    """
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    inter = (a & b).sum(axis=(-2, -1)).astype(np.float64)
    union = (a | b).sum(axis=(-2, -1)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


class _Errors:
    """Every mask's drawn errors and the distance fields they threshold."""

    def __init__(self, masks: np.ndarray, rng: np.random.Generator) -> None:
        n, h, w = masks.shape
        fg = masks > 0
        self.fg = fg
        self.area = fg.sum(axis=(1, 2))
        self.scale = np.sqrt(self.area).astype(np.float32)
        # signed distance: <= -0.5 on the object, >= 0.5 off it; "d < r" grows by r
        self.sdf = np.zeros((n, h, w), np.float32)
        for i in range(n):
            if self.area[i] == 0 or self.area[i] == h * w:
                self.sdf[i] = np.where(fg[i], -1e6, 1e6)
                continue
            inside = cv2.distanceTransform(fg[i].astype(np.uint8), cv2.DIST_L2, 5)
            outside = cv2.distanceTransform((~fg[i]).astype(np.uint8), cv2.DIST_L2, 5)
            self.sdf[i] = np.where(fg[i], 0.5 - inside, outside - 0.5)
        on = rng.random((n, 4)) < 0.5
        on[~on.any(axis=1), rng.integers(0, 4)] = True  # at least one error per mask
        self.on = on
        sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        self.boundary = (sign * rng.uniform(0.5, 1.0, n) * _BOUNDARY * on[:, 0]).astype(np.float32)
        angle = rng.uniform(0.0, 2 * np.pi, n)
        length = rng.uniform(0.5, 1.0, n) * _SHIFT * on[:, 1]
        self.shift = np.stack([length * np.sin(angle), length * np.cos(angle)], 1)
        self.blob = (rng.uniform(0.5, 1.0, n) * _BLOB).astype(np.float32)
        yy, xx = np.mgrid[:h, :w].astype(np.float32)
        self.yy, self.xx = yy, xx
        self.drop_dist = np.full((n, h, w), np.inf, np.float32)
        self.add_dist = np.full((n, h, w), np.inf, np.float32)
        for i in range(n):
            if self.area[i] == 0:
                continue
            ys, xs = np.nonzero(fg[i])
            if on[i, 2]:
                pick = rng.integers(0, len(ys), _BLOBS)
                for y, x in zip(ys[pick], xs[pick], strict=True):
                    d = np.hypot(yy - y, xx - x)
                    self.drop_dist[i] = np.minimum(self.drop_dist[i], d)
            if on[i, 3]:
                grow = self.scale[i] / 2
                y0, y1 = max(0, ys.min() - grow), min(h - 1, ys.max() + grow)
                x0, x1 = max(0, xs.min() - grow), min(w - 1, xs.max() + grow)
                ys_add, xs_add = rng.uniform(y0, y1, _BLOBS), rng.uniform(x0, x1, _BLOBS)
                for y, x in zip(ys_add, xs_add, strict=True):
                    d = np.hypot(yy - y, xx - x)
                    self.add_dist[i] = np.minimum(self.add_dist[i], d)

    def at(self, t: float) -> np.ndarray:
        """The masks with every error at strength ``t`` (uint8 ``{0, 1}``)."""
        n, h, w = self.sdf.shape
        sc = self.scale[:, None, None]
        dy = np.rint(t * self.shift[:, 0] * self.scale).astype(np.int64)[:, None, None]
        dx = np.rint(t * self.shift[:, 1] * self.scale).astype(np.int64)[:, None, None]
        sy = np.arange(h)[None, :, None] - dy
        sx = np.arange(w)[None, None, :] - dx
        inside = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
        rows = np.arange(n)[:, None, None]
        moved = self.sdf[rows, np.clip(sy, 0, h - 1), np.clip(sx, 0, w - 1)]
        out = (moved < t * self.boundary[:, None, None] * sc) & inside
        radius = t * self.blob[:, None, None] * sc
        out &= ~(self.drop_dist < radius)
        out |= self.add_dist < radius
        out[self.area == 0] = False
        return out.astype(np.uint8)


def degrade_masks(
    masks: np.ndarray,
    target_iou: float,
    seed: int = 0,
    tolerance: float = 0.005,
) -> np.ndarray:
    """Exact masks degraded until their mean IoU against the originals is ``target_iou``.

    Args:
        masks: Exact binary masks.
        target_iou: Mean IoU to reach, in ``(0, 1]`` (1 returns a copy).
        seed: Seed of every mask's drawn errors.
        tolerance: Bisection stops when the mean IoU is this close to the target
            (the pixel grid may leave it slightly farther on tiny sets).

    Returns:
        The degraded masks, uint8 ``{0, 1}``, same shape.

    Shape:
        - masks: :math:`(N, H, W)`; output: the same.

    Raises:
        ValueError: If ``masks`` is not a 3-d array, ``target_iou`` is outside
            ``(0, 1]``, or no mask has a foreground pixel.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks: expected an (N, H, W) array, got shape {masks.shape}")
    if isinstance(target_iou, bool) or not 0.0 < float(target_iou) <= 1.0:
        raise ValueError(f"target_iou: expected a float in (0, 1], got {target_iou!r}")
    if not (masks > 0).any():
        raise ValueError("masks: every mask is empty; an IoU needs foreground pixels")
    if target_iou >= 1.0:
        return (masks > 0).astype(np.uint8)
    errors = _Errors(masks, np.random.default_rng(seed))

    def mean_iou(t: float) -> float:
        return float(np.nanmean(mask_iou(errors.at(t), errors.fg)))

    lo, hi = 0.0, 1.0
    while mean_iou(hi) > target_iou:  # strength 1 is rarely short; grow until past
        lo, hi = hi, 2 * hi
        if hi > 64:
            raise ValueError(f"target_iou: {target_iou} cannot be reached on these masks")
    best = hi
    for _ in range(40):
        mid = (lo + hi) / 2
        iou = mean_iou(mid)
        best = mid
        if abs(iou - target_iou) <= tolerance:
            break
        lo, hi = (mid, hi) if iou > target_iou else (lo, mid)
    return errors.at(best)


class DegradedMasks(MaskSource):
    """The masks of :func:`degrade_masks`, served by dataset index (to fill a mask cache).

    Args:
        masks: Exact masks of every item, :math:`(N, H, W)`.
        target_iou: Mean IoU to reach.
        seed: Seed of the drawn errors.

    Attributes:
        masks: The degraded masks.
        iou: The mean IoU they reached.
    """

    name = "degraded"

    def __init__(self, masks: np.ndarray, target_iou: float, seed: int = 0) -> None:
        self.target_iou = float(target_iou)
        self.seed = seed
        self.masks = degrade_masks(masks, target_iou, seed)
        self.iou = float(np.nanmean(mask_iou(self.masks, masks)))

    def _config(self) -> dict[str, Any]:
        return {"target_iou": self.target_iou, "seed": self.seed}

    def lookup(self, index: int, key: str, image_size: tuple[int, int] | None = None) -> np.ndarray:
        return self.masks[index]

"""SyntheticShapes: the offline default dataset, with exact masks and a background bias.

Each image is one filled shape (the class) on a procedural background texture. There
are ten shape classes and ten background families; every class owns one family. In the
biased splits ("train", "val", "test_biased") an image of class ``k`` is drawn on family
``k`` with probability ``bias`` and on one of the other families otherwise; in the
"test" split the family is uniform and independent of the class. Comparing accuracy on
"test_biased" with "test" measures how much a model relies on the background rather than
the object, the idea of the ImageNet-9 backgrounds challenge [0].

Every sample is regenerated from its own ``numpy.random.Generator`` seeded by
``(seed, split, index)``, so any sample can be produced alone (DataLoader workers need no
shared state), the same seed always gives the same pixels, and the splits never share a
sample. Drawing is plain numpy plus ``cv2.fillPoly``; the mask is the rasterised polygon
itself, so it is exact, and object pixels carry one colour (plus faint image noise)
chosen far from the background's two colours.

- [0]: Noise or Signal: The Role of Image Backgrounds in Object Recognition (Xiao et al.),
  2020, https://arxiv.org/abs/2006.09994

Example:
    >>> from segaug.data.synthetic import SyntheticShapes
    >>> ds = SyntheticShapes("train", num_samples=20)
    >>> image, label = ds[3]
    >>> image.size, ds.classes[label]
    ((64, 64), 'star')
    >>> ds.get_mask(3).shape
    (64, 64)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from segaug.io import atomic_open

__all__ = [
    "BACKGROUND_FAMILIES",
    "NEUTRAL_GRAY",
    "SHAPE_CLASSES",
    "SPLITS",
    "ShapeStyle",
    "SyntheticShapes",
]

SHAPE_CLASSES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "hexagon",
    "heart",
    "arrow",
    "crescent",
)
"""Class names, in label order."""

BACKGROUND_FAMILIES: tuple[str, ...] = (
    "stripes",
    "checkerboard",
    "blobs",
    "dots",
    "gradient",
    "grid",
    "waves",
    "rings",
    "mosaic",
    "zigzag",
)
"""Background texture families; class ``k`` owns family ``k`` in the biased splits."""

SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2, "test_biased": 3}
"""Split name -> code mixed into every sample's seed (so splits are disjoint)."""

_BIASED_SPLITS = ("train", "val", "test_biased")
NEUTRAL_GRAY = 128
"""Value of every channel of the neutral background (``background="neutral"``)."""
_DEFAULT_NUM_SAMPLES = {"train": 5000, "val": 1000, "test": 1000, "test_biased": 1000}
_SALT = 0x5E6A_0601  # separates this generator's streams from other uses of the same seed
_CACHE_VERSION = 2  # bump whenever the drawn pixels change, to invalidate disk caches
_NOISE_STD = 3.0  # faint Gaussian pixel noise over the whole image
_RAMP = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]  # texture value -> colour mix


@dataclass(frozen=True)
class ShapeStyle:
    """How objects and backgrounds are drawn (the nuisance factors of the data).

    The defaults are the original dataset's: objects of 6%-50% of the image (12% of them
    deliberately small, 1.5%-5%), any rotation, on one of the ten textures.

    Attributes:
        coverage: (min, max) object area as a share of the image; drawn log-uniformly.
        small_fraction: Share of objects drawn small instead, at 1.5%-5% of the image
            (they stress the mask-coverage fallback).
        max_rotation: Largest rotation in degrees (uniform in ``[-r, r]``; 180 = any).
        background: ``"texture"`` (the ten families) or ``"neutral"`` (flat gray
            ``NEUTRAL_GRAY``: the objects alone, same objects, same pixels inside the mask).
        object_colour: ``"colour"`` (the RGB colour farthest from the background's two)
            or ``"gray"`` (the gray level farthest from them). With gray objects an
            object's colour cannot tell one instance from another, so instance
            discrimination has to use its shape, as with real objects whose colour
            varies within a class; the background keeps its colours.

    Example:
        >>> ShapeStyle(coverage=(0.15, 0.45), small_fraction=0.0, max_rotation=30).background
        'texture'
    """

    coverage: tuple[float, float] = (0.06, 0.5)
    small_fraction: float = 0.12
    max_rotation: float = 180.0
    background: str = "texture"
    object_colour: str = "colour"

    def validate(self) -> None:
        """Raise ``ValueError`` naming the attribute on bad values."""
        lo, hi = self.coverage
        if not 0.0 < lo <= hi <= 0.9:
            raise ValueError(
                f"style.coverage must satisfy 0 < min <= max <= 0.9, got {self.coverage}"
            )
        if not 0.0 <= self.small_fraction <= 1.0:
            raise ValueError(f"style.small_fraction must be in [0, 1], got {self.small_fraction}")
        if not 0.0 <= self.max_rotation <= 180.0:
            raise ValueError(
                f"style.max_rotation must be in [0, 180] degrees, got {self.max_rotation}"
            )
        if self.object_colour not in ("colour", "gray"):
            raise ValueError(
                f"style.object_colour must be 'colour' or 'gray', got {self.object_colour!r}"
            )
        if self.background not in ("texture", "neutral"):
            raise ValueError(
                f"style.background must be 'texture' or 'neutral', got {self.background!r}"
            )


_DEFAULT_STYLE = ShapeStyle()


# ----------------------------------------------------------------------------- shapes
def _regular_polygon(n: int, radius: float = 1.0, phase: float = math.pi / 2) -> np.ndarray:
    angles = phase + 2.0 * math.pi * np.arange(n) / n
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _star(points: int = 5, inner: float = 0.42) -> np.ndarray:
    angles = math.pi / 2 + math.pi * np.arange(2 * points) / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross(half_width: float = 0.3) -> np.ndarray:
    w = half_width
    return np.array(
        [[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w], [w, 1], [-w, 1], [-w, w], [-1, w]]
        + [[-1, -w], [-w, -w]],
        dtype=np.float64,
    )


def _heart(n: int = 64) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y], axis=1) / 16.0


def _arrow() -> np.ndarray:
    return np.array(
        [[-1, -0.24], [0.1, -0.24], [0.1, -0.62], [1, 0], [0.1, 0.62], [0.1, 0.24], [-1, 0.24]],
        dtype=np.float64,
    )


def _crescent(n: int = 48, offset: float = 0.5, inner: float = 0.8) -> np.ndarray:
    # Unit disc minus a disc of radius ``inner`` centred at (offset, 0).
    x0 = (1.0 - inner**2 + offset**2) / (2.0 * offset)  # x of the two intersection points
    y0 = math.sqrt(1.0 - x0**2)
    a0 = math.atan2(y0, x0)
    outer = np.linspace(a0, 2.0 * math.pi - a0, n)  # the far side of the unit circle
    b0 = math.atan2(-y0, x0 - offset)
    inner_angles = np.linspace(b0 + 2.0 * math.pi, 2.0 * math.pi - (b0 + 2.0 * math.pi), n)
    outer_pts = np.stack([np.cos(outer), np.sin(outer)], axis=1)
    inner_pts = np.stack(
        [offset + inner * np.cos(inner_angles), inner * np.sin(inner_angles)], axis=1
    )
    return np.concatenate([outer_pts, inner_pts[1:-1]], axis=0)


def _centre(contours: list[np.ndarray]) -> list[np.ndarray]:
    """Centre a shape on its bounding box and scale it to a half-extent of 1."""
    pts = np.concatenate(contours, axis=0)
    mid = (pts.max(axis=0) + pts.min(axis=0)) / 2.0
    half = float(np.abs(pts - mid).max())
    return [(c - mid) / half for c in contours]


def _shoelace(contour: np.ndarray) -> float:
    x, y = contour[:, 0], contour[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


@lru_cache(maxsize=1)
def _templates() -> tuple[tuple[list[np.ndarray], float], ...]:
    """(contours, area) per class; contours are filled even-odd, so later ones are holes."""
    shapes = [
        [_regular_polygon(48)],
        [_regular_polygon(4, phase=math.pi / 4)],
        [_regular_polygon(3)],
        [_star()],
        [_cross()],
        [_regular_polygon(48), _regular_polygon(48, radius=0.55)],
        [_regular_polygon(6)],
        [_heart()],
        [_arrow()],
        [_crescent()],
    ]
    out = []
    for contours in shapes:
        contours = _centre(contours)
        area = _shoelace(contours[0]) - sum(_shoelace(c) for c in contours[1:])
        out.append((contours, area))
    return tuple(out)


# ------------------------------------------------------------------------ backgrounds
@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = np.meshgrid(coords, coords, indexing="ij")
    return x, y


def _frac(a: np.ndarray) -> np.ndarray:
    return a - np.floor(a)


def _rotated(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = _grid(size)
    angle = rng.uniform(0.0, math.pi)
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    return x * c + y * s, y * c - x * s


def _bg_stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    u, _ = _rotated(rng, size)
    f, phase, duty = rng.uniform(3.0, 7.0), rng.random(), rng.uniform(0.35, 0.65)
    return (_frac(f * u + phase) < duty).astype(np.float32)


def _bg_checkerboard(rng: np.random.Generator, size: int) -> np.ndarray:
    u, v = _rotated(rng, size)
    f, p1, p2 = rng.uniform(2.5, 5.0), rng.random(), rng.random()
    cells = np.floor(f * u + p1).astype(np.int32) + np.floor(f * v + p2).astype(np.int32)
    return (cells & 1).astype(np.float32)


def _bg_blobs(rng: np.random.Generator, size: int) -> np.ndarray:
    coarse = rng.random((5, 5)).astype(np.float32)
    fine = rng.random((9, 9)).astype(np.float32)
    t = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    t += 0.5 * cv2.resize(fine, (size, size), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(t.min()), float(t.max())
    return (t - lo) / max(hi - lo, 1e-6)


def _bg_dots(rng: np.random.Generator, size: int) -> np.ndarray:
    u, v = _rotated(rng, size)
    f, r = rng.uniform(4.0, 7.0), rng.uniform(0.2, 0.35)
    du = _frac(f * u + rng.random()) - 0.5
    dv = _frac(f * v + rng.random()) - 0.5
    return (du * du + dv * dv < r * r).astype(np.float32)


def _bg_gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    u, _ = _rotated(rng, size)
    lo, hi = float(u.min()), float(u.max())
    return ((u - lo) / max(hi - lo, 1e-6)) ** np.float32(rng.uniform(0.6, 1.6))


def _bg_grid(rng: np.random.Generator, size: int) -> np.ndarray:
    u, v = _rotated(rng, size)
    f, w = rng.uniform(3.0, 6.0), rng.uniform(0.12, 0.22)
    lines = (_frac(f * u + rng.random()) < w) | (_frac(f * v + rng.random()) < w)
    return lines.astype(np.float32)


def _bg_waves(rng: np.random.Generator, size: int) -> np.ndarray:
    u, v = _rotated(rng, size)
    f, amp, g = rng.uniform(2.0, 5.0), rng.uniform(0.05, 0.15), rng.uniform(1.0, 3.0)
    bend = amp * np.sin(np.float32(2.0 * math.pi) * (g * v + rng.random()))
    return 0.5 + 0.5 * np.sin(np.float32(2.0 * math.pi) * (f * (u + bend) + rng.random()))


def _bg_rings(rng: np.random.Generator, size: int) -> np.ndarray:
    x, y = _grid(size)
    cx, cy = rng.uniform(-0.2, 1.2, size=2).astype(np.float32)
    r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    f = rng.uniform(3.0, 7.0)
    return (_frac(f * r + rng.random()) < 0.5).astype(np.float32)


def _bg_mosaic(rng: np.random.Generator, size: int) -> np.ndarray:
    cells = int(rng.integers(6, 14))
    tiles = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(tiles, (size, size), interpolation=cv2.INTER_NEAREST)


def _bg_zigzag(rng: np.random.Generator, size: int) -> np.ndarray:
    u, v = _rotated(rng, size)
    f, amp, g = rng.uniform(3.0, 6.0), rng.uniform(0.05, 0.12), rng.uniform(2.0, 5.0)
    tri = 2.0 * np.abs(_frac(g * v) - 0.5)
    return (_frac(f * (u + amp * tri) + rng.random()) < 0.5).astype(np.float32)


_BACKGROUNDS: tuple[Callable[[np.random.Generator, int], np.ndarray], ...] = (
    _bg_stripes,
    _bg_checkerboard,
    _bg_blobs,
    _bg_dots,
    _bg_gradient,
    _bg_grid,
    _bg_waves,
    _bg_rings,
    _bg_mosaic,
    _bg_zigzag,
)


# ----------------------------------------------------------------------------- render
def _sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([_SALT, seed, SPLITS[split], index])


def _label_of(index: int) -> int:
    return index % len(SHAPE_CLASSES)


def _draw_family(rng: np.random.Generator, label: int, split: str, bias: float) -> int:
    """The first draw of every sample: its background family."""
    num = len(BACKGROUND_FAMILIES)
    if split not in _BIASED_SPLITS:
        return int(rng.integers(num))
    if rng.random() < bias:
        return label
    return int((label + 1 + rng.integers(num - 1)) % num)


def _object_colour(
    rng: np.random.Generator, c1: np.ndarray, c2: np.ndarray, gray: bool = False
) -> np.ndarray:
    """Of 12 random colours (or gray levels), the one farthest from the segment c1..c2."""
    cand = rng.integers(0, 256, size=(12, 3)).astype(np.float32)
    if gray:
        cand[:, 1:] = cand[:, :1]
    d = c2 - c1
    t = np.clip((cand - c1) @ d / max(float(d @ d), 1e-6), 0.0, 1.0)
    dist = np.linalg.norm(cand - (c1 + t[:, None] * d), axis=1)
    return cand[int(np.argmax(dist))]


@lru_cache(maxsize=8)
def _noise_bank(size: int) -> np.ndarray:
    """A fixed (2*size, 2*size, 3) int16 field of rounded N(0, _NOISE_STD) noise.

    Each sample adds a window of it at a random offset: much cheaper than drawing
    3 * size**2 normals per image, and just as deterministic.
    """
    rng = np.random.default_rng(_SALT)
    noise = rng.standard_normal((2 * size, 2 * size, 3)) * _NOISE_STD
    return np.round(noise).astype(np.int16)


@lru_cache(maxsize=16)
def _render(
    seed: int, split: str, index: int, size: int, bias: float, style: ShapeStyle = _DEFAULT_STYLE
) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
    """Draw one sample: (image HxWx3 uint8, mask HxW uint8, label, family, background).

    ``background`` is the same image with the object never drawn (its exact background).
    Memoised for the last few samples: a masked dataset asks for the image and then the
    mask of the same sample, which would otherwise render it twice. The arrays are
    read-only because they are shared; callers copy before handing them out.
    """
    image, mask, label, family, background = _draw(seed, split, index, size, bias, style)
    for a in (image, mask, background):
        a.flags.writeable = False
    return image, mask, label, family, background


def _draw(
    seed: int, split: str, index: int, size: int, bias: float, style: ShapeStyle = _DEFAULT_STYLE
) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
    """Render one sample (uncached); see :func:`_render`."""
    rng = _sample_rng(seed, split, index)
    label = _label_of(index)
    family = _draw_family(rng, label, split, bias)

    # Background: a texture field t in [0, 1] mapped through a two-colour ramp; the two
    # colours differ by at least 80 in every channel. The draws happen in the neutral mode
    # too, so both modes place the same object (same colour, pose and position).
    t = _BACKGROUNDS[family](rng, size)
    c1 = rng.integers(0, 256, size=3).astype(np.float32)
    c2 = (c1 + rng.integers(80, 177, size=3)) % 256
    if style.background == "neutral":
        image = np.full((size, size, 3), NEUTRAL_GRAY, dtype=np.uint8)
    else:
        lut = np.round(c1 + _RAMP * (c2 - c1)).astype(np.uint8)
        image = np.take(lut, cv2.convertScaleAbs(t, alpha=255.0), axis=0)
    background = image.copy()

    # Object: target coverage, aspect jitter, rotation, then a position that fits.
    contours, unit_area = _templates()[label]
    lo_cov, hi_cov = style.coverage
    if rng.random() < style.small_fraction:
        coverage = rng.uniform(0.015, 0.05)
    else:
        coverage = math.exp(rng.uniform(math.log(lo_cov), math.log(hi_cov)))
    radius = math.sqrt(coverage * size * size / unit_area)
    aspect = math.exp(rng.uniform(-0.15, 0.15))
    angle = math.radians(rng.uniform(-1.0, 1.0) * style.max_rotation)
    c, s = math.cos(angle), math.sin(angle)
    linear = radius * np.array([[c * aspect, -s / aspect], [s * aspect, c / aspect]])
    pts = [contour @ linear.T for contour in contours]
    lo = pts[0].min(axis=0)
    hi = pts[0].max(axis=0)
    extent = float((hi - lo).max())
    room = size - 3.0  # vertices stay within [1, size - 2]: a one-pixel margin
    if extent > room:  # too big to fit once rotated: shrink
        shrink = 0.999 * room / extent
        pts = [p * shrink for p in pts]
        lo, hi = lo * shrink, hi * shrink
    centre = 1.0 + np.array([rng.uniform(-lo[0], room - hi[0]), rng.uniform(-lo[1], room - hi[1])])
    polys = [np.round((p + centre) * 16.0).astype(np.int32) for p in pts]

    # The same polygons, rasteriser and line type for mask and image: the mask is exact.
    mask = np.zeros((size, size), dtype=np.uint8)
    cv2.fillPoly(mask, polys, 1, lineType=cv2.LINE_8, shift=4)
    colour = _object_colour(rng, c1, c2, gray=style.object_colour == "gray")
    cv2.fillPoly(image, polys, colour.tolist(), lineType=cv2.LINE_8, shift=4)

    oy, ox = rng.integers(0, size + 1, size=2)
    noise = _noise_bank(size)[oy : oy + size, ox : ox + size]
    image = cv2.add(image, noise, dtype=cv2.CV_8U)  # saturating uint8 + int16
    background = cv2.add(background, noise, dtype=cv2.CV_8U)
    return image, mask, label, family, background


# ---------------------------------------------------------------------------- dataset
class SyntheticShapes(Dataset):
    """Ten shape classes on ten background families, with exact masks and a tunable bias.

    Args:
        split: "train", "val" or "test_biased" (backgrounds follow the class with
            probability ``bias``), or "test" (backgrounds uniform, independent of class).
            All four are disjoint.
        size: Image side in pixels.
        num_samples: Number of samples; ``None`` gives 5000 for "train" and 1000 otherwise.
        bias: Probability that a sample of class ``k`` in a biased split lies on
            background family ``k``; otherwise one of the other nine families is picked
            uniformly. ``1 / 10`` makes background and class independent. Ignored by
            "test".
        seed: Base seed; sample ``i`` is drawn from a generator seeded by
            ``(seed, split, i)``.
        style: :class:`ShapeStyle` (object size, rotation, textured or neutral
            background); the default is the original dataset. Two styles that differ only
            in ``background`` draw the same objects at the same places.
        root: Optional directory for an on-disk cache. When given, the whole split is
            generated once (or loaded) at construction, stored as ``.npz`` under
            ``root/synthetic_shapes/``. Without it, samples are drawn on demand and
            :attr:`images` / :attr:`masks` materialise the split in memory on first use.
        transform: Optional callable applied to the PIL image in ``__getitem__``.

    Attributes:
        classes: Class names, ``classes[label]``.
        families: Background family names.

    Shape:
        - ``ds[i]``: (PIL RGB image of ``size x size``, int label).
        - ``ds.get_mask(i)``: :math:`(H, W)` uint8 in {0, 1}, 1 on the object.
        - ``ds.get_background(i)``: :math:`(H, W, 3)` uint8, the image with the object
          never drawn.
        - ``ds.images``: :math:`(N, H, W, 3)` uint8; ``ds.masks``: :math:`(N, H, W)` uint8.
        - ``ds.get_batch(idx)``: images :math:`(B, H, W, 3)`, masks :math:`(B, H, W)`,
          labels :math:`(B,)` int64.

    Raises:
        ValueError: On an unknown split or an out-of-range argument.

    Example:
        >>> ds = SyntheticShapes("test", size=32, num_samples=10)
        >>> images, masks, labels = ds.get_batch([0, 1, 2])
        >>> images.shape, masks.shape, labels.tolist()
        ((3, 32, 32, 3), (3, 32, 32), [0, 1, 2])
    """

    classes: list[str] = list(SHAPE_CLASSES)
    families: list[str] = list(BACKGROUND_FAMILIES)

    def __init__(
        self,
        split: str = "train",
        size: int = 64,
        num_samples: int | None = None,
        bias: float = 0.9,
        seed: int = 0,
        root: str | os.PathLike[str] | None = None,
        transform: Callable[[Image.Image], Any] | None = None,
        style: ShapeStyle | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 1024:
            raise ValueError(f"size must be an int in [16, 1024], got {size!r}")
        if num_samples is None:
            num_samples = _DEFAULT_NUM_SAMPLES[split]
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive int or None, got {num_samples!r}")
        if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not 0.0 <= bias <= 1.0:
            raise ValueError(f"bias must be a float in [0, 1], got {bias!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None, got {transform!r}")
        if style is None:
            style = _DEFAULT_STYLE
        if not isinstance(style, ShapeStyle):
            raise ValueError(f"style must be a ShapeStyle or None, got {style!r}")
        style.validate()
        self.style = style
        self.split = split
        self.size = size
        self.num_samples = num_samples
        self.bias = float(bias)
        self.seed = seed
        self.transform = transform
        self.root = Path(root) if root is not None else None
        self._images: np.ndarray | None = None
        self._masks: np.ndarray | None = None
        self._families: np.ndarray | None = None
        if self.root is not None:
            self._load_or_generate(self.root)

    # -- torchvision-style access
    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[Any, int]:
        i = self._check_index(index)
        if self._images is not None:
            image = self._images[i]
        else:
            image = _render(self.seed, self.split, i, self.size, self.bias, self.style)[0]
        pil = Image.fromarray(image, mode="RGB")
        return (self.transform(pil) if self.transform is not None else pil), _label_of(i)

    def get_mask(self, index: int) -> np.ndarray:
        """The exact object mask of sample ``index``: uint8 (H, W), 1 on the object."""
        i = self._check_index(index)
        if self._masks is not None:
            return self._masks[i].copy()
        return _render(self.seed, self.split, i, self.size, self.bias, self.style)[1].copy()

    def get_background(self, index: int) -> np.ndarray:
        """Sample ``index`` with its object never drawn: uint8 (H, W, 3).

        Inside the mask it shows the background that the object hides; outside the mask
        it equals the image exactly.
        """
        i = self._check_index(index)
        return _render(self.seed, self.split, i, self.size, self.bias, self.style)[4].copy()

    def get_backgrounds(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """:meth:`get_background` of several samples, stacked: (B, H, W, 3) uint8."""
        idx = [self._check_index(int(i)) for i in np.asarray(indices).reshape(-1)]
        out = np.empty((len(idx), self.size, self.size, 3), dtype=np.uint8)
        for row, i in enumerate(idx):
            out[row] = _render(self.seed, self.split, i, self.size, self.bias, self.style)[4]
        return out

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, ...]:
        """Images, masks and labels of several samples as stacked arrays.

        Args:
            indices: Sample indices (negative ones count from the end).

        Returns:
            ``(images (B, H, W, 3) uint8, masks (B, H, W) uint8, labels (B,) int64)``.
        """
        idx = [self._check_index(int(i)) for i in np.asarray(indices).reshape(-1)]
        labels = np.array([_label_of(i) for i in idx], dtype=np.int64)
        if self._images is not None and self._masks is not None:
            return self._images[idx], self._masks[idx], labels
        images = np.empty((len(idx), self.size, self.size, 3), dtype=np.uint8)
        masks = np.empty((len(idx), self.size, self.size), dtype=np.uint8)
        for row, i in enumerate(idx):
            images[row], masks[row] = _render(
                self.seed, self.split, i, self.size, self.bias, self.style
            )[:2]
        return images, masks, labels

    # -- whole-split arrays
    @property
    def images(self) -> np.ndarray:
        """All images, (N, H, W, 3) uint8; generated and kept in memory on first access."""
        return self._materialise()[0]

    @property
    def masks(self) -> np.ndarray:
        """All masks, (N, H, W) uint8 in {0, 1}; generated with :attr:`images`."""
        return self._materialise()[1]

    @property
    def targets(self) -> np.ndarray:
        """Labels of all samples, (N,) int64 (cheap: no drawing)."""
        return np.arange(self.num_samples, dtype=np.int64) % len(SHAPE_CLASSES)

    @property
    def background_families(self) -> np.ndarray:
        """Background family index of every sample, (N,) int64 (cheap: no drawing)."""
        if self._families is None:
            self._families = np.array(
                [
                    _draw_family(
                        _sample_rng(self.seed, self.split, i), _label_of(i), self.split, self.bias
                    )
                    for i in range(self.num_samples)
                ],
                dtype=np.int64,
            )
        return self._families

    # -- internals
    def _check_index(self, index: int) -> int:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        i = int(index)
        if i < 0:
            i += self.num_samples
        if not 0 <= i < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        return i

    def _materialise(self) -> tuple[np.ndarray, np.ndarray]:
        if self._images is None or self._masks is None:
            self._images, self._masks, _ = self.get_batch(np.arange(self.num_samples))
        return self._images, self._masks

    def _load_or_generate(self, root: Path) -> None:
        st = self.style
        tag = (
            ""
            if st == _DEFAULT_STYLE
            else f"_c{st.coverage[0]:g}-{st.coverage[1]:g}_sf{st.small_fraction:g}"
            f"_r{st.max_rotation:g}_{st.background}_{st.object_colour}"
        )
        name = (
            f"{self.split}_s{self.size}_n{self.num_samples}_b{self.bias:g}_seed{self.seed}"
            f"{tag}_v{_CACHE_VERSION}.npz"
        )
        path = root / "synthetic_shapes" / name
        shape = (self.num_samples, self.size, self.size)
        if path.is_file():
            with np.load(path) as data:
                images, masks = data["images"], data["masks"]
            if images.shape == (*shape, 3) and masks.shape == shape:
                self._images, self._masks = images, masks
                return
        images, masks = self._materialise()
        with atomic_open(path) as f:  # concurrent workers never read a half-written file
            np.savez(f, images=images, masks=masks)

    def __repr__(self) -> str:
        style = "" if self.style == _DEFAULT_STYLE else f", style={self.style}"
        return (
            f"SyntheticShapes(split={self.split!r}, size={self.size}, "
            f"num_samples={self.num_samples}, bias={self.bias:g}, seed={self.seed}{style})"
        )

"""Weight-free multi-region label maps: Felzenszwalb-Huttenlocher graph segmentation.

The ``felzenszwalb`` segmenter wraps :func:`skimage.segmentation.felzenszwalb` [0] and
returns a *label map* per image (:attr:`~segaug.masks.base.Segmenter.label_maps` is
``True``): region ids ``1..K`` ordered by decreasing area (1 = the largest region),
``0`` for unlabelled pixels. It is the unsupervised mask of DetCon [1], whose
mask-pooled contrastive losses need several regions per image rather than one
foreground.

Parameters follow DetCon's Felzenszwalb-Huttenlocher masks: ``scale=1000`` and a
minimum component size of 1000 pixels, on 224 px images, with scikit-image's default
smoothing ``sigma=0.8`` (the paper names no other value). Because segaug's images are
often 32-96 px, the minimum size is given as a fraction of the image area,
``min_area = 1000 / 224**2`` (about 0.02), and converted to pixels for every image
(``round(min_area * H * W)``, at least 1): 1000 px at 224 x 224, 20 px at 32 x 32.
``scale`` is scikit-image's (an observation level in 0-255 colour units, not
resolution-invariant): at small sizes the same ``scale`` gives fewer, larger regions.

A label map holds at most 255 ids (it is stored as uint8): when an image has more
than 255 segments, the 255 largest get ids 1..255 and the smaller ones id 0
(unlabelled). Equal areas are ordered by scikit-image's own labels (raster order of
each segment's first pixel), so the ids are deterministic. The smoothing (``sigma``)
turns a sharp edge into a ramp a few pixels wide, which can stay a thin region of its
own where it is larger than the minimum size; ``sigma=0`` keeps flat-colour regions
exact.

- [0]: Efficient Graph-Based Image Segmentation, Felzenszwalb & Huttenlocher, 2004,
  https://doi.org/10.1023/B:VISI.0000022288.19776.77
- [1]: Efficient Visual Pretraining with Contrastive Detection, Hénaff et al., 2021,
  https://arxiv.org/abs/2103.10957

Example:
    >>> import torch
    >>> seg = FelzenszwalbSegmenter()
    >>> image = torch.zeros(1, 3, 64, 64)
    >>> image[:, :, :, 40:] = 1.0  # two flat regions: 64 x 40 and 64 x 24 pixels
    >>> labels = seg(image)
    >>> labels.shape, labels.dtype, sorted(labels.unique().tolist())
    (torch.Size([1, 1, 64, 64]), torch.float32, [1.0, 2.0])
    >>> int((labels == 1).sum()), int((labels == 2).sum())
    (2560, 1536)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from segaug.masks.base import SEGMENTERS, Segmenter

__all__ = ["DETCON_MIN_AREA", "MAX_REGION_ID", "FelzenszwalbSegmenter", "relabel_by_area"]

DETCON_MIN_AREA = 1000 / 224**2
"""DetCon's minimum component size (1000 px at 224 x 224) as a fraction of the image area."""

MAX_REGION_ID = 255
"""The largest region id of a label map (ids are stored as uint8; 0 = unlabelled)."""


def relabel_by_area(labels: np.ndarray, max_id: int = MAX_REGION_ID) -> np.ndarray:
    """Renumber a segmentation so that ids are ``1..K`` by decreasing area.

    Args:
        labels: Integer array ``(H, W)`` of segment labels (any values, e.g. 0-based).
        max_id: The largest id given (1..255); segments beyond the ``max_id``
            largest get id 0 (unlabelled).

    Returns:
        uint8 ``(H, W)``: 1 = the largest segment, 2 = the next, ...; ties broken by
        the smaller original label.

    Raises:
        ValueError: If ``labels`` is not a 2-D integer array or ``max_id`` is not in
            ``[1, 255]``.

    Shape:
        - Input: :math:`(H, W)` integer.
        - Output: :math:`(H, W)` uint8, values in ``0..max_id``.

    Example:
        >>> relabel_by_area(np.array([[5, 5, 7], [5, 9, 9]]))
        array([[1, 1, 3],
               [1, 2, 2]], dtype=uint8)
        >>> relabel_by_area(np.array([[5, 5, 7], [5, 9, 9]]), max_id=2)
        array([[1, 1, 0],
               [1, 2, 2]], dtype=uint8)
    """
    arr = np.asarray(labels)
    if arr.ndim != 2 or arr.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be an integer array (H, W), got {arr.dtype} {tuple(arr.shape)}"
        )
    if isinstance(max_id, bool) or not isinstance(max_id, int) or not 1 <= max_id <= 255:
        raise ValueError(f"max_id must be an int in [1, 255], got {max_id!r}")
    values, inverse, counts = np.unique(arr.reshape(-1), return_inverse=True, return_counts=True)
    order = np.lexsort((values, -counts))  # by decreasing area, then by label
    ids = np.zeros(len(values), np.uint8)
    kept = order[:max_id]
    ids[kept] = np.arange(1, len(kept) + 1, dtype=np.uint8)
    return ids[inverse].reshape(arr.shape)


@SEGMENTERS.register("felzenszwalb")
class FelzenszwalbSegmenter(Segmenter):
    """Felzenszwalb-Huttenlocher label maps (DetCon's FH masks); no weights, CPU only.

    Args:
        scale: Observation level of :func:`skimage.segmentation.felzenszwalb` (> 0);
            higher gives fewer, larger regions. DetCon: 1000.
        sigma: Standard deviation of the Gaussian smoothing before segmenting (>= 0);
            scikit-image's default, 0.8.
        min_area: Minimum region size as a fraction of the image area, in
            ``[0, 1]``; converted to ``round(min_area * H * W)`` pixels (at least 1)
            per image. Smaller components are merged into a neighbour. Default: DetCon's
            1000 px at 224 x 224 (:data:`DETCON_MIN_AREA`, about 0.02).

    Shape:
        - Input: :math:`(B, 3, H, W)` float in ``[0, 1]`` (any device; computed on CPU).
        - Output: :math:`(B, 1, H, W)` float32 holding integer region ids ``1..K``
          (1 = largest; ``K <= 255``; 0 only for segments beyond the 255 largest), on
          the input's device.

    Raises:
        ValueError: If a parameter is out of range (one line naming it).
        ImportError: If scikit-image is not installed.

    Example:
        >>> import torch
        >>> seg = FelzenszwalbSegmenter(scale=500)
        >>> seg.label_maps, seg(torch.rand(2, 3, 24, 40)).shape
        (True, torch.Size([2, 1, 24, 40]))
        >>> seg.config_id
        'felzenszwalb{"min_area":0.01992984693877551,"scale":500.0,"sigma":0.8}'
    """

    name = "felzenszwalb"
    label_maps: ClassVar[bool] = True

    def __init__(
        self, scale: float = 1000.0, sigma: float = 0.8, min_area: float = DETCON_MIN_AREA
    ) -> None:
        for arg, value, low, high, form in (
            ("scale", scale, 0.0, float("inf"), "a float > 0"),
            ("sigma", sigma, 0.0, float("inf"), "a float >= 0"),
            ("min_area", min_area, 0.0, 1.0, "a float in [0, 1] (a fraction of the image area)"),
        ):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or not low <= float(value) <= high or (arg == "scale" and value <= 0):
                raise ValueError(f"{arg} must be {form}, got {value!r}")
        self.scale = float(scale)
        self.sigma = float(sigma)
        self.min_area = float(min_area)
        self._felzenszwalb = _skimage_felzenszwalb()

    def _config(self) -> dict[str, Any]:
        return {"min_area": self.min_area, "scale": self.scale, "sigma": self.sigma}

    def min_size(self, height: int, width: int) -> int:
        """The minimum region size in pixels for an image of ``height x width``.

        Example:
            >>> seg = FelzenszwalbSegmenter()
            >>> seg.min_size(224, 224), seg.min_size(32, 32), seg.min_size(2, 2)
            (1000, 20, 1)
        """
        return max(1, round(self.min_area * height * width))

    def _segment(self, images: torch.Tensor) -> torch.Tensor:
        arrays = (images.detach() * 255).round().clamp(0, 255).to(torch.uint8)
        arrays = arrays.permute(0, 2, 3, 1).cpu().numpy()
        maps = np.stack([self.segment_array(a) for a in arrays])
        return torch.from_numpy(maps).unsqueeze(1).to(device=images.device, dtype=torch.float32)

    def segment_array(self, image: np.ndarray) -> np.ndarray:
        """Segment one RGB uint8 image ``(H, W, 3)``; returns a uint8 ``(H, W)`` label map.

        Raises:
            ValueError: If ``image`` is not a uint8 ``(H, W, 3)`` array.

        Example:
            >>> image = np.zeros((8, 8, 3), np.uint8); image[:2] = 255
            >>> FelzenszwalbSegmenter().segment_array(image)[[0, 7], 0]
            array([2, 1], dtype=uint8)
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"image must be a uint8 array (H, W, 3), got {image.dtype} {image.shape}"
            )
        h, w = image.shape[:2]
        labels = self._felzenszwalb(
            image, scale=self.scale, sigma=self.sigma, min_size=self.min_size(h, w)
        )
        return relabel_by_area(labels)


def _skimage_felzenszwalb() -> Callable[..., np.ndarray]:
    try:
        from skimage.segmentation import felzenszwalb
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the 'felzenszwalb' segmenter needs scikit-image: pip install scikit-image"
        ) from err
    return felzenszwalb

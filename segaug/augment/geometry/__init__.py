"""Joint geometry for images and masks: ops that compose into one resampling.

A geometric op (:class:`GeometricOp`) draws per-sample parameters on the CPU from the
global torch generator and describes, per sample, where each output pixel comes from:
either a 3x3 matrix (crop, flips, rotation, affine, kornia's geometric augmentations) or
a point map (:class:`LocalRotation`, :class:`RegionShuffle`, which move pixels inside
regions and are no global matrix). :class:`GeometrySequence` chains ops; the matrices are
multiplied and the point maps evaluated on the output pixel grid, so a whole chain costs
**one** ``grid_sample`` for the image (bilinear) and one for the mask (nearest), whatever
its length.

Example:
    >>> import torch
    >>> from segaug.augment.geometry import GeometrySequence, RandomResizedCropFlip, RandomRotation
    >>> seq = GeometrySequence([RandomResizedCropFlip(16), RandomRotation(turns=(1,), p=0.5)])
    >>> params = seq.draw(2, (32, 32))
    >>> x, m = seq.apply(torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32), params)
    >>> x.shape, sorted(params)
    (torch.Size([2, 3, 16, 16]), ['0.boxes', '0.flip', '1.angle', '1.fire'])

Modules:
    - :mod:`~segaug.augment.geometry.base`: the :class:`GeometricOp` protocol and the
      engine (:func:`sampling_grid`, :func:`resample`).
    - :mod:`~segaug.augment.geometry.affine`: crop + flip, flips, rotation, affine.
    - :mod:`~segaug.augment.geometry.regional`: LoRot-I and DCL region ops.
    - :mod:`~segaug.augment.geometry.kornia`: the adapter for kornia's geometric
      augmentations.
    - :mod:`~segaug.augment.geometry.sequence`: :class:`GeometrySequence` and
      :func:`as_geometric`.

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

from segaug.augment.geometry.affine import (
    RandomAffine,
    RandomHorizontalFlip,
    RandomResizedCropFlip,
    RandomRotation,
    RandomVerticalFlip,
)
from segaug.augment.geometry.base import (
    GeometricOp,
    foreground_boxes,
    resample,
    sampling_grid,
)

# The type aliases stay importable from here, as they were from the single module.
from segaug.augment.geometry.base import GeoParams as GeoParams
from segaug.augment.geometry.base import Size as Size
from segaug.augment.geometry.base import Stage as Stage
from segaug.augment.geometry.kornia import KorniaGeometric
from segaug.augment.geometry.regional import LocalRotation, RegionShuffle
from segaug.augment.geometry.sequence import GeometrySequence, as_geometric

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

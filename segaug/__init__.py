"""segaug: segmentation-aware image augmentation for self-supervised learning.

Data flows images -> masks (:mod:`segaug.masks`) -> cache -> dataset (:mod:`segaug.data`)
-> :class:`RegionAugment` -> model -> loss (the :mod:`simclr` package).

Example:
    >>> import torch
    >>> from segaug import RegionAugment
    >>> aug = RegionAugment(output_size=32)
    >>> v1, v2 = aug.pair(torch.rand(2, 3, 40, 40), torch.ones(2, 1, 40, 40) * 0.0)
    >>> v1.fallback.tolist()
    [True, True]
"""

from segaug import recipes
from segaug.augment import (
    AugmentedBatch,
    AugmentParams,
    ColorJitter,
    Fill,
    GaussianBlur,
    IntensityOp,
    KorniaOp,
    RandomGrayscale,
    RandomResizedCropFlip,
    RegionAugment,
    RegionMultiViewTransform,
)
from segaug.masks import (
    MASK_SOURCES,
    SEGMENTERS,
    CorruptMaskError,
    FileMasks,
    MaskCache,
    MaskSource,
    MissingMaskError,
    Segmenter,
    WeightsUnavailableError,
    create_mask_source,
    create_segmenter,
)

__version__ = "0.1.0"

__all__ = [
    "RegionAugment",
    "AugmentedBatch",
    "AugmentParams",
    "RandomResizedCropFlip",
    "RegionMultiViewTransform",
    "IntensityOp",
    "ColorJitter",
    "RandomGrayscale",
    "GaussianBlur",
    "Fill",
    "KorniaOp",
    "recipes",
    "create_segmenter",
    "Segmenter",
    "SEGMENTERS",
    "create_mask_source",
    "MaskSource",
    "MASK_SOURCES",
    "FileMasks",
    "MaskCache",
    "MissingMaskError",
    "CorruptMaskError",
    "WeightsUnavailableError",
    "__version__",
]

"""Segmentation-aware augmentation: the RegionAugment engine, its ops and recipes."""

from segaug.augment import recipes
from segaug.augment.geometry import (
    GeometricOp,
    GeometrySequence,
    KorniaGeometric,
    LocalRotation,
    RandomAffine,
    RandomHorizontalFlip,
    RandomResizedCropFlip,
    RandomRotation,
    RandomVerticalFlip,
    RegionShuffle,
)
from segaug.augment.multiview import RegionMultiViewTransform
from segaug.augment.ops import (
    ColorJitter,
    Fill,
    GaussianBlur,
    IntensityOp,
    KorniaOp,
    RandomGrayscale,
)
from segaug.augment.region import AugmentedBatch, AugmentParams, RegionAugment

__all__ = [
    "RegionAugment",
    "AugmentedBatch",
    "AugmentParams",
    "RandomResizedCropFlip",
    "GeometricOp",
    "GeometrySequence",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomRotation",
    "RandomAffine",
    "KorniaGeometric",
    "LocalRotation",
    "RegionShuffle",
    "RegionMultiViewTransform",
    "IntensityOp",
    "ColorJitter",
    "RandomGrayscale",
    "GaussianBlur",
    "Fill",
    "KorniaOp",
    "recipes",
]

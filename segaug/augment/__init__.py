"""Segmentation-aware augmentation: the RegionAugment engine, its ops and recipes."""

from segaug.augment import recipes
from segaug.augment.geometry import RandomResizedCropFlip
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
    "RegionMultiViewTransform",
    "IntensityOp",
    "ColorJitter",
    "RandomGrayscale",
    "GaussianBlur",
    "Fill",
    "KorniaOp",
    "recipes",
]

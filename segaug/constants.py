"""Constants shared by segaug and simclr (one copy each).

Example:
    >>> from segaug.constants import IMAGENET_MEAN, IMAGENET_STD
    >>> IMAGENET_MEAN, IMAGENET_STD
    ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
"""

from __future__ import annotations

__all__ = [
    "GLOBAL_MASKS_IN_LOSS",
    "GLOBAL_ONLY",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGENET_STATS",
    "ON_BAD_IMAGE",
    "RELIABLE_COVERAGE",
]

ON_BAD_IMAGE: tuple[str, ...] = ("skip", "error")
"""What an unreadable image file does: ``skip`` leaves it out (one warning), ``error``
stops in one line naming the file (:mod:`segaug.data.unreadable`)."""

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel RGB mean of ImageNet-1k (torchvision's pretrained models use it)."""

IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel RGB standard deviation of ImageNet-1k."""

IMAGENET_STATS: tuple[tuple[float, float, float], tuple[float, float, float]] = (
    IMAGENET_MEAN,
    IMAGENET_STD,
)
"""``(mean, std)`` together."""

RELIABLE_COVERAGE: tuple[float, float] = (0.05, 0.90)
"""``(min, max)`` foreground share of a mask that region augmentation trusts; a sample
whose mask covers less or more falls back to the global pipeline (every recipe's default
``coverage``)."""

GLOBAL_ONLY = "global (masks unused)"
"""How the training log and the reports name the fallback of a recipe that never uses
masks (``simclr``): every sample takes the global pipeline by design, not by failure."""

GLOBAL_MASKS_IN_LOSS = "global (masks used by the loss)"
"""The same for a method that reads the masks in its loss (DetCon): the recipe ignores
the masks, the objective does not."""

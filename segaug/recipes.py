"""``segaug.recipes``: named RegionAugment presets.

Implemented in :mod:`segaug.augment.recipes`; this module makes ``segaug.recipes`` importable.
"""

from segaug.augment.recipes import (  # noqa: F401
    RECIPES,
    background_swap,
    build,
    names,
    object_aware,
    simclr,
    simclr_ops,
    thesis,
)

__all__ = [
    "simclr",
    "thesis",
    "object_aware",
    "background_swap",
    "simclr_ops",
    "build",
    "names",
    "RECIPES",
]

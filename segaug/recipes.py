"""``segaug.recipes``: named RegionAugment presets (implemented in :mod:`segaug.augment.recipes`)."""

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

__all__ = ["simclr", "thesis", "object_aware", "background_swap", "simclr_ops", "build", "names", "RECIPES"]

"""``segaug.recipes``: named RegionAugment presets.

Implemented in :mod:`segaug.augment.recipes`; this module makes ``segaug.recipes`` importable
and re-exports every public name of it (recipes added there appear here too).
"""

from segaug.augment import recipes as _impl
from segaug.augment.recipes import *  # noqa: F403

__all__ = list(_impl.__all__)

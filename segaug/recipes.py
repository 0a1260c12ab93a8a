"""``segaug.recipes``: named RegionAugment presets.

Implemented in :mod:`segaug.augment.recipes`; this module makes ``segaug.recipes`` importable
and exports the same names (every recipe builder, ``simclr_ops``, ``build``, ``names``,
``RECIPES``).
"""

from segaug.augment.recipes import *  # noqa: F403
from segaug.augment.recipes import __all__  # noqa: F401

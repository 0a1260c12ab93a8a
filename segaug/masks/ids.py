"""Configuration ids: the stable string that names what produced a mask.

Every segmenter and mask source has a ``config_id``: its name followed by the sorted,
compact JSON of every parameter that changes its output. The mask cache stores it with
every mask, so a changed configuration invalidates the masks it produced and nothing
else. This module imports nothing from :mod:`segaug.masks`, so both the segmenters
(:mod:`segaug.masks.base`) and the mask sources (:mod:`segaug.masks.sources`) use it.

Example:
    >>> make_config_id("files", {"suffix": ".png", "background": [0]})
    'files{"background":[0],"suffix":".png"}'
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["make_config_id"]


def make_config_id(name: str, params: dict[str, Any]) -> str:
    """Build a config id: ``name`` followed by the sorted, compact JSON of ``params``.

    Example:
        >>> make_config_id("classical", {"margin": 0.1, "method": "grabcut"})
        'classical{"margin":0.1,"method":"grabcut"}'
    """
    return name + json.dumps(params, sort_keys=True, separators=(",", ":"))

"""Foreground masks: segmenters (``deeplabv3``, ``sam``, ``classical``), mask sources
(``gt``, ``files``) and the cache.

Example:
    >>> import torch
    >>> from segaug.masks import create_segmenter
    >>> create_segmenter("classical")(torch.rand(1, 3, 32, 32)).shape
    torch.Size([1, 1, 32, 32])
"""

from segaug.masks.base import SEGMENTERS, Segmenter, create_segmenter
from segaug.masks.cache import (
    CorruptMaskError,
    MaskCache,
    MaskWriter,
    MissingMaskError,
    content_hash,
    index_key,
)
from segaug.masks.classical import ClassicalSegmenter
from segaug.masks.deeplab import DeepLabV3Segmenter, WeightsUnavailableError
from segaug.masks.files import FileMasks
from segaug.masks.gt import GroundTruthMasks
from segaug.masks.sam import SamSegmenter
from segaug.masks.sources import (
    MASK_SOURCES,
    MaskFileError,
    MaskFileWarning,
    MaskSource,
    create_mask_source,
    mask_source_from_spec,
)

__all__ = [
    "MASK_SOURCES",
    "SEGMENTERS",
    "FileMasks",
    "MaskFileError",
    "MaskFileWarning",
    "MaskSource",
    "create_mask_source",
    "mask_source_from_spec",
    "ClassicalSegmenter",
    "CorruptMaskError",
    "DeepLabV3Segmenter",
    "GroundTruthMasks",
    "MaskCache",
    "MaskWriter",
    "MissingMaskError",
    "SamSegmenter",
    "Segmenter",
    "WeightsUnavailableError",
    "content_hash",
    "create_segmenter",
    "index_key",
]

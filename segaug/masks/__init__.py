"""Foreground masks: segmenters (``deeplabv3``, ``sam``, ``classical``; ``felzenszwalb``
label maps), mask sources (``gt``, ``files``), the cache, and the one resolver of mask
specs.

Importing the package registers every segmenter in :data:`SEGMENTERS` and every mask
source in :data:`MASK_SOURCES`; :func:`resolve_masks` reads the spec strings
(``gt``, ``files:DIR?foreground=1,3``, a cache directory, a segmenter name).

Example:
    >>> import torch
    >>> from segaug.masks import create_segmenter, resolve_masks
    >>> create_segmenter("classical")(torch.rand(1, 3, 32, 32)).shape
    torch.Size([1, 1, 32, 32])
    >>> resolve_masks("gt", build=False).kind
    'source'
"""

from segaug.masks.base import SEGMENTERS, Segmenter
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
from segaug.masks.felzenszwalb import FelzenszwalbSegmenter
from segaug.masks.files import FileMasks
from segaug.masks.gt import GroundTruthMasks
from segaug.masks.resolve import (
    ResolvedMasks,
    create_mask_source,
    create_segmenter,
    mask_source_from_spec,
    resolve_masks,
)
from segaug.masks.sam import SamSegmenter
from segaug.masks.sources import MASK_SOURCES, MaskFileError, MaskFileWarning, MaskSource

__all__ = [
    "MASK_SOURCES",
    "SEGMENTERS",
    "FileMasks",
    "MaskFileError",
    "MaskFileWarning",
    "MaskSource",
    "ResolvedMasks",
    "create_mask_source",
    "mask_source_from_spec",
    "resolve_masks",
    "ClassicalSegmenter",
    "CorruptMaskError",
    "DeepLabV3Segmenter",
    "FelzenszwalbSegmenter",
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

"""Mask sources: masks that are looked up, not computed from pixels.

Segmenters (``classical``, ``deeplabv3``, ``sam``) compute a mask from the image.
Mask sources look one up: ``gt`` by dataset index (the dataset's own annotations),
``files`` by image path (a folder of mask files that mirrors the image folder). Both
answer :meth:`MaskSource.lookup` with the item's index, its key (the image path
relative to the image folder, or :func:`~segaug.masks.cache.index_key` of the index)
and, when known, the image size; the consumers (:class:`~segaug.data.masked.MaskedDataset`,
``segaug-precompute-masks``, the trainer's ``data.masks``) treat every source alike.

A source registers itself in :data:`MASK_SOURCES` (the one extension point; the
modules :mod:`segaug.masks.files` and :mod:`segaug.masks.gt` register ``files`` and
``gt`` when :mod:`segaug.masks` is imported). A spec string names a source wherever a
string is accepted (``data.masks``, ``--masks``, ``--source``); the one parser of
those strings is :func:`segaug.masks.resolve.resolve_masks`::

    gt
    files:/data/masks                                  # binary PNGs: non-zero = foreground
    files:/data/pets/annotations/trimaps?foreground=1,3   # Oxford Pets trimaps
    files:/data/VOC2012/SegmentationClass?background=0,255 # VOC: classes 1..20

Example:
    >>> import segaug.masks
    >>> MASK_SOURCES.names()
    ['files', 'gt']
    >>> MASK_SOURCES.get("files").spec_form
    'files:MASK_DIR[?foreground=1,3|background=0,255]'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from segaug.masks.ids import make_config_id
from segaug.registry import Registry

__all__ = ["MASK_SOURCES", "MaskFileError", "MaskFileWarning", "MaskSource"]

MASK_SOURCES: Registry = Registry("mask source")
"""Registry of mask sources: ``gt`` (by dataset index) and ``files`` (by image path)."""


class MaskFileError(LookupError):
    """A mask file is missing, unreadable, or not the size of its image (names the path)."""


class MaskFileWarning(UserWarning):
    """A mask file could not be used; the item got an empty mask and the run went on."""


class MaskSource(ABC):
    """Base class: the mask of one item, looked up by index or key (never from pixels).

    Subclasses implement :meth:`lookup` and :meth:`_config` (what goes into
    :attr:`config_id`, stored with every cached mask).

    Shape:
        - ``lookup(...)``: uint8 :math:`(H, W)` in ``{0, 1}``, the size of the image.
    """

    name: str = "source"
    #: True when masks are found by image path (the key), False when by dataset index
    #: (then the source is built with ``dataset=``).
    by_path: bool = False
    #: How a spec string names the source (listed in the resolver's error messages).
    spec_form: str = "source"
    #: Spec options whose value is a comma-separated list of integers (``1,3``).
    int_list_options: tuple[str, ...] = ()

    @property
    def config_id(self) -> str:
        """A stable id of everything that determines the masks (see the mask cache)."""
        return make_config_id(self.name, self._config())

    @abstractmethod
    def _config(self) -> dict[str, Any]:
        """The parameters (JSON-serialisable) that go into :attr:`config_id`."""

    @abstractmethod
    def lookup(self, index: int, key: str, image_size: tuple[int, int] | None = None) -> np.ndarray:
        """The mask of item ``index`` (cache key ``key``): uint8 ``(H, W)`` in ``{0, 1}``.

        Args:
            index: Position of the item in its dataset.
            key: The item's key: its image path relative to the image folder, or the
                :func:`~segaug.masks.cache.index_key` of ``index``.
            image_size: ``(H, W)`` of the image when known; sources that read files
                check it.

        Raises:
            MaskFileError: If the mask cannot be used (missing, unreadable, other size).
        """

    def check(self, keys: list[str]) -> list[tuple[str, str]]:
        """``(key, problem)`` for keys whose mask is known to be unusable (default none)."""
        return []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        raise TypeError(
            f"the {self.name!r} mask source looks masks up by dataset index or image path, "
            "it does not compute them from pixels: use MaskedDataset(base, masks=source), "
            f"source.lookup(index, key) or segaug-precompute-masks SRC --source {self.name}"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config_id})"

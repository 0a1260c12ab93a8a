"""Mask sources: masks that are looked up, not computed from pixels.

Segmenters (``classical``, ``deeplabv3``, ``sam``) compute a mask from the image.
Mask sources look one up: ``gt`` by dataset index (the dataset's own annotations),
``files`` by image path (a folder of mask files that mirrors the image folder). Both
answer :meth:`MaskSource.lookup` with the item's index, its key (the image path
relative to the image folder, or :func:`~segaug.masks.cache.index_key` of the index)
and, when known, the image size; the consumers (:class:`~segaug.data.masked.MaskedDataset`,
``segaug-precompute-masks``, the trainer's ``data.masks``) treat every source alike.

A source is named by a spec string wherever a string is accepted (``data.masks``,
``--masks``, ``--source``)::

    gt
    files:/data/masks                                  # binary PNGs: non-zero = foreground
    files:/data/pets/annotations/trimaps?foreground=1,3   # Oxford Pets trimaps
    files:/data/VOC2012/SegmentationClass?background=0,255 # VOC: classes 1..20

Example:
    >>> parse_source_spec("files:/data/pets/trimaps?foreground=1,3&suffix=.png")
    ('files', {'root': '/data/pets/trimaps', 'foreground': (1, 3), 'suffix': '.png'})
    >>> parse_source_spec("gt")
    ('gt', {})
    >>> is_source_spec("files:masks/"), is_source_spec("classical")
    (True, False)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from segaug.masks.base import make_config_id
from segaug.registry import Registry

__all__ = [
    "MASK_SOURCES",
    "MaskFileError",
    "MaskFileWarning",
    "MaskSource",
    "create_mask_source",
    "is_source_spec",
    "mask_source_from_spec",
    "parse_source_spec",
]

MASK_SOURCES: Registry = Registry("mask source")
"""Registry of mask sources: ``gt`` (by dataset index) and ``files`` (by image path)."""

_INT_LIST_KEYS = ("foreground", "background")


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
    #: True when masks are found by image path (the key), False when by dataset index.
    by_path: bool = False

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


def _parse_value(key: str, raw: str) -> Any:
    if key in _INT_LIST_KEYS:
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if not parts or not all(p.lstrip("-").isdigit() for p in parts):
            raise ValueError(f"mask source option {key!r} must be integers like 1,3, got {raw!r}")
        return tuple(int(p) for p in parts)
    return raw


def is_source_spec(spec: object) -> bool:
    """True if ``spec`` is a string naming a mask source (``gt``, ``files:...``)."""
    if not isinstance(spec, str):
        return False
    name = spec.split(":", 1)[0].split("?", 1)[0].lower()
    return name in MASK_SOURCES and (name != "files" or spec.lower().startswith("files:"))


def parse_source_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``NAME[:ROOT][?key=value&...]`` -> ``(name, kwargs)``.

    Raises:
        ValueError: If ``spec`` is malformed or names no mask source.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"mask source spec must be a non-empty string, got {spec!r}")
    head, _, query = spec.partition("?")
    name, colon, root = head.partition(":")
    name = name.lower()
    if name not in MASK_SOURCES:
        raise ValueError(
            f"mask source spec {spec!r}: unknown source {name!r}, expected one of "
            f"{MASK_SOURCES.names()} (e.g. 'gt' or 'files:/path/to/masks?foreground=1,3')"
        )
    kwargs: dict[str, Any] = {}
    if colon:
        if not root:
            raise ValueError(f"mask source spec {spec!r}: empty folder after '{name}:'")
        kwargs["root"] = root
    for item in filter(None, query.split("&")):
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise ValueError(f"mask source spec {spec!r}: expected key=value, got {item!r}")
        kwargs[key] = _parse_value(key, raw)
    return name, kwargs


def create_mask_source(name: str, **kwargs: Any) -> MaskSource:
    """Build a registered mask source by name (``gt``: ``dataset=``; ``files``: ``root=``).

    Raises:
        ValueError: If ``name`` is unknown (the message lists the names) or an argument
            is invalid.
    """
    import segaug.masks.files  # noqa: F401 - registers "files"
    import segaug.masks.gt  # noqa: F401 - registers "gt"

    try:
        return MASK_SOURCES.create(name, **kwargs)
    except TypeError as err:
        raise ValueError(f"bad option for mask source {name!r}: {err}") from err


def mask_source_from_spec(spec: str, dataset: Any = None) -> MaskSource:
    """Build the source a spec string names (``gt`` needs ``dataset``).

    Example:
        >>> import tempfile
        >>> src = mask_source_from_spec(f"files:{tempfile.mkdtemp()}?foreground=1,3")
        >>> src.name, src.foreground
        ('files', (1, 3))
    """
    name, kwargs = parse_source_spec(spec)
    if not MASK_SOURCES.get(name).by_path:  # looked up by dataset index
        kwargs["dataset"] = dataset
    return create_mask_source(name, **kwargs)

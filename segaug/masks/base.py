"""The segmenter interface and the segmenter registry.

A segmenter turns a batch of RGB images into foreground masks. Every segmenter
in segaug (``deeplabv3``, ``sam``, ``classical``, ``felzenszwalb``) follows the same
contract (masks that are looked up instead, ``gt`` and ``files``, are *mask sources*,
see :mod:`segaug.masks.sources`):

* input: a tensor ``(B, 3, H, W)``, ``uint8`` in ``[0, 255]`` (divided by 255: the
  masks of ``images.float() / 255``) or floating point in ``[0, 1]``, checked as
  :class:`~segaug.RegionAugment` checks its images (NaN, inf and values outside
  ``[0, 1]`` are refused with a ``ValueError`` naming the argument);
* output: a float tensor ``(B, 1, H, W)`` with values in ``{0, 1}`` (1 = foreground),
  on the same device and with the same ``H, W`` as the input;
* a segmenter with :attr:`Segmenter.label_maps` ``True`` (``felzenszwalb``) returns
  *label maps* instead: the same shape and dtype, with integer region ids ``1..255``
  and ``0`` for unlabelled pixels (a binary mask is the case ``{0, 1}``);
* :attr:`Segmenter.config_id`: a stable string naming the segmenter, its model, the
  identity of its weights and every parameter that changes its output. The mask
  cache stores it with every mask, so a changed configuration invalidates the
  cached masks it produced and nothing else.

Example:
    >>> import torch
    >>> from segaug.masks import create_segmenter
    >>> seg = create_segmenter("classical", margin=0.1)
    >>> masks = seg(torch.rand(2, 3, 64, 64))
    >>> masks.shape, masks.dtype
    (torch.Size([2, 1, 64, 64]), torch.float32)
"""

from __future__ import annotations

import functools
import hashlib
import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from segaug.constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401 - re-exported
from segaug.env import resolve_device  # noqa: F401 - re-exported
from segaug.images import float_images
from segaug.masks.ids import make_config_id
from segaug.registry import Registry

SEGMENTERS: Registry = Registry("segmenter")
"""Registry of segmenter factories: ``deeplabv3``, ``sam``, ``classical``, ``felzenszwalb``.

Mask sources (``gt``, ``files``) live in :data:`segaug.masks.sources.MASK_SOURCES`."""


class Segmenter(ABC):
    """Base class: batched images in, binary foreground masks out.

    Subclasses implement :meth:`_segment` (inputs validated, as float in ``[0, 1]``) and
    :meth:`_config` (the parameters that define the output). Calling the segmenter
    validates the input, runs :meth:`_segment` and checks the output shape.

    Shape:
        - Input: :math:`(B, 3, H, W)`, uint8 in ``[0, 255]`` or float in ``[0, 1]``.
        - Output: :math:`(B, 1, H, W)`, float32, values in ``{0, 1}``, same device
          (label-map segmenters: integer region ids in ``0..255``, 0 = unlabelled).
    """

    name: str = "segmenter"
    #: True for model-backed segmenters, which take ``checkpoint=`` and ``device=``
    #: (``deeplabv3``, ``sam``); weight-free ones (``classical``) take neither.
    loads_weights: bool = False
    #: True for segmenters whose output is a label map (region ids ``1..255``,
    #: ``0`` = unlabelled, as float32) rather than a binary foreground mask.
    label_maps: ClassVar[bool] = False

    @property
    def config_id(self) -> str:
        """A stable, human-readable id of everything that determines the output.

        Two segmenters with the same ``config_id`` produce the same masks (up to
        floating point non-determinism of the device); any change of model, weights
        or parameter changes the id.
        """
        return make_config_id(self.name, self._config())

    #: The network of a model-backed segmenter (``None`` for weight-free ones).
    model: torch.nn.Module | None = None
    _device: torch.device = torch.device("cpu")

    @property
    def device(self) -> torch.device:
        """The device the segmenter computes on (CPU for weight-free segmenters)."""
        return self._device

    def to(self, device: str | torch.device) -> Segmenter:
        """Move the segmenter's model to ``device``; returns ``self``.

        Weight-free segmenters (no ``model``) always compute on the CPU and ignore it.
        """
        if self.model is not None:
            self._device = resolve_device(device)
            self.model.to(self._device)
        return self

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Segment a batch of images; see the class docstring for shapes.

        Raises:
            ValueError: For images :func:`validate_images` refuses (NaN or inf, float
                values outside ``[0, 1]``, another dtype or shape).
        """
        images = validate_images(images)
        masks = self._segment(images)
        b, _, h, w = images.shape
        if masks.shape != (b, 1, h, w):
            raise RuntimeError(
                f"{type(self).__name__} returned masks of shape {tuple(masks.shape)}, "
                f"expected {(b, 1, h, w)}"
            )
        return masks.to(device=images.device, dtype=torch.float32)

    @abstractmethod
    def _segment(self, images: torch.Tensor) -> torch.Tensor:
        """Compute ``(B, 1, H, W)`` masks in ``{0, 1}`` for validated images."""

    @abstractmethod
    def _config(self) -> dict[str, Any]:
        """The parameters (JSON-serialisable) that go into :attr:`config_id`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config_id})"


def validate_images(images: object, name: str = "images") -> torch.Tensor:
    """Check a segmenter's input and return it as float in ``[0, 1]``.

    The same check as :class:`~segaug.RegionAugment`'s (:func:`segaug.images.float_images`):
    ``(B, 3, H, W)``, ``uint8`` in ``[0, 255]`` (returned as ``float32`` divided by 255,
    so a segmenter gives the masks of ``images.float() / 255``) or floating point in
    ``[0, 1]`` (a rounding slack of 1e-3 is let through as it is).

    Args:
        images: The candidate batch.
        name: Argument name used in the error message.

    Returns:
        The batch as floating point, on its device.

    Raises:
        ValueError: If the type, rank, channel count or dtype is wrong, the batch is
            empty, or a value is NaN, inf or outside ``[0, 1]``; the message names
            ``name``, what it got and what it expects.

    Example:
        >>> x = torch.randint(0, 256, (1, 3, 4, 4), dtype=torch.uint8)
        >>> torch.equal(validate_images(x), x.float() / 255)
        True
    """
    return float_images(images, name, tolerance=1e-3)


def file_sha256(path: str | os.PathLike[str], length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of a file (weights identity).

    Memoised per (path, size, modification time), so building several segmenters from
    one large checkpoint hashes it once.
    """
    st = os.stat(path)
    return _file_sha256(os.path.abspath(path), st.st_size, st.st_mtime_ns)[:length]


@functools.lru_cache(maxsize=32)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def check_checkpoint(checkpoint: str | os.PathLike[str] | None, segmenter: str) -> str | None:
    """Validate a ``checkpoint`` path argument; returns it as ``str`` (or ``None``).

    Raises:
        ValueError: If the path does not exist or is not a file.
    """
    if checkpoint is None:
        return None
    path = os.fspath(checkpoint)
    if not os.path.isfile(path):
        raise ValueError(
            f"checkpoint for segmenter {segmenter!r} must be an existing file, got {path!r}"
        )
    return path


def load_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Load a state dict saved with ``torch.save`` (plain, or under "state_dict"/"model").

    The file is read with ``torch.load(weights_only=True)`` (see
    :func:`segaug.io.load_torch_file`): one that needs a full unpickle is refused.

    Raises:
        ValueError: If the file is unreadable, needs unpickling, or holds no state dict.
    """
    from segaug.io import load_torch_file

    obj = load_torch_file(path)
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model"):
            inner = obj.get(wrapper)
            if isinstance(inner, dict) and inner and all(isinstance(k, str) for k in inner):
                obj = inner
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"checkpoint {path!r} does not contain a state dict of tensors")
    return obj

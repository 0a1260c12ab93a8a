"""Datasets that yield an image together with its foreground mask.

Both wrappers return ``(image, mask, label)`` with the image and the mask resized
jointly: the shorter side goes to ``size`` (image bilinear with antialiasing, mask
nearest-exact, to the very same pixel grid), then both are centre-cropped to
``size x size``. Nothing is random here: DataLoader workers only decode and resize,
augmentation happens later on the batch (``RegionAugment``).

Masks come from one of:

* a :class:`~segaug.masks.cache.MaskCache` (or its directory), filled beforehand with
  ``segaug-precompute-masks`` (keys: relative paths for folders, :func:`index_key`
  indices for other datasets);
* a mask source (:mod:`segaug.masks.sources`), given as an object or a spec string:
  ``"gt"``, the dataset's own annotations (``base.get_mask(i)``, Oxford-IIIT Pet),
  or ``"files:MASK_DIR?..."``, one annotation file per image in a folder that mirrors
  the image folder (:class:`~segaug.masks.files.FileMasks`; needs image paths as keys,
  e.g. :class:`MaskedImageFolder`). A missing or size-mismatched mask file is reported
  (:class:`~segaug.masks.sources.MaskFileWarning`, naming the path) and the item gets
  an empty mask, so it falls back to global augmentation; the run goes on;
* a :class:`~segaug.masks.base.Segmenter` or its name, run on the fly in the worker
  process on CPU (fine for ``classical``; precompute for the neural segmenters).

Masks may be *label maps* instead of binary masks: uint8 region ids ``1..255``, ``0``
= unlabelled, from a label-map cache (:attr:`MaskCache.label_maps
<segaug.masks.cache.MaskCache.label_maps>`) or a label-map segmenter run on the fly
(``felzenszwalb``). The item's mask slot then holds the ids (resized nearest-exact, so
no new id appears), and the dataset's ``label_maps`` is ``True``, which tells the
trainer to read the mask slot as region ids.

An image file that cannot be read (truncated, zero bytes, not an image) is left out
with one warning, the next readable item taking its place, or stops the run in one
line naming the file with ``on_bad_image="error"`` (:mod:`segaug.data.unreadable`).
Files that precompute could not read are known from the cache without reading them.

Spec strings are read by :func:`segaug.masks.resolve.resolve_masks`.

Example:
    >>> from segaug.data.synthetic import SyntheticShapes
    >>> ds = MaskedDataset(SyntheticShapes("test", size=64, num_samples=4), masks="gt", size=32)
    >>> image, mask, label = ds[0]
    >>> image.shape, image.dtype, mask.shape, mask.dtype
    (torch.Size([3, 32, 32]), torch.uint8, torch.Size([1, 32, 32]), torch.uint8)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode

from segaug.data.unreadable import (
    BadImageError,
    BadImageWarning,
    UnreadableImages,
    describe_item,
)
from segaug.masks.base import Segmenter
from segaug.masks.cache import MaskCache, index_key
from segaug.masks.gt import GroundTruthMasks
from segaug.masks.resolve import ResolvedMasks, mask_spec_error, resolve_masks
from segaug.masks.sources import MaskFileError, MaskFileWarning, MaskSource

__all__ = [
    "BadImageError",
    "InMemoryMaskedDataset",
    "MaskedDataset",
    "MaskedImageFolder",
    "resize_pair",
    "to_uint8_chw",
]


def to_uint8_chw(image: Any) -> torch.Tensor:
    """A PIL image, HWC uint8 array or CHW tensor (uint8, or float in [0, 1]) -> uint8 3xHxW.

    Raises:
        ValueError: For other types or shapes.
    """
    if isinstance(image, Image.Image):
        arr = np.asarray(image.convert("RGB"))
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"image array must be uint8 (H, W, 3), got {image.dtype} {image.shape}"
            )
        return torch.from_numpy(image.copy()).permute(2, 0, 1).contiguous()
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f"image tensor must be (3, H, W), got {tuple(t.shape)}")
        if t.is_floating_point():
            t = (t * 255).round().clamp(0, 255).to(torch.uint8)
        if t.dtype != torch.uint8:
            raise ValueError(f"image tensor must be uint8 or float, got {t.dtype}")
        return t.expand(3, -1, -1).contiguous()
    raise ValueError(
        f"image must be a PIL image, numpy array or tensor, got {type(image).__name__}"
    )


def resize_pair(
    image: torch.Tensor, mask: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize (shorter side ``size``) and centre-crop an image and its mask jointly.

    The mask may be stored at another resolution than the image (same aspect ratio);
    it is resampled (nearest-exact) onto the resized image's grid before the crop.

    Shape:
        - image: :math:`(3, H, W)` uint8; mask: :math:`(1, h, w)` uint8.
        - Output: :math:`(3, S, S)` and :math:`(1, S, S)` uint8.

    Example:
        >>> img, m = resize_pair(torch.zeros(3, 40, 60, dtype=torch.uint8),
        ...                      torch.ones(1, 20, 30, dtype=torch.uint8), 16)
        >>> img.shape, m.shape
        (torch.Size([3, 16, 16]), torch.Size([1, 16, 16]))
    """
    if min(image.shape[-2:]) != size:
        image = TF.resize(image, [size], InterpolationMode.BILINEAR, antialias=True)
    h, w = image.shape[-2:]
    if tuple(mask.shape[-2:]) != (h, w):
        mask = TF.resize(mask, [h, w], InterpolationMode.NEAREST_EXACT)
    if (h, w) != (size, size):
        image = TF.center_crop(image, [size, size])
        mask = TF.center_crop(mask, [size, size])
    return image, mask


class MaskedDataset(Dataset):
    """Wrap a torchvision-style dataset so that items carry a foreground mask.

    Args:
        base: A dataset whose items are ``(image, label)``; the image a PIL image,
            uint8 HWC array or CHW tensor.
        masks: A :class:`MaskCache` or its directory; a mask source or its spec
            (``"gt"``: ``base.get_mask``; ``"files:DIR?foreground=1,3"``: annotation
            files, keys must be image paths); a :class:`Segmenter` or its name
            (``"classical"``) run on the fly; or what
            :func:`~segaug.masks.resolve.resolve_masks` made of one of these.
        size: Output side in pixels (>= 8).
        keys: Cache key of every item; default :func:`index_key` of the index (what
            ``segaug-precompute-masks DATASET_NAME`` writes).
        on_bad_image: ``"skip"``: an unreadable image is left out (one
            :class:`~segaug.data.unreadable.BadImageWarning`; the next readable item
            takes its place); ``"error"``: it raises
            :class:`~segaug.data.unreadable.BadImageError` naming the file.

    Shape:
        - ``ds[i]``: image :math:`(3, S, S)` uint8, mask :math:`(1, S, S)` uint8 in
          ``{0, 1}`` (when :attr:`label_maps`: region ids ``0..255``), label int.

    Raises:
        ValueError: On a bad argument.
        MissingMaskError: If the cache lacks masks for some keys (at construction; the
            message names them and gives the command that computes them).
        BadImageError: With ``on_bad_image="error"``, for the first unreadable image
            (at construction for files the cache records as unreadable).

    Attributes:
        unreadable: The :class:`~segaug.data.unreadable.UnreadableImages` policy; its
            ``found`` lists the items left out in this process, and setting its
            ``log_path`` appends every newly found one to a file (from workers too).

    Example:
        >>> cache = MaskCache("masks/cifar10")  # doctest: +SKIP
        >>> ds = MaskedDataset(cifar_train, masks=cache, size=32)  # doctest: +SKIP
    """

    def __init__(
        self,
        base: Any,
        masks: MaskCache | str | os.PathLike[str] | Segmenter | MaskSource | ResolvedMasks,
        size: int = 96,
        keys: Sequence[str] | None = None,
        on_bad_image: str = "skip",
    ) -> None:
        if not hasattr(base, "__getitem__") or not hasattr(base, "__len__"):
            raise ValueError(f"base must be a dataset (len and [i]), got {type(base).__name__}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 8:
            raise ValueError(f"size must be an int >= 8, got {size!r}")
        if keys is not None and len(keys) != len(base):
            raise ValueError(f"keys must have one entry per item ({len(base)}), got {len(keys)}")
        self.base = base
        self.size = size
        self.keys = list(keys) if keys is not None else [index_key(i) for i in range(len(base))]
        self.cache: MaskCache | None = None
        self.source: MaskSource | None = None
        self.segmenter: Segmenter | None = None
        self._positions: np.ndarray | None = None
        self._unusable: dict[str, str] = {}
        self.unreadable = UnreadableImages(on_bad_image, describe=self.describe)
        masks = resolve_masks(masks, argument="masks", dataset=base).masks
        if isinstance(masks, MaskSource):
            if masks.by_path and keys is None:
                raise ValueError(
                    f"masks: the {masks.name!r} source finds masks by image path, but "
                    f"{type(base).__name__} items have no paths; use MaskedImageFolder "
                    "(or pass keys=relative image paths)"
                )
            self.source = masks
            self._unusable = dict(masks.check(self.keys))
            if self._unusable:
                first = "; ".join(list(self._unusable.values())[:3])
                warnings.warn(
                    f"{len(self._unusable)} of {len(self.keys)} masks are unusable, those "
                    f"items get an empty mask (global augmentation): {first}"
                    + (" ..." if len(self._unusable) > 3 else ""),
                    MaskFileWarning,
                    stacklevel=2,
                )
        elif isinstance(masks, MaskCache):
            self.cache = masks
            failures = masks.failures()
            # Fails early, listing missing keys; recorded failures are not missing.
            self._positions = masks.positions(self.keys, allow_missing=failures)
            self._known_failures(failures)
            masks.preload()  # forked workers share the payload instead of each reading it
        else:  # resolve_masks builds one of the three kinds
            self.segmenter = masks

    @property
    def label_maps(self) -> bool:
        """True when the mask slot holds label maps (uint8 region ids, 0 = unlabelled).

        That is, the masks come from a label-map cache or a label-map segmenter
        (``felzenszwalb``); binary masks (every mask source, binary caches and
        segmenters) give ``False``.

        Example:
            >>> from segaug.data.synthetic import SyntheticShapes
            >>> base = SyntheticShapes("test", size=32, num_samples=2)
            >>> MaskedDataset(base, masks="gt", size=32).label_maps
            False
            >>> ds = MaskedDataset(base, masks="felzenszwalb", size=32)
            >>> ds.label_maps, ds[0][1].dtype, int(ds[0][1].min()) >= 1
            (True, torch.uint8, True)
        """
        if self.cache is not None:
            return self.cache.label_maps
        if self.segmenter is not None:
            return bool(self.segmenter.label_maps)
        return bool(getattr(self.source, "label_maps", False))

    def describe(self, index: int) -> str:
        """The file of item ``index`` (its path when the base dataset lists paths)."""
        return describe_item(self.base, index, self.keys[index])

    def _known_failures(self, failures: dict[str, tuple[str, str]]) -> None:
        """Items precompute could not read: images left out, annotations empty."""
        images, unusable = {}, []
        for i, key in enumerate(self.keys):
            kind, reason = failures.get(key, ("", ""))
            if kind == "image":
                images[i] = reason
            elif kind == "mask":
                unusable.append(f"{key}: {reason}")
        if images and self.unreadable.on_bad_image == "error":
            first = min(images)
            raise self.unreadable.error(first, f"precompute could not read it: {images[first]}")
        self.unreadable.found.update(images)
        if images:
            first = ", ".join(self.describe(i) for i in sorted(images)[:3])
            warnings.warn(
                f"{len(images)} of {len(self.keys)} images could not be read when their "
                f"masks were precomputed ({first}{' ...' if len(images) > 3 else ''}); they "
                "are left out, the next readable image taking their place; set "
                "on_bad_image=error to stop instead",
                BadImageWarning,
                stacklevel=3,
            )
        if unusable:
            warnings.warn(
                f"{len(unusable)} of {len(self.keys)} annotation files were unusable when the "
                f"masks were precomputed, those items get an empty mask (global augmentation): "
                f"{'; '.join(unusable[:3])}{' ...' if len(unusable) > 3 else ''}",
                MaskFileWarning,
                stacklevel=3,
            )

    @property
    def gt(self) -> GroundTruthMasks | None:
        """The ``gt`` source when masks come from the dataset's annotations."""
        return self.source if isinstance(self.source, GroundTruthMasks) else None

    def _source_mask(self, index: int, image_hw: tuple[int, int]) -> np.ndarray:
        assert self.source is not None
        key = self.keys[index]
        if key not in self._unusable:
            try:
                return self.source.lookup(index, key, image_hw)
            except MaskFileError as err:
                warnings.warn(
                    f"{err}; item {index} gets an empty mask (global augmentation)",
                    MaskFileWarning,
                    stacklevel=3,
                )
        return np.zeros(image_hw, np.uint8)

    def __len__(self) -> int:
        return len(self.base)

    def _load(self, index: int) -> tuple[Any, Any]:
        item = self.base[index]
        return item[0], item[1]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if not isinstance(index, (int, np.integer)) or not -len(self) <= index < len(self):
            raise IndexError(f"index {index!r} out of range for {len(self)} items")
        return self.unreadable.read(int(index) % len(self), len(self), self._item)

    def _item(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        raw, label = self._load(index)
        image = to_uint8_chw(raw)
        if self.segmenter is not None:
            image = TF.resize(image, [self.size], InterpolationMode.BILINEAR, antialias=True)
            with torch.inference_mode():
                mask = self.segmenter(image[None].float().div_(255))[0].to(torch.uint8)
        else:
            if self.cache is not None and self._positions is not None:
                position = int(self._positions[index])
                if position >= 0:
                    array = self.cache.load_at(position)
                else:  # an unusable annotation file, recorded by precompute
                    array = np.zeros(image.shape[-2:], np.uint8)
            elif self.source is not None:
                array = self._source_mask(index, (int(image.shape[-2]), int(image.shape[-1])))
            else:  # pragma: no cover - __init__ sets one of the three sources
                raise RuntimeError("MaskedDataset has no mask source")
            mask = torch.from_numpy(np.ascontiguousarray(array, dtype=np.uint8))[None]
        image, mask = resize_pair(image, mask, self.size)
        try:
            label = int(label)
        except (TypeError, ValueError):
            raise ValueError(
                f"labels of base must be ints, got {type(label).__name__} for item {index}"
            ) from None
        return image, mask, label


class InMemoryMaskedDataset(Dataset):
    """Masked items held as whole tensors: no decoding, no resizing, batched indexing.

    For data that fits in memory and is already at the training size (the offline
    synthetic data; a pre-resized array dataset). ``ds[i]`` matches
    :class:`MaskedDataset`'s items, and ``__getitems__`` (which ``DataLoader`` calls
    with a whole batch of indices) gathers a batch with one indexing operation per
    tensor, so the loader never waits on the CPU-bound training step.

    Args:
        images: uint8 :math:`(N, 3, S, S)` or :math:`(N, S, S, 3)` (tensor or array).
        masks: uint8 :math:`(N, 1, S, S)` or :math:`(N, S, S)` in ``{0, 1}`` (label
            maps: integer region ids in ``0..255``).
        labels: int :math:`(N,)`.
        classes: Class names (what ``classes`` of the source dataset says), if known.
        label_maps: ``masks`` are label maps (region ids, 0 = unlabelled); their
            values must be integers in ``0..255``.

    Shape:
        - ``ds[i]``: image :math:`(3, S, S)` uint8, mask :math:`(1, S, S)` uint8, label int.

    Raises:
        ValueError: If a shape or dtype is wrong, or label maps hold values outside
            ``0..255``.

    Example:
        >>> from segaug.data.synthetic import SyntheticShapes
        >>> base = SyntheticShapes("train", size=16, num_samples=8)
        >>> ds = InMemoryMaskedDataset(base.images, base.masks, base.targets)
        >>> image, mask, label = ds[3]
        >>> tuple(image.shape), tuple(mask.shape), label
        ((3, 16, 16), (1, 16, 16), 3)
        >>> regions = torch.randint(0, 256, (8, 16, 16), dtype=torch.uint8)
        >>> InMemoryMaskedDataset(base.images, regions, base.targets, label_maps=True).label_maps
        True
    """

    def __init__(
        self,
        images: Any,
        masks: Any,
        labels: Any,
        classes: Sequence[str] | None = None,
        label_maps: bool = False,
    ) -> None:
        if not isinstance(label_maps, bool):
            raise ValueError(f"label_maps must be True or False, got {label_maps!r}")
        self.label_maps = label_maps
        self.classes = list(classes) if classes is not None else None
        images = torch.as_tensor(np.asarray(images))
        masks = torch.as_tensor(np.asarray(masks))
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, 3, S, S) or (N, S, S, 3), got {images.dtype} "
                f"{tuple(images.shape)}"
            )
        if images.shape[-1] == 3 and images.shape[1] != 3:
            images = images.permute(0, 3, 1, 2)
        if masks.ndim == 3:
            masks = masks[:, None]
        n = images.shape[0]
        if masks.shape != (n, 1, *images.shape[-2:]) or labels.shape != (n,):
            raise ValueError(
                f"masks must be (N, 1, H, W) and labels (N,) for images {tuple(images.shape)}, "
                f"got masks {tuple(masks.shape)} and labels {tuple(labels.shape)}"
            )
        if label_maps and masks.numel() and masks.dtype != torch.uint8:
            exact = not masks.is_floating_point() or bool((masks == masks.round()).all())
            lo, hi = masks.min().item(), masks.max().item()
            if not exact or lo < 0 or hi > 255:
                raise ValueError(
                    f"masks must be label maps of integer region ids 0..255, got dtype "
                    f"{masks.dtype} with values in [{lo}, {hi}]"
                )
        self.images = images.contiguous()
        self.masks = masks.to(torch.uint8).contiguous()
        self.labels = labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.images[index], self.masks[index], int(self.labels[index])

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        images, masks, labels = self.images[idx], self.masks[idx], self.labels[idx].tolist()
        return list(zip(images, masks, labels, strict=True))


class MaskedImageFolder(MaskedDataset):
    """An ImageFolder (``root/class/xxx.png``) whose items carry a foreground mask.

    Cache keys are the image paths relative to ``root`` (POSIX), exactly what
    ``segaug-precompute-masks ROOT --out CACHE`` writes.

    Args:
        root: The image folder, one sub-folder per class (torchvision ``ImageFolder``).
        masks: A :class:`MaskCache` or its directory, a :class:`Segmenter` or its
            name, or the ``files`` mask source (a :class:`~segaug.masks.files.FileMasks` or a spec
            ``"files:MASK_DIR?foreground=1,3"``) reading ``MASK_DIR/<class>/<name>.png``
            for ``root/<class>/<name>.<ext>``.
        size: Output side in pixels (>= 8).
        on_bad_image: ``"skip"`` or ``"error"``, as for :class:`MaskedDataset`.

    Shape:
        - ``ds[i]``: image :math:`(3, S, S)` uint8, mask :math:`(1, S, S)` uint8, label int.

    Example:
        >>> import tempfile, numpy as np
        >>> from pathlib import Path
        >>> d = Path(tempfile.mkdtemp())
        >>> for sub in ("photos/cat", "masks/cat"):
        ...     (d / sub).mkdir(parents=True)
        >>> Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(d / "photos/cat/a.jpg")
        >>> trimap = np.full((20, 30), 2, np.uint8); trimap[5:15, 10:20] = 1
        >>> Image.fromarray(trimap).save(d / "masks/cat/a.png")
        >>> ds = MaskedImageFolder(d / "photos", masks=f"files:{d}/masks?foreground=1,3", size=10)
        >>> image, mask, label = ds[0]
        >>> image.shape, int(mask.sum()), label
        (torch.Size([3, 10, 10]), 25, 0)
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        masks: MaskCache | str | os.PathLike[str] | Segmenter | MaskSource | ResolvedMasks,
        size: int = 96,
        on_bad_image: str = "skip",
    ) -> None:
        from torchvision.datasets import ImageFolder

        if not isinstance(root, (str, os.PathLike)) or not Path(root).is_dir():
            raise ValueError(f"root must be an existing folder, got {root!r}")
        resolved = resolve_masks(masks, argument="masks", build=False)
        if resolved.needs_dataset:
            raise mask_spec_error(
                resolved.argument, resolved.spec,
                f"the {resolved.name!r} source looks masks up by dataset index "
                "(annotations), which an image folder has none",
                "'files:MASK_DIR', a mask-cache directory or a segmenter",
            )  # fmt: skip
        folder = ImageFolder(os.fspath(root))
        self.classes = folder.classes
        keys = [Path(path).relative_to(root).as_posix() for path, _ in folder.samples]
        super().__init__(folder, resolved, size=size, keys=keys, on_bad_image=on_bad_image)

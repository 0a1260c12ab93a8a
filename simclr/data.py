"""Pretraining data: a masked dataset of ``(uint8 image, uint8 mask, label)`` and its loader.

Workers only decode and resize (nothing random); augmentation happens later, on the
training device, through :class:`segaug.RegionAugment`. The sampler is a
``DistributedSampler`` (also with one process) so every epoch's order depends only on
``(seed, epoch)``, which is what makes resuming exact; a mid-epoch resume skips the
batches already seen.

Example:
    >>> from simclr.config import DataConfig
    >>> ds = build_pretrain_dataset(DataConfig(num_samples=8, image_size=16))
    >>> img, mask, label = ds[0]
    >>> img.dtype, tuple(img.shape), tuple(mask.shape)
    (torch.uint8, (3, 16, 16), (1, 16, 16))
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from segaug.constants import IMAGENET_STATS
from segaug.data import DATASET_INFO, build_dataset, get_dataset_info
from simclr.config import DataConfig

if TYPE_CHECKING:
    from segaug.masks.resolve import ResolvedMasks


class _DescriptorStats(Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]]):
    """Read-only, live view: dataset name -> ``(mean, std)`` for the datasets whose
    descriptor states its own statistics (a dataset registered later shows up too)."""

    def _items(self) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
        return {
            name: (info.mean, info.std)
            for name, info in DATASET_INFO.items()
            if info.mean is not None and info.std is not None
        }

    def __getitem__(self, name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return self._items()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return f"DATASET_STATS({self._items()!r})"


DATASET_STATS: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]] = _DescriptorStats()
"""Per-channel statistics used to normalise views (views arrive in [0, 1]): a view of
the dataset descriptors' ``mean``/``std`` (:class:`segaug.data.DatasetInfo`)."""


def normalization_stats(cfg: DataConfig) -> tuple[list[float], list[float]]:
    """``(mean, std)`` from the config, else the dataset's, else ImageNet's.

    Example:
        >>> normalization_stats(DataConfig(dataset="cifar10"))[0]
        [0.4914, 0.4822, 0.4465]
        >>> DATASET_STATS["cifar10"][1], "synthetic" in DATASET_STATS
        ((0.247, 0.2435, 0.2616), False)
    """
    info = DATASET_INFO.get(cfg.dataset.lower())
    mean, std = info.normalization if info is not None else IMAGENET_STATS
    return list(cfg.mean or mean), list(cfg.std or std)


def _mask_source(spec: str) -> ResolvedMasks:
    """What ``data.masks`` names, resolved (:func:`segaug.masks.resolve.resolve_masks`).

    A source found by dataset index (``gt``) is built once the dataset is; everything
    else (``files:DIR?...``, a cache directory, a segmenter name) is built here, so a bad
    folder or option is reported against ``data.masks`` before the dataset is loaded.
    """
    from segaug.masks.resolve import resolve_masks

    resolved = resolve_masks(spec, argument="config 'data.masks'", build=False)
    return resolved if resolved.needs_dataset else resolved.build()


def _in_memory_ok(base: Any, source: ResolvedMasks, size: int) -> bool:
    """Ground-truth masks from a dataset that offers its whole split as arrays of side ``size``."""
    from segaug.masks import GroundTruthMasks

    if not isinstance(source.masks, GroundTruthMasks):
        return False
    if not all(hasattr(base, a) for a in ("images", "masks", "targets")):
        return False
    return getattr(base, "size", None) == size


def _cached_masks_in_memory(base: Any, source: ResolvedMasks, size: int) -> Any:
    """Every mask of a cache as one ``(N, S, S)`` array, for whole-split arrays of side ``size``.

    ``None`` when the dataset offers no such arrays, the source is not a cache, or some
    cached mask is of another size (then :class:`MaskedDataset` resizes each item).
    A label-map cache gives its uint8 region ids (``source.masks.label_maps``).

    Raises:
        MissingMaskError: If the cache lacks a mask of some item (listed).
    """
    import numpy as np

    from segaug.masks import MaskCache, index_key

    if not isinstance(source.masks, MaskCache) or getattr(base, "size", None) != size:
        return None
    if not all(hasattr(base, a) for a in ("images", "targets")):
        return None
    cache = source.masks
    positions = cache.positions(index_key(i) for i in range(len(base)))
    masks = [cache.load_at(int(p)) for p in positions]
    if any(m.shape != (size, size) for m in masks):
        return None
    return np.stack(masks).astype(np.uint8, copy=False)


def build_pretrain_dataset(cfg: DataConfig) -> Dataset:
    """Dataset of ``(image uint8 (3,S,S), mask uint8 (1,S,S), label int)``.

    ``segaug.data.masked.MaskedDataset`` over ``segaug.data.build_dataset`` (or
    ``MaskedImageFolder`` for ``imagefolder``, whose cache keys are relative paths).
    Its ``label_maps`` is ``True`` when ``data.masks`` names a label-map cache or a
    label-map segmenter (``felzenszwalb``): the mask slot then holds region ids.

    Raises:
        ValueError: Unknown dataset or mask source, missing cache entries (listed).
    """
    info = get_dataset_info(cfg.dataset)  # ValueError listing the known names
    kwargs = info.pretrain_options(cfg.image_size, cfg.num_samples)
    root: str | None = cfg.root if info.needs_root else None
    from segaug.data.masked import InMemoryMaskedDataset, MaskedDataset, MaskedImageFolder
    from segaug.data.unreadable import BadImageError
    from segaug.masks import MissingMaskError

    source = _mask_source(cfg.masks)
    if source.by_path and not info.masks_by_path:
        by_path = " or ".join(n for n, i in DATASET_INFO.items() if i.masks_by_path)
        raise ValueError(
            f"config 'data.masks' = {cfg.masks!r}: mask files are found by image path, "
            f"which needs data.dataset={by_path} (got {cfg.dataset!r}); precompute a "
            "cache or use 'gt' for a dataset's own annotations"
        )
    try:
        if info.masks_by_path:  # cache keys are relative paths
            folder = Path(cfg.root) / cfg.split
            folder = folder if folder.is_dir() else Path(cfg.root)
            if not folder.is_dir():
                raise ValueError(f"config 'data.root' = {cfg.root!r}: folder not found")
            ds: Dataset = MaskedImageFolder(
                folder, masks=source, size=cfg.image_size, on_bad_image=cfg.on_bad_image
            )
            return _named_bad_image_setting(ds)
        kwargs.update(cfg.params)
        base = build_dataset(cfg.dataset, root, split=cfg.split, download=cfg.download, **kwargs)
        source = source.build(base)
        if _in_memory_ok(base, source, cfg.image_size):
            # Whole-split arrays at the training size: batched indexing, no per-item
            # decode or resize (the offline data; measured in benchmarks/train_step.py).
            return InMemoryMaskedDataset(
                base.images, base.masks, base.targets, getattr(base, "classes", None)
            )
        cached = _cached_masks_in_memory(base, source, cfg.image_size)
        if cached is not None:  # the same, with the masks of a cache of that size
            return InMemoryMaskedDataset(
                base.images, cached, base.targets, getattr(base, "classes", None),
                label_maps=bool(getattr(source.masks, "label_maps", False)),
            )  # fmt: skip
        ds = MaskedDataset(base, masks=source, size=cfg.image_size, on_bad_image=cfg.on_bad_image)
        return _named_bad_image_setting(ds)
    except MissingMaskError as err:
        raise ValueError(f"config 'data.masks' = {cfg.masks!r}: {err}") from err
    except BadImageError as err:  # a file the mask cache records as unreadable
        raise BadImageError(f"config 'data.on_bad_image' = 'error': {err}") from None


def _named_bad_image_setting(ds: Any) -> Any:
    """Messages about unreadable images name the config key that sets the policy."""
    ds.unreadable.argument = "data.on_bad_image"
    return ds


def num_classes_of(ds: Any) -> int:
    """Number of classes (for the online probe); 0 if the dataset does not say."""
    for obj in (ds, getattr(ds, "base", None), getattr(ds, "dataset", None)):
        classes = getattr(obj, "classes", None)
        if classes is not None:
            return len(classes)
    return 0


class SkipSampler(Sampler[int]):
    """Wraps a ``DistributedSampler`` and drops the first ``skip`` indices of one epoch.

    Used to resume mid-epoch: the remaining batches are exactly those an uninterrupted
    run would have drawn.
    """

    def __init__(self, sampler: DistributedSampler) -> None:
        self.sampler = sampler
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.sampler.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        indices = list(iter(self.sampler))
        return iter(indices[self.skip :])

    def __len__(self) -> int:
        return len(self.sampler) - self.skip


def build_loader(
    ds: Dataset, per_process_batch: int, rank: int, world_size: int, seed: int, cfg: DataConfig
) -> tuple[DataLoader, SkipSampler]:
    """A ``drop_last`` loader whose order is a function of ``(seed, epoch)`` only."""
    if len(ds) < per_process_batch * world_size:
        raise ValueError(
            f"dataset has {len(ds)} samples, fewer than one global batch of "
            f"{per_process_batch * world_size} (data.batch_size)"
        )
    dist_sampler = DistributedSampler(
        ds, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
    )
    sampler = SkipSampler(dist_sampler)
    loader = DataLoader(
        ds,
        batch_size=per_process_batch,
        sampler=sampler,
        num_workers=cfg.num_workers,
        pin_memory=torch.cuda.is_available(),
        drop_last=True,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(seed),
    )
    return loader, sampler

"""Precompute foreground masks for an image folder or a dataset into a :class:`MaskCache`.

This is the library side of the ``segaug-precompute-masks`` command. Images are read
and resized (shorter side ``size``) in DataLoader workers, grouped into batches of equal
shape (at most ``4 * batch_size`` images wait in partial batches), segmented, and
written to the cache in atomic chunks. Re-running skips every mask whose key, image
content, segmenter configuration and stored size are unchanged, so a killed run
resumes where it stopped, and a run with another ``size`` recomputes the masks at the
new size. Files that cannot be decoded are reported, recorded in the cache
(:meth:`MaskCache.failures`: datasets reading the cache leave them out) and skipped;
only a failure of the run itself (bad arguments, the segmenter failing) raises.

A segmenter that produces label maps (``felzenszwalb``: ``label_maps = True``) fills
the cache with uint8 region ids (``MaskCache.writer(..., label_maps=True)``); the
summary and ``--stats`` then give the regions per map instead of the fallback shares.

Instead of a segmenter, a mask source can fill the cache (:mod:`segaug.masks.sources`):
``gt`` reads a dataset's annotations by index; ``files:MASK_DIR?...`` reads one
annotation file per image of a source folder (same relative path, ``.png``). For
``files`` the content hash of an entry covers the image and its mask file, so a
changed annotation is recomputed on the next run; a missing, unreadable or
size-mismatched mask file is reported by path among the failed items and the run goes
on.

Example:
    >>> summary = precompute_masks("photos/", "masks/", segmenter="classical")  # doctest: +SKIP
    >>> print(summary.format())  # doctest: +SKIP
    >>> precompute_masks("photos/", "cache/", "files:trimaps/?foreground=1,3")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from segaug.masks.base import Segmenter
from segaug.masks.cache import MaskCache, content_hash, index_key
from segaug.masks.files import FileMasks, check_size
from segaug.masks.resolve import MaskKind, ResolvedMasks, mask_spec_error, resolve_masks
from segaug.masks.sources import MaskFileError, MaskSource

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""Extensions treated as images in a source folder (torchvision's ``IMG_EXTENSIONS``)."""

PRECOMPUTE_KINDS: tuple[MaskKind, ...] = ("segmenter", "source")
"""What can fill a cache: a segmenter (from pixels) or a mask source (looked up)."""

FALLBACK_LOW = 0.05
FALLBACK_HIGH = 0.90
ABORT_ENV = "SEGAUG_PRECOMPUTE_ABORT_AFTER"
"""Testing hook: kill the process with SIGKILL once this many masks are committed."""


# ------------------------------------------------------------------------ summary
def coverage_histogram(coverage: np.ndarray, bins: int = 10, width: int = 40) -> str:
    """A text histogram of foreground coverages in ``[0, 1]``, one line per bin."""
    coverage = np.asarray(coverage, dtype=np.float64)
    counts, edges = np.histogram(coverage, bins=bins, range=(0.0, 1.0))
    peak = max(1, int(counts.max()) if counts.size else 1)
    lines = []
    for count, lo, hi in zip(counts, edges[:-1], edges[1:], strict=True):
        bar = "#" * int(round(width * count / peak))
        lines.append(f"  {lo:4.0%}-{hi:4.0%} | {bar:<{width}} {count}")
    return "\n".join(lines)


def fallback_shares(
    coverage: np.ndarray, low: float = FALLBACK_LOW, high: float = FALLBACK_HIGH
) -> tuple[float, float]:
    """Share of masks below ``low`` and above ``high`` coverage (thesis section 4.2.4)."""
    coverage = np.asarray(coverage)
    if coverage.size == 0:
        return 0.0, 0.0
    return float((coverage < low).mean()), float((coverage > high).mean())


def _label_map_report(regions: np.ndarray, coverage: np.ndarray) -> str:
    """The summary of label maps: regions per map and the labelled fraction."""
    if regions.size == 0:
        return "label maps: none stored"
    return (
        f"label maps ({len(regions)}): {regions.mean():.1f} regions on average (min "
        f"{regions.min()}, median {np.median(regions):.0f}, max {regions.max()}); labelled "
        f"pixels: {coverage.mean():.1%} on average (0 = unlabelled: beyond the 255 largest "
        "regions)"
    )


def _coverage_report(coverage: np.ndarray) -> str:
    below, above = fallback_shares(coverage)
    return (
        f"coverage of {len(coverage)} masks as stored (fraction of foreground pixels):\n"
        f"{coverage_histogram(coverage)}\n"
        f"would fall back: {below:.1%} below {FALLBACK_LOW:.0%}, {above:.1%} above "
        f"{FALLBACK_HIGH:.0%}, {below + above:.1%} in all (of the whole stored masks; "
        "training measures each view after its crop, so its share differs)"
    )


@dataclass
class Summary:
    """What a precompute run did.

    Attributes:
        out: The cache directory.
        config_id: The segmenter configuration.
        total: Items of the source in this shard.
        done: Masks computed by this run.
        skipped: Items whose valid mask was already cached.
        resized: Of ``done``, masks that were cached at another size and recomputed.
        failed: ``(path or key, reason)`` of items that could not be read (recorded
            in the cache, see :meth:`MaskCache.failures`).
        ignored: Files in the source folder that are not images (by extension).
        coverage: Coverage of every cached mask of this shard's items after the run
            (label maps: the labelled fraction).
        seconds: Wall time of the run.
        shard: ``(i, n)``.
        label_maps: The masks are label maps (a label-map segmenter).
        regions: Regions of every cached label map of this shard's items (label maps).
    """

    out: str
    config_id: str
    total: int
    done: int = 0
    skipped: int = 0
    resized: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    coverage: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    seconds: float = 0.0
    shard: tuple[int, int] = (0, 1)
    label_maps: bool = False
    regions: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))

    @property
    def complete(self) -> bool:
        """Every readable item of the shard has a mask."""
        return self.done + self.skipped + len(self.failed) == self.total

    def format(self) -> str:
        """The closing report printed by the CLI."""
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"mask cache: {self.out}",
            f"segmenter:  {self.config_id}",
            f"items: {self.total} (shard {self.shard[0]}/{self.shard[1]})   done: {self.done}   "
            f"skipped: {self.skipped}   failed: {len(self.failed)}   "
            f"ignored (not images): {len(self.ignored)}",
            f"time: {self.seconds:.1f} s ({rate:.1f} masks/s)",
        ]
        if self.resized:
            lines.append(f"recomputed at the new size: {self.resized} (cached at another size)")
        if self.failed:
            lines.append(
                "failed (skipped, the run went on; recorded in the cache, so training "
                "leaves unreadable images out):"
            )
            lines += [f"  {path}: {reason}" for path, reason in self.failed[:50]]
            if len(self.failed) > 50:
                lines.append(f"  ... and {len(self.failed) - 50} more")
        if self.label_maps:
            lines.append(_label_map_report(self.regions, self.coverage))
        else:
            lines.append(_coverage_report(self.coverage))
        return "\n".join(lines)


def cache_report(root: str | os.PathLike[str], config_id: str | None = None) -> str:
    """The ``--stats`` report of an existing cache.

    Raises:
        ValueError: If ``root`` is not a directory.
    """
    if not Path(root).is_dir():
        raise ValueError(f"cache must be an existing directory, got {str(root)!r}")
    cache = MaskCache(root, config_id=config_id)
    configs = cache.configs()
    lines = [f"mask cache: {root}", f"chunk files: {len(cache._chunk_paths())}"]
    if cache.bad_chunks:
        lines.append(f"unreadable chunk files (ignored): {len(cache.bad_chunks)}")
        lines += [f"  {p.name}: {why}" for p, why in cache.bad_chunks[:10]]
    lines.append("configurations (masks stored, superseded included):")
    lines += [f"  {n:8d}  {cfg}" for cfg, n in configs.items()] or ["  (none)"]
    if cache.selected_config is None:
        return "\n".join(lines)
    sizes = cache.sizes()
    shapes = {
        (int(h), int(w)) for h, w in zip(cache._height[:1000], cache._width[:1000], strict=True)
    }
    lines += [
        f"selected: {cache.selected_config}",
        f"masks: {len(cache)}   median size: {np.median(sizes):.0f} B   "
        f"total: {sizes.sum() / 1e6:.2f} MB   shapes (first 1000): {len(shapes)} distinct",
        _label_map_report(cache.region_counts(), cache.coverages())
        if cache.label_maps
        else _coverage_report(cache.coverages()),
        _verified_line(Path(root), cache),
    ]
    lines += _failures_lines(cache)
    return "\n".join(lines)


def _failures_lines(cache: MaskCache, shown: int = 10) -> list[str]:
    failures = cache.failures()
    lines = []
    for kind, what in (
        ("image", "unreadable images (datasets reading this cache leave them out)"),
        ("mask", "unusable annotation files (those items get an empty mask)"),
    ):
        rows = [(k, r) for k, (kd, r) in failures.items() if kd == kind]
        if rows:
            lines.append(f"{what}: {len(rows)}")
            lines += [f"  {k}: {r}" for k, r in rows[:shown]]
            if len(rows) > shown:
                lines.append(f"  ... and {len(rows) - shown} more")
    return lines


VERIFIED_FILE = "verified.json"
"""What the last ``--verify`` found, kept in the cache folder (``--stats`` reports it)."""


def verify_cache(root: str | os.PathLike[str]) -> tuple[int, list[tuple[str, str]]]:
    """Check every mask of a cache against its checksum; record the result in the cache.

    Returns:
        ``(masks checked, [(key, chunk file) of every corrupt mask])``.

    Raises:
        ValueError: If ``root`` is not a directory.
    """
    from segaug.io import atomic_write

    if not Path(root).is_dir():
        raise ValueError(f"cache must be an existing directory, got {str(root)!r}")
    cache = MaskCache(root)
    bad = cache.corrupt_entries()
    record = {
        "checked": len(cache),
        "corrupt": [{"key": k, "chunk": c} for k, c in bad],
        "chunks": sorted(p.name for p in cache._chunk_paths()),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic_write(Path(root) / VERIFIED_FILE, json.dumps(record, indent=1))
    return len(cache), bad


def _verified_line(root: Path, cache: MaskCache) -> str:
    path = root / VERIFIED_FILE
    if not path.is_file():
        return "verified: no (checksums are checked when a mask is read; run --verify CACHE)"
    record = json.loads(path.read_text())
    stale = record.get("chunks") != sorted(p.name for p in cache._chunk_paths())
    state = " (the cache changed since: run --verify again)" if stale else ""
    return (
        f"verified: {record['when']}, {record['checked']} masks, "
        f"{len(record['corrupt'])} corrupt{state}"
    )


# ------------------------------------------------------------------------ sources
def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int]:
    """``"i/n"`` or ``(i, n)`` -> ``(i, n)``; ``None`` reads torchrun's RANK/WORLD_SIZE.

    Raises:
        ValueError: If the format or the range is wrong.
    """
    if shard is None:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        shard = (rank, world)
    if isinstance(shard, str):
        parts = shard.split("/")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"shard must look like 'i/n' (e.g. '0/4'), got {shard!r}")
        shard = (int(parts[0]), int(parts[1]))
    i, n = shard
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard must satisfy 0 <= i < n, got {i}/{n}")
    return int(i), int(n)


def shard_of(key: str, num_shards: int) -> int:
    """The shard a key belongs to: CRC-32 of the key modulo ``num_shards`` (stable)."""
    return zlib.crc32(key.encode()) % num_shards


def list_images(root: Path) -> tuple[list[str], list[str]]:
    """Recursively list ``root``: image keys (relative POSIX paths, sorted) and ignored files.

    Hidden files and folders (name starting with ``.``) are skipped.
    """
    images, ignored = [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            rel = Path(dirpath, name).relative_to(root).as_posix()
            (images if name.lower().endswith(IMAGE_EXTENSIONS) else ignored).append(rel)
    return images, ignored


@dataclass
class _Item:
    status: str  # "ok" | "skip" | "fail" | "mask"
    key: str
    digest: str = ""
    image: torch.Tensor | None = None
    mask: np.ndarray | None = None
    error: str = ""
    kind: str = "image"  # of a failure: "image" (unreadable) or "mask" (annotation file)
    resized: bool = False  # cached at another size: recomputed


def _is_done(
    done: dict[str, tuple[str, tuple[int, int]]], key: str, digest: str, hw: tuple[int, int]
) -> bool | None:
    """True: a valid mask of this image at this size is cached; None: cached at another size."""
    entry = done.get(key)
    if entry is None or entry[0] != digest:
        return False
    return True if entry[1] == hw else None


def _resized_size(w: int, h: int, size: int | None) -> tuple[int, int]:
    if size is None:
        return w, h
    scale = size / min(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _to_item(key: str, digest: str, image: Image.Image, size: int | None) -> _Item:
    image = image.convert("RGB")
    w, h = _resized_size(*image.size, size)
    if (w, h) != image.size:
        image = image.resize((w, h), Image.Resampling.BILINEAR)
    tensor = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()
    return _Item("ok", key, digest, image=tensor)


def _resize_mask(mask: np.ndarray, size: int | None) -> np.ndarray:
    """Nearest-neighbour resize of a ``(H, W)`` mask to shorter side ``size``."""
    w, h = _resized_size(mask.shape[1], mask.shape[0], size)
    if (w, h) != (mask.shape[1], mask.shape[0]):
        mask = np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.NEAREST))
    return mask


class _FolderItems(Dataset):
    def __init__(
        self,
        root: Path,
        keys: list[str],
        done: dict[str, tuple[str, tuple[int, int]]],
        size: int | None,
        files: FileMasks | None = None,
    ):
        self.root, self.keys, self.done, self.size, self.files = root, keys, done, size, files

    def __len__(self) -> int:
        return len(self.keys)

    def _from_file(self, key: str, data: bytes) -> _Item:
        assert self.files is not None
        try:
            mask_data = self.files.read_bytes(key)
        except MaskFileError as err:
            return _Item("fail", key, error=str(err), kind="mask")
        digest = content_hash(data + b"\0mask\0" + mask_data)
        try:
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
        except Exception as err:  # noqa: BLE001 - any decoder error means "not an image"
            return _Item("fail", key, error=f"unreadable image ({type(err).__name__}: {err})")
        w, h = _resized_size(width, height, self.size)
        state = _is_done(self.done, key, digest, (h, w))
        if state:
            return _Item("skip", key, digest)
        try:
            mask = self.files.decode(mask_data, key)
            check_size(mask, (height, width), self.files.path_for(key))
        except MaskFileError as err:
            return _Item("fail", key, error=str(err), kind="mask")
        return _Item("mask", key, digest, mask=_resize_mask(mask, self.size), resized=state is None)

    def __getitem__(self, i: int) -> _Item:
        key = self.keys[i]
        try:
            data = (self.root / key).read_bytes()
        except OSError as err:
            return _Item("fail", key, error=f"unreadable: {err}")
        if self.files is not None:
            return self._from_file(key, data)
        digest = content_hash(data)
        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = _resized_size(*im.size, self.size)
                state = _is_done(self.done, key, digest, (h, w))
                if state:
                    return _Item("skip", key, digest)
                im.load()
                item = _to_item(key, digest, im, self.size)
                item.resized = state is None
                return item
        except UnidentifiedImageError:
            return _Item("fail", key, error="not an image (PIL cannot identify the file)")
        except Exception as err:  # noqa: BLE001 - any decoder error means "not an image"
            return _Item("fail", key, error=f"unreadable image ({type(err).__name__}: {err})")


class _DatasetItems(Dataset):
    def __init__(
        self,
        dataset: Any,
        indices: list[int],
        done: dict[str, tuple[str, tuple[int, int]]],
        size: int | None,
        source: MaskSource | None,
    ):
        self.dataset, self.indices, self.done, self.size = dataset, indices, done, size
        self.source = source

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> _Item:
        index = self.indices[i]
        key = index_key(index)
        try:
            image = _as_pil(self.dataset[index][0])
        except Exception as err:  # noqa: BLE001 - report and go on
            return _Item("fail", key, error=f"could not load item {index}: {err}")
        digest = content_hash(np.asarray(image))
        w, h = _resized_size(*image.size, self.size)
        state = _is_done(self.done, key, digest, (h, w))
        if state:
            return _Item("skip", key, digest)
        if self.source is None:
            item = _to_item(key, digest, image, self.size)
            item.resized = state is None
            return item
        try:
            mask = self.source.lookup(index, key)
        except MaskFileError as err:
            return _Item("fail", key, error=str(err), kind="mask")
        return _Item("mask", key, digest, mask=_resize_mask(mask, self.size), resized=state is None)


def _as_pil(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.is_floating_point():
            t = (t * 255).round().clamp(0, 255)
        return Image.fromarray(t.to(torch.uint8).permute(1, 2, 0).numpy()).convert("RGB")
    if isinstance(image, np.ndarray):
        return Image.fromarray(image).convert("RGB")
    raise ValueError(f"dataset items must be PIL images, tensors or arrays, got {type(image)}")


def _as_list(batch: list[_Item]) -> list[_Item]:
    return batch


def _local_device(device: str | None) -> str | None:
    """Under torchrun, plain "cuda" (or auto) means this process's GPU, LOCAL_RANK."""
    local = os.environ.get("LOCAL_RANK")
    if local is None or not torch.cuda.is_available() or device not in (None, "auto", "cuda"):
        return device
    return f"cuda:{int(local)}"


def build_segmenter(
    name: str | Segmenter | MaskSource | ResolvedMasks,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | None = None,
    dataset: Any = None,
    **options: Any,
) -> Segmenter | MaskSource:
    """Build a segmenter, or a mask source, from CLI-style arguments.

    The spec is read by :func:`segaug.masks.resolve.resolve_masks`.

    Args:
        name: A segmenter name (``classical``, ``deeplabv3``, ``sam``), or a mask
            source name or spec (``gt``, ``files:MASK_DIR?foreground=1,3``); or a
            built one, or a :class:`~segaug.masks.resolve.ResolvedMasks`.
        checkpoint: Weights file (``deeplabv3``, ``sam`` only).
        device: Device (``deeplabv3``, ``sam`` only; default CUDA when available, under
            torchrun this process's GPU).
        dataset: The dataset a ``gt`` source reads.
        **options: Extra constructor arguments (for a source: added to its spec options).

    Raises:
        ValueError: On an unknown name or an argument the segmenter does not take.
    """
    resolved = resolve_masks(
        name, argument="segmenter", kinds=PRECOMPUTE_KINDS, options=options,
        checkpoint=checkpoint, device=_local_device(device) or "auto", build=False,
    )  # fmt: skip
    if resolved.needs_dataset and dataset is None:
        raise mask_spec_error(
            resolved.argument, resolved.spec,
            f"source {resolved.name!r} reads dataset annotations, which a folder has none",
            "a dataset name as SRC (e.g. synthetic, oxford_iiit_pet), not a folder",
        )  # fmt: skip
    return resolved.build(dataset).masks  # type: ignore[return-value]


# ----------------------------------------------------------------------- the run
def precompute_masks(
    source: str | os.PathLike[str] | Dataset,
    out: str | os.PathLike[str],
    segmenter: str | Segmenter | MaskSource | ResolvedMasks = "classical",
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | None = None,
    batch_size: int = 16,
    workers: int = 0,
    size: int | None = 224,
    shard: str | tuple[int, int] | None = None,
    chunk_size: int = 256,
    split: str = "train",
    data_root: str | os.PathLike[str] | None = None,
    download: bool = False,
    segmenter_options: dict[str, Any] | None = None,
    progress: bool = True,
) -> Summary:
    """Compute and cache the masks of every image of ``source`` that lacks a valid one.

    Args:
        source: An image folder (searched recursively; keys are relative paths), a
            dataset name of :func:`segaug.data.registry.build_dataset`, or a dataset
            object yielding ``(image, label)`` (keys are :func:`index_key` indices).
        out: Cache directory (created when missing).
        segmenter: A segmenter name or a built :class:`Segmenter`; or a mask source:
            a :class:`MaskSource`, or its name or spec (``"gt"`` for a dataset's
            annotations, ``"files:MASK_DIR?foreground=1,3"`` for annotation files
            mirroring a source folder); or what
            :func:`~segaug.masks.resolve.resolve_masks` made of one.
        checkpoint: Weights file for ``deeplabv3`` / ``sam``.
        device: Device for ``deeplabv3`` / ``sam`` (default: CUDA when available).
        batch_size: Images per segmenter call (>= 1).
        workers: DataLoader worker processes reading images (>= 0).
        size: Shorter side the images are resized to before segmentation; masks are
            stored at that size. ``None`` keeps each image's own size.
        shard: ``"i/n"``: process only the keys of shard ``i`` of ``n`` (a stable
            hash of the key); default from torchrun's ``RANK``/``WORLD_SIZE``.
        chunk_size: Masks per cache chunk; at most this many are lost when killed.
        split: Split of a named dataset.
        data_root: Root folder of a named dataset.
        download: Let a named dataset download itself.
        segmenter_options: Extra keyword arguments for the segmenter.
        progress: Show a tqdm progress bar.

    Returns:
        A :class:`Summary` (print ``summary.format()``).

    Raises:
        ValueError: On a bad argument (the message names it).
        RuntimeError: If segmentation itself fails; masks computed so far are kept.
    """
    for arg, value, minimum in (("batch_size", batch_size, 1), ("workers", workers, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{arg} must be an int >= {minimum}, got {value!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 8):
        raise ValueError(f"size must be an int >= 8 or None, got {size!r}")
    shard_i, shard_n = parse_shard(shard)
    start = time.perf_counter()

    dataset, root, keys, ignored = _resolve_source(source, split, data_root, download)
    seg = build_segmenter(
        segmenter, checkpoint, device, dataset=dataset, **(segmenter_options or {})
    )
    source = seg if isinstance(seg, MaskSource) else None
    if source is not None and not source.by_path and dataset is None:
        raise ValueError(f"source {source.name!r} needs a dataset source, got a folder")
    if source is not None and source.by_path and dataset is not None:
        raise ValueError(
            f"source {source.name!r} reads mask files by image path: SRC must be an image "
            "folder, not a dataset"
        )

    cache = MaskCache(out, config_id=seg.config_id)
    label_maps = bool(getattr(seg, "label_maps", False))  # region ids, stored as uint8
    writer = cache.writer(
        seg.config_id, chunk_size=chunk_size, writer_id=_writer_id(shard_i, shard_n),
        label_maps=label_maps,
    )  # fmt: skip
    done = {k: (digest, cache.shape(k)) for k, digest in cache.valid_entries().items()}
    mine = [k for k in keys if shard_n == 1 or shard_of(k, shard_n) == shard_i]
    if dataset is None:
        files = source if isinstance(source, FileMasks) else None
        items: Dataset = _FolderItems(root, mine, done, size, files)
    else:
        items = _DatasetItems(dataset, [int(k) for k in mine], done, size, source)
    summary = Summary(
        out=str(out), config_id=seg.config_id, total=len(mine), ignored=ignored,
        shard=(shard_i, shard_n), label_maps=label_maps,
    )  # fmt: skip
    loader = DataLoader(
        items, batch_size=batch_size, num_workers=workers, collate_fn=_as_list, shuffle=False
    )
    abort_after = int(os.environ.get(ABORT_ENV, "0") or 0)
    buckets: dict[tuple[int, int], list[_Item]] = {}
    failures: dict[str, tuple[str, str]] = {}

    def run(bucket: list[_Item]) -> None:
        batch = torch.stack([it.image for it in bucket]).float().div_(255.0)
        try:
            masks = seg(batch).squeeze(1).to("cpu", torch.uint8).numpy()
        except Exception as err:
            raise RuntimeError(
                f"segmenter {seg.config_id} failed on a batch of {len(bucket)} images "
                f"(first: {bucket[0].key}): {type(err).__name__}: {err}"
            ) from err
        for it, mask in zip(bucket, masks, strict=True):
            writer.add(it.key, it.digest, mask)
        summary.done += len(bucket)
        summary.resized += sum(it.resized for it in bucket)
        if abort_after and writer.written >= abort_after:
            os.kill(os.getpid(), signal.SIGKILL)

    bar = tqdm(total=len(mine), unit="img", disable=not progress, desc="masks")
    try:
        for batch in loader:
            for it in batch:
                if it.status == "skip":
                    summary.skipped += 1
                elif it.status == "fail":
                    summary.failed.append((it.key, it.error))
                    failures[it.key] = (it.kind, it.error)
                elif it.status == "mask":  # looked up by a mask source
                    writer.add(it.key, it.digest, it.mask)
                    summary.done += 1
                    summary.resized += it.resized
                    if abort_after and writer.written >= abort_after:
                        os.kill(os.getpid(), signal.SIGKILL)
                else:
                    shape = tuple(it.image.shape[1:])
                    bucket = buckets.setdefault(shape, [])
                    bucket.append(it)
                    if len(bucket) >= batch_size:
                        run(buckets.pop(shape))
                    elif sum(len(b) for b in buckets.values()) >= 4 * batch_size:
                        # Many distinct shapes (mixed aspect ratios): bound the memory
                        # held by partial batches by running the fullest one.
                        run(buckets.pop(max(buckets, key=lambda k: len(buckets[k]))))
                bar.update(1)
        for bucket in buckets.values():
            run(bucket)
    finally:
        writer.close()
        bar.close()
        cache.record_failures(failures, writer.writer_id)
    cache.refresh()
    summary.coverage = cache.coverages(mine)
    if label_maps:
        summary.regions = cache.region_counts(mine)
    summary.seconds = time.perf_counter() - start
    return summary


def _writer_id(shard_i: int, shard_n: int) -> str:
    return f"s{shard_i}of{shard_n}-p{os.getpid()}-{os.urandom(3).hex()}"


def _resolve_source(
    source: str | os.PathLike[str] | Dataset,
    split: str,
    data_root: str | os.PathLike[str] | None,
    download: bool,
) -> tuple[Any, Path, list[str], list[str]]:
    """-> (dataset or None, folder root, keys, ignored files)."""
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        root = Path(source)
        keys, ignored = list_images(root)
        if not keys:
            raise ValueError(
                f"source folder {str(root)!r} contains no images ({', '.join(IMAGE_EXTENSIONS)})"
            )
        return None, root, keys, ignored
    if isinstance(source, str):
        from segaug.data.registry import build_dataset, list_datasets

        if source.lower() not in list_datasets():
            raise ValueError(
                f"source must be an existing image folder or a dataset name "
                f"({', '.join(list_datasets())}), got {source!r}"
            )
        dataset = build_dataset(source.lower(), root=data_root, split=split, download=download)
    elif isinstance(source, os.PathLike):
        raise ValueError(f"source folder {str(source)!r} does not exist")
    elif hasattr(source, "__getitem__") and hasattr(source, "__len__"):
        dataset = source
    else:
        raise ValueError(
            f"source must be a folder, a dataset name or a dataset, got {type(source).__name__}"
        )
    if len(dataset) == 0:
        raise ValueError("source dataset is empty")
    return dataset, Path("."), [index_key(i) for i in range(len(dataset))], []

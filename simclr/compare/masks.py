"""The masks a study's rows train with beyond the exact ones: their caches and quality.

A recipe row with ``segmenter_masks`` or ``degraded_masks`` trains with masks that are
not the dataset's exact ones. Each such set is computed once per study, over the
training images every run reads (the same rendering for every seed), into the study's
``masks/<name>/`` folder with :func:`segaug.masks.precompute.precompute_masks`, so a
resumed study reuses it and a run reads it as any ``data.masks`` cache. Its **quality**
is measured there against the exact masks: the mean IoU and the share of images whose
mask covers less than 5% or more than 90% of the image (which region augmentation
treats as unreliable and sends to the global pipeline).

Example:
    >>> from simclr.compare.settings import CompareSettings
    >>> s = CompareSettings(recipes=("background_fill",), degraded_masks=(0.75,),
    ...                     num_samples=64, image_size=16, seeds=(0,))
    >>> import tempfile
    >>> quality = build_mask_caches(s, Path(tempfile.mkdtemp()), progress=False)
    >>> q = quality["iou=0.75"]
    >>> q["label"], abs(q["iou"] - 0.75) < 0.03, sorted(q)[:4]
    ('masks at IoU 0.75', True, ['exact_fallback', 'fallback', 'images', 'iou'])
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from segaug.constants import RELIABLE_COVERAGE
from simclr.compare.plan import (
    DEGRADED_PREFIX,
    label_map_masks,
    mask_cache_dir,
    mask_variants,
    masks_label,
    rendered_data_options,
)

if TYPE_CHECKING:
    from simclr.compare.settings import CompareSettings

__all__ = ["best_region_iou", "build_mask_caches", "fallback_share", "training_images"]


def training_images(s: CompareSettings) -> Any:
    """The training split every recipe run of the study reads (rendered as the trainer does)."""
    from segaug.data import build_dataset, get_dataset_info

    options = get_dataset_info(s.dataset).pretrain_options(s.image_size, s.num_samples)
    options.update(rendered_data_options(s))  # as the trainer merges data.params
    return build_dataset(s.dataset, None, split="train", **options)


def fallback_share(masks: np.ndarray) -> float:
    """Share of masks outside :data:`segaug.constants.RELIABLE_COVERAGE` (global pipeline).

    Example:
        >>> import numpy as np
        >>> m = np.zeros((4, 10, 10), np.uint8); m[1, :5] = 1; m[2, :] = 1; m[3, :1, :1] = 1
        >>> fallback_share(m)  # empty, full and 1% masks fall back; the 50% one does not
        0.75
    """
    lo, hi = RELIABLE_COVERAGE
    coverage = (np.asarray(masks) > 0).mean(axis=(1, 2))
    return float(((coverage < lo) | (coverage > hi)).mean())


def best_region_iou(labels: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Per image, the IoU of the one labelled region that best matches the exact mask.

    What a label map (``felzenszwalb``) offers a region-pooling loss: the object is one
    of its regions only as far as some region covers it alone.

    Example:
        >>> import numpy as np
        >>> exact = np.zeros((1, 4, 4), np.uint8); exact[0, :2] = 1
        >>> labels = np.ones((1, 4, 4), np.uint8); labels[0, :2, :3] = 2  # 6 of 8 pixels
        >>> best_region_iou(labels, exact).round(2).tolist()
        [0.75]
    """
    out = np.zeros(len(labels))
    for i, (lab, ex) in enumerate(zip(labels, np.asarray(exact) > 0, strict=True)):
        best = 0.0
        for region in np.unique(lab[lab > 0]):
            inside = lab == region
            union = np.logical_or(inside, ex).sum()
            best = max(best, float(np.logical_and(inside, ex).sum() / union) if union else 0.0)
        out[i] = best
    return out


def _segmenter(s: CompareSettings, name: str) -> Any:
    from segaug.masks.resolve import resolve_masks, segmenter_loads_weights

    weights = segmenter_loads_weights(name)
    return resolve_masks(
        name,
        argument="segmenter_masks",
        kinds=("segmenter",),
        checkpoint=s.mask_checkpoint if weights else None,
        device=None if s.device == "auto" else s.device,
    )


def build_mask_caches(
    s: CompareSettings, study: Path, progress: bool = True
) -> dict[str, dict[str, Any]]:
    """Fill the study's mask cache of every :func:`~simclr.compare.plan.mask_variants` entry.

    A cache whose ``quality.json`` exists is complete and kept (a resumed study); an
    interrupted one is completed (precompute skips the masks already there).

    Args:
        s: The settings.
        study: The study folder.
        progress: Show precompute's progress bar.

    Returns:
        ``{masks: quality}`` with, per entry, ``label``, ``iou`` (mean against the exact
        masks; for label maps, of the best-matching region, :func:`best_region_iou`),
        ``iou_std``, ``label_maps``, ``regions`` (labelled regions per image),
        ``fallback`` and ``exact_fallback`` (shares of images outside the reliable
        coverage), ``images``, ``seconds`` and ``masks_per_s``.
    """
    from segaug.io import atomic_write
    from segaug.masks import MaskCache, index_key
    from segaug.masks.degrade import DegradedMasks, mask_iou
    from segaug.masks.precompute import precompute_masks

    variants = mask_variants(s)
    if not variants:
        return {}
    base = training_images(s)
    exact = np.asarray(base.masks)
    quality: dict[str, dict[str, Any]] = {}
    for masks in variants:
        folder = mask_cache_dir(study, masks)
        done = folder / "quality.json"
        if done.is_file():
            quality[masks] = json.loads(done.read_text())
            continue
        t0 = time.perf_counter()
        if masks.startswith(DEGRADED_PREFIX):
            source: Any = DegradedMasks(exact, float(masks[len(DEGRADED_PREFIX) :]), seed=0)
        else:
            source = _segmenter(s, masks)
        size = int(exact.shape[-1])  # the rendered size (at least 16 px), as the images
        precompute_masks(base, folder, source, size=size, progress=progress)
        seconds = time.perf_counter() - t0
        cache = MaskCache(folder)
        got = np.stack(
            [cache.load_at(int(p)) for p in cache.positions(map(index_key, range(len(base))))]
        )
        label_maps = label_map_masks(masks)
        ious = best_region_iou(got, exact) if label_maps else mask_iou(got, exact)
        quality[masks] = {
            "masks": masks,
            "label": masks_label(masks).strip(" []"),
            "iou": float(np.nanmean(ious)),
            "iou_std": float(np.nanstd(ious)),
            "label_maps": label_maps,
            "regions": float(np.mean([len(np.unique(g[g > 0])) for g in got])),
            "fallback": fallback_share(got),
            "exact_fallback": fallback_share(exact),
            "images": len(base),
            "size": size,
            "seconds": seconds,
            "masks_per_s": len(base) / seconds,
        }
        atomic_write(done, json.dumps(quality[masks], indent=1))
    return quality

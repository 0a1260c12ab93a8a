"""ObjectsOnPhotos on this machine: objects per class, filter removals, rendering speed.

Measures, for the objects and photo folders given (by default Debian's
``openclipart-png`` and ``mate-backgrounds``):

  counts      kept cutouts per class (train and test objects) and what each filter
              removed (``count_objects``: every file decoded once)
  render      per image size: the time to build a "test" instance (decoding and
              pre-resizing its cutouts and photos), images/s of ``get_batch`` (image and
              mask), of ``ds[i]`` (one PIL image, what a DataLoader worker does) and of
              ``get_backgrounds``, and the share of the image the masks cover
  grabcut     with --grabcut-count N > 0: mean IoU of the weight-free ``classical``
              segmenter (GrabCut) against the exact masks of the first N test images per
              size, and its masks/s (one process), for each segmenter spec of
              --grabcut-specs (default: ``classical``, the defaults)
  compact     with --compact-copy DIR: instead of the above, writes the dataset's
              compact copy to DIR (``compact_copy``: the kept cutouts shrunk to
              --max-side, the photos as they are), its time and size, and, per size, how
              the copy's samples differ from the source's: the same objects per class
              and side and the same placements (checked), the mean absolute pixel
              difference and the masks' IoU over --num-samples "train" and "test" images

Example:
    python benchmarks/photos_dataset.py --sizes 32 64 224 --json photos_dataset.json
    python benchmarks/photos_dataset.py --all-folders --sizes 32 --num-samples 200
    python benchmarks/photos_dataset.py --compact-copy .device/photos --sizes 32 64 128
    python benchmarks/photos_dataset.py --sizes 64 224 --num-samples 100 --grabcut-count 100 \
        --grabcut-specs classical "classical?work_size=128&iterations=5&workers=2"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mask_throughput import iou_of  # noqa: E402  (IoU per image)
from synthetic_speed import _rate  # noqa: E402  (best-of-repeats items per second)

from segaug.data.photos import (  # noqa: E402
    DEFAULT_OBJECTS,
    FILTER_REASONS,
    ObjectsOnPhotos,
    compact_copy,
    count_objects,
)
from segaug.env import machine_info, machine_summary  # noqa: E402
from segaug.masks import create_segmenter  # noqa: E402


def _counts(args) -> dict:
    classes = None
    if args.all_folders:
        folder = Path(args.objects) if args.objects else DEFAULT_OBJECTS
        classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    start = time.perf_counter()
    counts = count_objects(args.objects, classes)
    seconds = time.perf_counter() - start
    short = {"unreadable": "unread", "duplicate": "dup"}
    names = [short.get(r, r) for r in FILTER_REASONS]
    print(f"counts ({seconds:.0f} s to decode every file once):")
    print(
        f"  {'class':20s} {'files':>6} {'train':>6} {'test':>5} {'kept':>5}  "
        + " ".join(f"{n:>6}" for n in names)
    )
    for name, row in counts.items():
        kept = row["train"] + row["test"]
        removed = " ".join(f"{row['removed'][r]:>6}" for r in FILTER_REASONS)
        print(
            f"  {name:20s} {row['files']:>6} {row['train']:>6} {row['test']:>5} {kept:>5}  "
            f"{removed}"
        )
    totals = {r: sum(row["removed"][r] for row in counts.values()) for r in FILTER_REASONS}
    files = sum(row["files"] for row in counts.values())
    kept = sum(row["train"] + row["test"] for row in counts.values())
    print(
        f"  {'all':20s} {files:>6} {'':>6} {'':>5} {kept:>5}  "
        + " ".join(f"{totals[r]:>6}" for r in FILTER_REASONS)
    )
    return {"seconds": seconds, "classes": counts, "removed": totals, "files": files, "kept": kept}


def _render(args, size: int) -> tuple[dict, ObjectsOnPhotos]:
    n = args.num_samples
    start = time.perf_counter()
    ds = ObjectsOnPhotos(
        "test",
        size=size,
        num_samples=max(n, args.grabcut_count),
        objects=args.objects,
        backgrounds=args.backgrounds,
    )
    build = time.perf_counter() - start
    idx = np.arange(n)
    batch = _rate(lambda: ds.get_batch(idx), n, args.repeats)
    single = _rate(lambda: [ds[i] for i in range(n)], n, args.repeats)
    backgrounds = _rate(lambda: ds.get_backgrounds(idx), n, args.repeats)
    cover = ds.get_batch(idx)[1].reshape(n, -1).mean(1)
    row = {
        "size": size,
        "build_seconds": build,
        "get_batch_per_s": batch,
        "getitem_per_s": single,
        "get_backgrounds_per_s": backgrounds,
        "coverage_mean": float(cover.mean()),
        "coverage_p5_p50_p95": [float(v) for v in np.percentile(cover, [5, 50, 95])],
    }
    p5, p50, p95 = row["coverage_p5_p50_p95"]
    print(
        f"  {size:>5} {build:>8.1f} {batch:>10.0f} {single:>9.0f} {backgrounds:>9.0f}"
        f"   {cover.mean():.2f} ({p5:.2f} / {p50:.2f} / {p95:.2f})"
    )
    return row, ds


def _grabcut(ds: ObjectsOnPhotos, count: int, spec: str) -> dict:
    images, masks, _ = ds.get_batch(np.arange(count))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    segmenter = create_segmenter(spec)
    start = time.perf_counter()
    pred = segmenter(x)[:, 0].numpy()
    seconds = time.perf_counter() - start
    iou = iou_of(pred, masks)
    row = {
        "size": ds.size,
        "spec": spec,
        "images": count,
        "mean_iou": float(iou.mean()),
        "median_iou": float(np.median(iou)),
        "masks_per_s": count / seconds,
    }
    print(
        f"  {ds.size:>5} {row['mean_iou']:>9.3f} {row['median_iou']:>11.3f} "
        f"{row['masks_per_s']:>8.1f}  {spec}"
    )
    return row


def _compact(args) -> dict:
    """Write the compact copy and compare its samples with the source's, per size."""
    dest = Path(args.compact_copy)
    start = time.perf_counter()
    made = compact_copy(dest, args.objects, args.backgrounds, max_side=args.max_side)
    seconds = time.perf_counter() - start
    kept = sum(row["train"] + row["test"] for row in made["objects"].values())
    print(
        f"compact copy: {kept} cutouts ({made['full_size']} at full size) and "
        f"{made['photos']} photos, {made['bytes'] / 2**20:.1f} MiB, {seconds:.0f} s -> {dest}"
    )
    print(f"  {'size':>5} {'split':>6} {'same objects':>13} {'mean |diff|':>12} {'mask IoU':>9}")
    rows = []
    for size in args.sizes:
        for split in ("train", "test"):
            pair = [
                ObjectsOnPhotos(
                    split, size=size, num_samples=args.num_samples, objects=o, backgrounds=b
                )
                for o, b in (
                    (args.objects, args.backgrounds),
                    (dest / "objects", dest / "backgrounds"),
                )
            ]
            same = pair[0].objects == pair[1].objects
            places = [[ds.get_placement(i) for i in range(len(ds))] for ds in pair]
            same_draws = all(
                (a.label, a.family, a.object_file, a.crop_box)
                == (b.label, b.family, b.object_file, b.crop_box)
                for a, b in zip(*places, strict=True)
            )
            (img0, mask0, _), (img1, mask1, _) = (ds.get_batch(np.arange(len(ds))) for ds in pair)
            diff = float(np.abs(img0.astype(np.int16) - img1.astype(np.int16)).mean())
            iou = float(iou_of(mask1, mask0).mean())
            row = {"size": size, "split": split, "same_objects": same, "same_draws": same_draws,
                   "mean_abs_diff": diff, "mask_iou": iou}  # fmt: skip
            rows.append(row)
            ok = "yes" if same and same_draws else "NO"
            print(f"  {size:>5} {split:>6} {ok:>13} {diff:>12.2f} {iou:>9.3f}")
    return {"seconds": seconds, **made, "comparison": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", default=None, help="objects folder (default: Debian's)")
    parser.add_argument("--backgrounds", default=None, help="photos folder (default: Debian's)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 224])
    parser.add_argument("--num-samples", type=int, default=1000, help="images per rate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grabcut-count", type=int, default=0, help="test images for GrabCut")
    parser.add_argument(
        "--grabcut-specs", nargs="+", default=["classical"], help="segmenter specs to measure"
    )
    parser.add_argument(
        "--all-folders", action="store_true", help="count every top-level folder, not the classes"
    )
    parser.add_argument(
        "--compact-copy", default=None, metavar="DIR", help="write a compact copy to DIR instead"
    )
    parser.add_argument("--max-side", type=int, default=128, help="compact copy: cutout side")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    if args.num_samples < 1 or args.repeats < 1 or args.grabcut_count < 0:
        parser.error("--num-samples and --repeats must be >= 1, --grabcut-count >= 0")

    info = machine_info()
    print(f"machine: {machine_summary(info)} (a shared machine gives lower, noisier rates)")
    if args.compact_copy:
        try:
            result = {"machine": info, "compact_copy": _compact(args)}
        except (ValueError, FileNotFoundError) as err:
            parser.error(f"--compact-copy: {err}")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
            print(f"wrote {args.json}")
        return
    result: dict = {"machine": info, "counts": _counts(args), "render": [], "grabcut": []}
    print(
        "render ('test' split; build = decode and pre-resize; images/s, best of "
        f"{args.repeats}; mask coverage mean (p5 / p50 / p95)):"
    )
    print(f"  {'size':>5} {'build s':>8} {'get_batch':>10} {'ds[i]':>9} {'bg only':>9}   coverage")
    datasets = []
    for size in args.sizes:
        row, ds = _render(args, size)
        result["render"].append(row)
        datasets.append(ds)
    if args.grabcut_count:
        print(
            f"grabcut (classical segmenter, first {args.grabcut_count} test images, one process):"
        )
        print(f"  {'size':>5} {'mean IoU':>9} {'median IoU':>11} {'masks/s':>8}  spec")
        for ds in datasets:
            for spec in args.grabcut_specs:
                result["grabcut"].append(_grabcut(ds, args.grabcut_count, spec))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

"""Two-view augmentation throughput: RegionAugment vs per-image and global pipelines.

Pipelines, measured side by side in one run (machines are noisy: read the ratios):

  (a) region-batched   RegionAugment, thesis recipe, batched on the device
  (b) region-per-image the same recipe per image with torchvision.transforms.v2 and
                       mask compositing, the way the thesis code does it
  (c) kornia-global    kornia AugmentationSequential, global SimCLR, batched
  (d) tv-global        torchvision.transforms.v2 global SimCLR, per image

Targets (2-core CPU): (a) >= 2.5x (b) at 96 px, and (a) >= 0.9x (c).

Usage:
    python benchmarks/augment_throughput.py                 # CPU, 32/96/224 px
    python benchmarks/augment_throughput.py --device cuda   # adds nothing on CPU-only machines
    python benchmarks/augment_throughput.py --sizes 96 --seconds 3 --compile
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from segaug import recipes  # noqa: E402
from segaug.env import machine_info  # noqa: E402

BATCH = {32: 256, 96: 128, 224: 32}


def make_batch(n: int, size: int, device: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images and ellipse masks; about 10% of the masks are empty (fallback)."""
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    cx = torch.rand(n, 1, 1, generator=g) * size * 0.5 + size * 0.25
    cy = torch.rand(n, 1, 1, generator=g) * size * 0.5 + size * 0.25
    r = torch.rand(n, 1, 1, generator=g) * size * 0.25 + size * 0.1
    masks = (((xx - cx) ** 2 + (yy - cy) ** 2) < r**2).to(torch.uint8)[:, None]
    masks[torch.rand(n, generator=g) < 0.1] = 0
    return images.to(device), masks.to(device)


# ----------------------------------------------------------------- pipelines
def region_batched(size: int, compile_ops: bool = False, select_rows: bool = True) -> Callable:
    aug = recipes.thesis(output_size=size)
    aug.select_rows = select_rows
    if compile_ops:
        aug.compile_kernels()

    def run(images, masks):
        v1, v2 = aug.pair(images, masks)
        return v1.images, v2.images

    return run


def kornia_global(size: int) -> Callable:
    import kornia.augmentation as K

    ops = [
        K.RandomResizedCrop((size, size), scale=(0.08, 1.0)),
        K.RandomHorizontalFlip(),
        K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
        K.RandomGrayscale(p=0.2),
    ]
    if size > 32:
        k = max(3, int(0.1 * size) // 2 * 2 + 1)
        ops.append(K.RandomGaussianBlur((k, k), (0.1, 2.0), p=0.5))
    aug = K.AugmentationSequential(*ops)

    def run(images, masks):
        x = images.float() / 255
        return aug(x), aug(x)

    return run


def _tv_global_transform(size: int):
    import torchvision.transforms.v2 as T

    ops = [
        T.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
    ]
    if size > 32:
        k = max(3, int(0.1 * size) // 2 * 2 + 1)
        ops.append(T.RandomApply([T.GaussianBlur(k, (0.1, 2.0))], p=0.5))
    return T.Compose(ops)


def tv_global(size: int) -> Callable:
    t = _tv_global_transform(size)

    def run(images, masks):
        x = images.float() / 255
        v1 = torch.stack([t(img) for img in x])
        v2 = torch.stack([t(img) for img in x])
        return v1, v2

    return run


def region_per_image(size: int) -> Callable:
    """The thesis recipe per image with torchvision v2: composite, then crop (thesis 4.2.4)."""
    import torchvision.transforms.v2 as T
    from torchvision import tv_tensors

    k = max(3, int(0.1 * size) // 2 * 2 + 1)
    fg = T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8)
    bg = T.Compose(
        [T.RandomApply([T.GaussianBlur(k, (0.1, 2.0))], p=0.85), T.RandomGrayscale(p=0.3)]
    )
    geo = T.Compose(
        [T.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True), T.RandomHorizontalFlip()]
    )
    fallback = _tv_global_transform(size)

    def one(img, mask):
        cov = float(mask.float().mean())
        if cov < 0.05 or cov > 0.90:
            return fallback(img)
        m = mask.float()
        comp = fg(img) * m + bg(img) * (1 - m)
        out, _ = geo(comp, tv_tensors.Mask(mask))
        return out

    def run(images, masks):
        x = images.float() / 255
        v1 = torch.stack([one(img, m) for img, m in zip(x, masks, strict=True)])
        v2 = torch.stack([one(img, m) for img, m in zip(x, masks, strict=True)])
        return v1, v2

    return run


# ----------------------------------------------------------------- timing
def measure(fn: Callable, images, masks, seconds: float, device: str, warmup: int = 3) -> float:
    """Images per second (two views of each image count as one image)."""
    for _ in range(warmup):  # warm-up (and, for compiled kernels, compilation)
        fn(images, masks)
    if device == "cuda":
        torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while True:
        fn(images, masks)
        n += images.shape[0]
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 2 * images.shape[0]:
            return n / elapsed


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 96, 224])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--seconds", type=float, default=4.0, help="time per measurement")
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds; the best is kept"
    )
    parser.add_argument(
        "--per-image-batch", type=int, default=32, help="batch for per-image pipelines"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile(RegionAugment)"
    )
    parser.add_argument("--out", default="bench_results/augment_throughput.json")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")

    if args.compile:
        # One process compiles the kernels for three sizes and several subset shapes;
        # dynamo's default recompile limit (8 per code object) would fall back to eager.
        from torch import _dynamo

        for name in ("recompile_limit", "cache_size_limit"):
            if hasattr(_dynamo.config, name):
                setattr(_dynamo.config, name, 64)
    info = machine_info(args.device)
    print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()))
    rows = []
    for size in args.sizes:
        batch = BATCH.get(size, 64) if args.device == "cpu" else 256
        images, masks = make_batch(batch, size, args.device)
        small_images, small_masks = images[: args.per_image_batch], masks[: args.per_image_batch]
        pipelines = {
            "a_region_batched": (region_batched(size), images, masks),
            "a_region_branchless": (region_batched(size, select_rows=False), images, masks),
            "b_region_per_image": (region_per_image(size), small_images.cpu(), small_masks.cpu()),
            "c_kornia_global": (kornia_global(size), images, masks),
            "d_tv_global": (tv_global(size), small_images.cpu(), small_masks.cpu()),
        }
        if args.compile:
            pipelines["a_region_compiled"] = (region_batched(size, compile_ops=True), images, masks)
        best: dict[str, float] = {}
        for _ in range(args.rounds):  # interleave so load changes hit every pipeline alike
            for name, (fn, x, m) in pipelines.items():
                torch.manual_seed(0)
                best[name] = max(best.get(name, 0.0), measure(fn, x, m, args.seconds, args.device))
        row = {"size": size, "batch": batch, **{k: round(v, 1) for k, v in best.items()}}
        row["a_over_b"] = round(best["a_region_batched"] / best["b_region_per_image"], 2)
        row["a_over_c"] = round(best["a_region_batched"] / best["c_kornia_global"], 2)
        row["c_over_d"] = round(best["c_kornia_global"] / best["d_tv_global"], 2)
        row["branchless_over_a"] = round(best["a_region_branchless"] / best["a_region_batched"], 2)
        if args.compile:
            row["compiled_over_a"] = round(best["a_region_compiled"] / best["a_region_batched"], 2)
        rows.append(row)

    cols = [
        "size",
        "a_region_batched",
        "b_region_per_image",
        "c_kornia_global",
        "d_tv_global",
        "a_over_b",
        "a_over_c",
        "a_region_branchless",
        "branchless_over_a",
    ]
    if args.compile:
        cols += ["a_region_compiled", "compiled_over_a"]
    print(
        f"\ntwo-view images/s on {args.device} "
        f"(best of {args.rounds} interleaved rounds of {args.seconds}s)"
    )
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    result = {
        "benchmark": "augment_throughput",
        "machine": info,
        "rows": rows,
        "targets": {"a_over_b_at_96": 2.5, "a_over_c": 0.9},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    return result


if __name__ == "__main__":
    main()

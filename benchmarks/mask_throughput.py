"""Mask pipeline throughput: segmenters, the mask cache, and a DataLoader with masks.

Measures, on this machine:

  segment   images/s per segmenter at --size px (classical grabcut and saliency;
            DeepLabV3 resnet50 and mobilenet_v3_large with random weights at their
            default 520 px model resolution; SAM vit_b with random weights, 1024 px
            encoder, if --sam-count > 0), on CPU and, when present, CUDA
  quality   mean IoU of classical masks against SyntheticShapes ground truth
  cache     write and read rate (masks/s) at 96 px; median stored bytes per 224 px mask
  loader    DataLoader over a JPEG folder: images + cached masks vs images alone

Targets: cache read >= 20,000 masks/s at 96 px on CPU; median <= 1.5 KB per 224 px mask;
DataLoader with masks <= 1.2x the time of images alone.

Usage:
    python benchmarks/mask_throughput.py                      # full run (~3 min on 2 cores)
    python benchmarks/mask_throughput.py --sam-count 0 --count 4
    python benchmarks/mask_throughput.py --out bench_results/mask_throughput.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from segaug.data.masked import MaskedImageFolder, resize_pair, to_uint8_chw  # noqa: E402
from segaug.data.synthetic import SyntheticShapes  # noqa: E402
from segaug.env import machine_info  # noqa: E402
from segaug.masks import MaskCache, create_segmenter  # noqa: E402
from segaug.masks.cache import encode_mask  # noqa: E402
from segaug.masks.precompute import precompute_masks  # noqa: E402


def photos(n: int, size: int) -> torch.Tensor:
    from skimage import data

    base = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    out = []
    for i in range(n):
        t = torch.from_numpy(np.ascontiguousarray(base[i % 4])).permute(2, 0, 1)[None].float()
        out.append(F.interpolate(t, size=(size, size), mode="bilinear", antialias=True) / 255)
    return torch.cat(out).clamp(0, 1)


def timed(fn, repeat: int = 1) -> float:
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeat


def bench_segmenters(args, tmp: Path) -> list[dict]:
    import torchvision
    from segment_anything import sam_model_registry

    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    checkpoints = {}
    for backbone, builder in (
        ("resnet50", torchvision.models.segmentation.deeplabv3_resnet50),
        ("mobilenet_v3_large", torchvision.models.segmentation.deeplabv3_mobilenet_v3_large),
    ):
        path = tmp / f"deeplab_{backbone}.pth"
        model = builder(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
        torch.save(model.state_dict(), path)
        checkpoints[backbone] = path
    if args.sam_count:
        path = tmp / "sam_vit_b.pth"
        torch.save(sam_model_registry["vit_b"](checkpoint=None).state_dict(), path)
        checkpoints["sam"] = path

    configs = [
        ("classical grabcut", "classical", {}, args.count * 4, ["cpu"]),
        ("classical saliency", "classical", {"method": "saliency"}, args.count * 4, ["cpu"]),
        ("deeplabv3 resnet50 @520", "deeplabv3",
         {"checkpoint": checkpoints["resnet50"]}, args.count, devices),
        ("deeplabv3 mobilenet_v3 @520", "deeplabv3",
         {"backbone": "mobilenet_v3_large", "checkpoint": checkpoints["mobilenet_v3_large"]},
         args.count, devices),
    ]  # fmt: skip
    if args.sam_count:
        configs.append(
            ("sam vit_b center @1024", "sam", {"checkpoint": checkpoints["sam"]},
             args.sam_count, devices)
        )  # fmt: skip
    for label, name, kwargs, count, devs in configs:
        for device in devs:
            kw = dict(kwargs)
            if name != "classical":
                kw["device"] = device
            seg = create_segmenter(name, **kw)
            n = count * (8 if device == "cuda" else 1)
            x = photos(n, args.size)
            batch = min(n, args.batch_size)

            def run(seg=seg, x=x, batch=batch) -> None:
                for i in range(0, len(x), batch):
                    seg(x[i : i + batch])

            if name == "sam" and device == "cpu":
                start = time.perf_counter()  # too slow for a warm-up pass
                run()
                seconds = time.perf_counter() - start
            else:
                seconds = timed(run)
            rows.append({"segmenter": label, "device": device, "images": n,
                         "size": args.size, "images_per_s": n / seconds})  # fmt: skip
            print(f"  {label:32s} {device:5s} {n / seconds:9.2f} img/s", flush=True)
    return rows


def iou_of(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    pred, gt = pred.astype(bool), gt.astype(bool)
    inter = (pred & gt).sum((1, 2))
    union = (pred | gt).sum((1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def bench_quality(args) -> dict:
    ds = SyntheticShapes("test", size=64, num_samples=args.iou_count)
    images, gts, _ = ds.get_batch(list(range(len(ds))))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    out = {}
    for label, kw in (("classical grabcut", {}), ("classical saliency", {"method": "saliency"})):
        pred = create_segmenter("classical", **kw)(x)[:, 0].numpy()
        iou = iou_of(pred, gts)
        out[label] = {"mean_iou": float(iou.mean()), "median_iou": float(np.median(iou)),
                      "images": len(iou)}  # fmt: skip
        print(f"  {label:32s} mean IoU {iou.mean():.3f} (median {np.median(iou):.3f})")
    return out


def bench_cache(args, tmp: Path) -> dict:
    rng = np.random.default_rng(0)
    ds = SyntheticShapes("test", size=96, num_samples=256)
    base = [ds.get_mask(i) for i in range(len(ds))]
    masks = [base[i % len(base)] for i in range(args.cache_count)]
    root = tmp / "cache96"
    start = time.perf_counter()
    with MaskCache(root).writer("bench", chunk_size=4096) as w:
        for i, m in enumerate(masks):
            w.add(f"{i:08d}", "h", m)
    write_rate = len(masks) / (time.perf_counter() - start)

    cache = MaskCache(root)
    keys = [f"{i:08d}" for i in rng.permutation(len(masks))]
    cache.load(keys[0])  # index + payload
    start = time.perf_counter()
    for k in keys:
        cache.load(k)
    read_rate = len(keys) / (time.perf_counter() - start)
    pos = cache.positions(keys)
    start = time.perf_counter()
    for p in pos:
        cache.load_at(p)
    read_rate_pos = len(pos) / (time.perf_counter() - start)
    start = time.perf_counter()
    MaskCache(root).preload()
    open_seconds = time.perf_counter() - start

    ds224 = SyntheticShapes("test", size=224, num_samples=100)
    sizes = [len(encode_mask(ds224.get_mask(i))) for i in range(len(ds224))]
    sizes_classical = [len(encode_mask(m.astype(np.uint8))) for m in
                       create_segmenter("classical")(photos(8, 224))[:, 0].numpy()]  # fmt: skip
    out = {
        "masks": len(masks),
        "write_masks_per_s_96px": write_rate,
        "read_masks_per_s_96px_load_key": read_rate,
        "read_masks_per_s_96px_load_at": read_rate_pos,
        "open_index_seconds": open_seconds,
        "median_bytes_224px_synthetic_gt": float(np.median(sizes)),
        "median_bytes_224px_classical_photos": float(np.median(sizes_classical)),
    }
    for k, v in out.items():
        print(f"  {k:40s} {v:12.3f}")
    return out


def bench_loader(args, tmp: Path) -> dict:
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision.datasets import ImageFolder

    root = tmp / "jpegs"
    x = (photos(8, 256) * 255).round().to(torch.uint8)
    for i in range(args.loader_count):
        img = x[i % 8].permute(1, 2, 0).numpy()
        img = np.ascontiguousarray(np.roll(img, 7 * i, axis=1)[:, : 256 - (i % 3) * 32])
        (root / f"c{i % 4}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / f"c{i % 4}" / f"{i:05d}.jpg", quality=90)
    precompute_masks(root, tmp / "jpeg_masks", size=160, workers=0, progress=False)
    masked = MaskedImageFolder(root, masks=tmp / "jpeg_masks", size=args.loader_px)

    class ImagesOnly(Dataset):
        """The same decode + resize + crop, without the mask."""

        def __init__(self) -> None:
            self.folder = ImageFolder(str(root))

        def __len__(self) -> int:
            return len(self.folder)

        def __getitem__(self, i: int):
            pil, label = self.folder[i]
            image = to_uint8_chw(pil)
            image, _ = resize_pair(image, torch.zeros(1, 1, 1, dtype=torch.uint8), args.loader_px)
            return image, label

    out = {"images": args.loader_count, "size": args.loader_px}
    datasets = {"images": ImagesOnly(), "images+masks": masked}
    for workers in (0, 2):
        best = dict.fromkeys(datasets, float("inf"))
        # Interleave the two pipelines so that load from other processes hits both.
        for _ in range(args.loader_repeats):
            for label, ds in datasets.items():
                loader = DataLoader(ds, batch_size=32, num_workers=workers)
                start = time.perf_counter()
                for _batch in loader:
                    pass
                best[label] = min(best[label], time.perf_counter() - start)
        rates = {label: len(masked) / seconds for label, seconds in best.items()}
        ratio = rates["images"] / rates["images+masks"]
        out[f"workers{workers}"] = {**{f"{k}_per_s": v for k, v in rates.items()},
                                    "slowdown": ratio}  # fmt: skip
        print(f"  workers={workers}: images {rates['images']:.0f}/s, images+masks "
              f"{rates['images+masks']:.0f}/s, slowdown {ratio:.3f}x")  # fmt: skip
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=224, help="input size for segmenters")
    p.add_argument("--count", type=int, default=4, help="images per neural segmenter on CPU")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--sam-count", type=int, default=2, help="images for SAM vit_b (0: skip)")
    p.add_argument("--iou-count", type=int, default=200)
    p.add_argument("--cache-count", type=int, default=20000)
    p.add_argument("--loader-count", type=int, default=256)
    p.add_argument("--loader-px", type=int, default=96)
    p.add_argument("--loader-repeats", type=int, default=5)
    p.add_argument("--skip-segmenters", action="store_true")
    p.add_argument("--out", default="bench_results/mask_throughput.json")
    args = p.parse_args()

    torch.manual_seed(0)
    result: dict = {"machine": machine_info(), "args": vars(args)}
    print("machine:", json.dumps(result["machine"]))
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        print("cache:")
        result["cache"] = bench_cache(args, tmp)
        print("dataloader:")
        result["loader"] = bench_loader(args, tmp)
        print("quality (synthetic test split, 64 px):")
        result["quality"] = bench_quality(args)
        if not args.skip_segmenters:
            print(f"segmenters ({args.size} px input, batch {args.batch_size}):")
            result["segmenters"] = bench_segmenters(args, tmp)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

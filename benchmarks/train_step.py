"""Time one SimCLR training step, split into data loading, augmentation and forward/backward.

Prints a table, writes JSON and states the machine. Data come from the offline
synthetic dataset through ``MaskedDataset`` (decode + resize in the loader), the views
from a segaug recipe on the training device, and the step from
:func:`simclr.gradcache.forward_backward` + LARS, exactly as in ``simclr-train``.

``--compare-default`` instead times whole ``simclr-train`` epochs of ``segaug-compare``'s
pretraining configuration, before (ResNet-18 at width 0.25, LARS, items decoded and resized
one by one through ``MaskedDataset``) and after this round's changes (the CPU-sized
``convnet`` at width 0.5, AdamW, the whole split in memory with batched indexing), side by
side in one run, with the ratio.

Usage::

    python benchmarks/train_step.py --compare-default       # segaug-compare's budget, before/after
    python benchmarks/train_step.py --quick                 # CPU: batch 8, 3 timed steps
    python benchmarks/train_step.py --device cuda --batch-size 256 --precision bf16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from torch.utils.data import DataLoader

from segaug import recipes
from segaug.constants import IMAGENET_MEAN, IMAGENET_STD
from segaug.data.masked import MaskedDataset
from segaug.data.synthetic import SyntheticShapes
from segaug.env import machine_info
from simclr.gradcache import TrainModule, forward_backward
from simclr.methods import build_method
from simclr.models import build_backbone
from simclr.optim import LARS, param_groups

CASES = {
    "resnet18@32": ("resnet18", 32),
    "resnet18@96": ("resnet18", 96),
    "resnet50@224": ("resnet50", 224),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    arch, size = CASES[name]
    batch = args.batch_size
    ds = MaskedDataset(
        SyntheticShapes("train", size=size, num_samples=batch * (args.steps + 2)),
        masks="gt",
        size=size,
    )
    loader = iter(
        DataLoader(
            ds,
            batch_size=batch,
            shuffle=False,
            num_workers=args.workers,
            drop_last=True,
            pin_memory=device.type == "cuda",
        )
    )
    aug = recipes.build(args.recipe, output_size=size)
    torch.manual_seed(0)
    method = build_method("simclr", build_backbone(arch, size), {"temperature": 0.5})
    module = TrainModule(method).to(device)
    if args.channels_last:
        module = module.to(memory_format=torch.channels_last)
    opt = LARS(param_groups(module, 1e-6, True), lr=0.1, weight_decay=1e-6)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)

    def autocast():
        if dtype is None:
            return torch.autocast(device.type, enabled=False)
        return torch.autocast(device.type, dtype=dtype)

    scaler = torch.amp.GradScaler(device.type, enabled=args.precision == "fp16")
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    times = {"data": [], "augment": [], "forward_backward": []}
    for step in range(args.steps + 1):  # the first step warms up
        t0 = time.perf_counter()
        images, masks, _ = next(loader)
        images, masks = images.to(device), masks.to(device)
        sync(device)
        t1 = time.perf_counter()
        with torch.no_grad():
            v1, v2 = aug.pair(images, masks)
            views = [(v.images - mean) / std for v in (v1, v2)]
            if args.channels_last:
                views = [v.contiguous(memory_format=torch.channels_last) for v in views]
        sync(device)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        forward_backward(
            module,
            views,
            [v1.masks, v2.masks],
            None,
            1,
            autocast,
            lambda t: scaler.scale(t).backward(),
        )
        scaler.step(opt)
        scaler.update()
        sync(device)
        t3 = time.perf_counter()
        if step > 0:
            times["data"].append(t1 - t0)
            times["augment"].append(t2 - t1)
            times["forward_backward"].append(t3 - t2)
    med = {k: statistics.median(v) for k, v in times.items()}
    total = sum(med.values())
    return {
        "case": name,
        "device": str(device),
        "batch_size": batch,
        "precision": args.precision,
        "steps": args.steps,
        **{f"{k}_ms": 1000 * v for k, v in med.items()},
        "step_ms": 1000 * total,
        "images_per_s": batch / total,
        **{f"{k}_share": v / total for k, v in med.items()},
    }


def bench_compare_default(args: argparse.Namespace) -> list[dict]:
    """Images/s of segaug-compare's pretraining runs, before and after (same trainer)."""
    import tempfile
    from pathlib import Path
    from unittest import mock

    import simclr.data
    from simclr.compare import CompareSettings, RunSpec, train_config
    from simclr.train import train

    now = CompareSettings()
    before = CompareSettings(
        backbone="resnet18", width=0.25, optimizer="lars", lr=0.6, temperature=0.5
    )
    rows = []
    for name, s, in_memory in (("before", before, False), ("after", now, True)):
        s.num_samples, s.epochs = args.compare_samples, 2
        spec = RunSpec("bench", "recipe", "simclr", args.recipe, (), 0)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = train_config(s, spec, Path(tmp) / "run")
            ctx = (
                mock.patch.object(simclr.data, "_in_memory_ok", lambda *a: False)
                if not in_memory
                else mock.patch.object(simclr.data, "_in_memory_ok", simclr.data._in_memory_ok)
            )
            with ctx:
                t0 = time.perf_counter()
                train(cfg)
                seconds = time.perf_counter() - t0
        n = s.epochs * (s.num_samples // s.batch_size) * s.batch_size
        rows.append(
            {
                "case": name,
                "backbone": f"{s.backbone} x{s.width}",
                "optimizer": s.optimizer,
                "loader": "in memory, batched" if in_memory else "MaskedDataset per item",
                "recipe": args.recipe,
                "seconds": seconds,
                "images_per_s": n / seconds,
            }
        )
    rows[1]["speedup"] = rows[1]["images_per_s"] / rows[0]["images_per_s"]
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--compare-default",
        action="store_true",
        help="time segaug-compare's pretraining config, before and after",
    )
    p.add_argument("--compare-samples", type=int, default=2048)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="timed steps (after one warm-up)")
    p.add_argument("--quick", action="store_true", help="batch 8 and 3 steps (CPU)")
    p.add_argument("--recipe", default="thesis")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--json", default="bench_results/train_step.json")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size, args.steps = 8, 3
    device = torch.device(args.device)
    info = machine_info()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    if args.compare_default:
        rows = bench_compare_default(args)
        print(f"{'case':<8}{'backbone':<16}{'optimizer':<10}{'loader':<24}{'img/s':>8}{'ratio':>8}")
        for r in rows:
            ratio = f"{r.get('speedup', 1.0):.2f}x"
            print(
                f"{r['case']:<8}{r['backbone']:<16}{r['optimizer']:<10}{r['loader']:<24}"
                f"{r['images_per_s']:>8.0f}{ratio:>8}"
            )
        out = args.json.replace(".json", "_compare_default.json")
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            json.dump({"machine": info, "args": vars(args), "results": rows}, f, indent=2)
        print(f"wrote {out}")
        return
    print(
        f"recipe={args.recipe} batch={args.batch_size} precision={args.precision} "
        f"median of {args.steps} steps after 1 warm-up; method simclr + LARS"
    )
    rows = []
    header = (
        f"{'case':<14}{'data ms':>10}{'aug ms':>10}{'fwd+bwd ms':>12}{'step ms':>10}{'img/s':>9}"
    )
    print(header)
    for name in args.cases:
        r = bench(name, args, device)
        rows.append(r)
        print(
            f"{name:<14}{r['data_ms']:>10.1f}{r['augment_ms']:>10.1f}"
            f"{r['forward_backward_ms']:>12.1f}{r['step_ms']:>10.1f}{r['images_per_s']:>9.1f}"
        )
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": info, "args": vars(args), "results": rows}, f, indent=2)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

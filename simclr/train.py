"""``simclr-train``: the pretraining loop (devices, DDP, AMP, accumulation, checkpoints, logs).

The CLI is a thin layer over :func:`train`, which tests call directly::

    simclr-train                                   # ~1 min CPU smoke run (synthetic)
    simclr-train --config configs/cifar10_simclr.yaml --set optim.lr=0.5 data.batch_size=256
    simclr-train --config configs/synthetic_simclr.yaml --optim.lr 0.5 --accumulate 4
    simclr-train --set data.dataset=cifar10 --set data.root=/data  # --set repeats; all count
    simclr-train --resume runs/synthetic_simclr    # continue from runs/.../last.pt
    torchrun --nproc_per_node 8 -m simclr.train --config configs/imagenet_resnet50_thesis.yaml

One step: a per-process batch of ``(uint8 image, uint8 mask, label)`` is moved to the
device, augmented there once by :class:`segaug.RegionAugment` (``aug.pair``; one view
for MAE), normalised with the dataset statistics, and passed through
:func:`simclr.engine.forward_backward` (GradCache when ``train.accumulate > 1`` and the
loss couples samples). A non-finite loss stops the run before the optimiser step, so
the last checkpoint stays the last good one.

Run directory: ``config.yaml``, ``last.pt`` (+ ``epoch_XXXX.pt`` every
``checkpoint_every`` epochs), ``metrics.csv`` (per step), ``epochs.csv`` (per epoch:
loss, fallback rate, online probe accuracy), ``loss.png``, ``lr.png``, ``train.log`` and
TensorBoard events when ``tensorboard`` is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segaug.env import resolve_device
from simclr import checkpoint as ckpt_io
from simclr import distributed as dist_utils
from simclr.config import Config, apply_overrides, compatible_for_resume, load_config, save_config
from simclr.data import build_loader, build_pretrain_dataset, normalization_stats, num_classes_of
from simclr.engine import TrainModule, forward_backward
from simclr.methods import build_method
from simclr.models import build_backbone
from simclr.optim import build_optimizer, build_scheduler, scaled_lr

log = logging.getLogger("simclr.train")

STEP_FIELDS = [
    "step",
    "epoch",
    "loss",
    "lr",
    "images_per_s",
    "data_s",
    "augment_s",
    "compute_s",
    "online_probe_loss",
]
EPOCH_FIELDS = [
    "epoch",
    "step",
    "loss",
    "lr",
    "fallback_rate",
    "online_probe_acc",
    "epoch_s",
    "images_per_s",
]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/inf; the run stopped without saving the bad weights."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        output_dir: The run directory.
        step: Optimiser steps done in total.
        epoch: Completed epochs.
        epochs: Per-epoch metric rows (as in ``epochs.csv``) written by this call.
        last_checkpoint: Path of ``last.pt`` (None if nothing was saved).
    """

    output_dir: Path
    step: int
    epoch: int
    epochs: list[dict[str, float]] = field(default_factory=list)
    last_checkpoint: Path | None = None


# ------------------------------------------------------------------------- helpers


def autocast_factory(precision: str, device: torch.device) -> Callable[[], Any]:
    """A zero-argument factory of the autocast context for ``precision``."""
    if precision == "fp32":
        return contextlib.nullcontext
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("config 'train.precision' = 'fp16': needs CUDA; use 'bf16' or 'fp32'")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), numpy and python."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def build_augment(cfg: Config) -> nn.Module:
    """The segaug recipe named by ``augment.recipe`` (ValueError listing names if unknown)."""
    from segaug import recipes

    return recipes.build(
        cfg.augment.recipe, output_size=cfg.augment.output_size, **cfg.augment.params
    )


def build_train_module(cfg: Config, num_classes: int) -> TrainModule:
    """Backbone + method (+ online probe) from the config."""
    backbone = build_backbone(
        cfg.model.backbone,
        image_size=cfg.augment.output_size,
        width=cfg.model.width,
        stem=cfg.model.stem,
        norm=cfg.model.norm,
        patch_size=cfg.model.patch_size,
        depth=cfg.model.depth,
        zero_init_residual=cfg.model.zero_init_residual,
    )
    method = build_method(cfg.method.name, backbone, cfg.method.params, norm=cfg.model.norm)
    return TrainModule(method, num_classes if cfg.train.online_probe else 0)


class _CSV:
    """Append-only CSV that, on resume, first drops rows past the checkpoint."""

    def __init__(self, path: Path, fields: list[str], keep: Callable[[dict], bool] | None) -> None:
        self.path, self.fields = path, fields
        rows: list[dict] = []
        if keep is not None and path.exists():
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if keep(r)]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields).writerow(row)


def write_plots(out: Path) -> None:
    """``loss.png`` and ``lr.png`` from ``metrics.csv`` (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with (out / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    for key, name in (("loss", "loss.png"), ("lr", "lr.png")):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(steps, [float(r[key]) for r in rows])
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)


def _setup_logging(out: Path | None) -> None:
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    log.addHandler(stream)
    if out is not None:
        fh = logging.FileHandler(out / "train.log")
        fh.setFormatter(fmt)
        log.addHandler(fh)


# ---------------------------------------------------------------------------- train


def train(
    cfg: Config, resume: str | os.PathLike | None = None, augment: nn.Module | None = None
) -> TrainResult:
    """Run (or continue) pretraining as described by ``cfg``.

    Args:
        cfg: The run configuration (validated here).
        resume: A checkpoint file or run directory to continue from (``last.pt``).
        augment: Replace the configured segaug recipe (tests); must offer ``pair`` and
            ``__call__`` returning ``AugmentedBatch``-like objects.

    Returns:
        TrainResult with the final counters and the per-epoch metrics.

    Raises:
        ValueError: Bad configuration, unknown names, missing data or a checkpoint whose
            config does not match; raised before any training step.
        NonFiniteLossError: The loss became NaN/inf (the last good checkpoint is kept).
    """
    device_kind = resolve_device(cfg.train.device).type
    info = dist_utils.init_from_env(device_kind)
    device = resolve_device(cfg.train.device, info.local_rank)
    cfg.validate(info.world_size)
    is_main = info.rank == 0
    out = Path(cfg.train.output_dir)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
    _setup_logging(out if is_main else None)
    if not is_main:
        log.setLevel(logging.WARNING)
    autocast = autocast_factory(cfg.train.precision, device)

    state = None
    if resume is not None:
        state = ckpt_io.load_checkpoint(resume)
        diffs = compatible_for_resume(state["config"], cfg.to_dict())
        if diffs:
            raise ValueError(
                "resume: the checkpoint's config does not match this run: " + "; ".join(diffs)
            )

    # ---- data and augmentation (errors here come before any training)
    ds = build_pretrain_dataset(cfg.data)
    aug = augment if augment is not None else build_augment(cfg)
    aug.to(device)
    per_process = cfg.data.batch_size // info.world_size
    loader, sampler = build_loader(
        ds, per_process, info.rank, info.world_size, cfg.train.seed, cfg.data
    )
    steps_per_epoch = len(loader)
    mean, std = normalization_stats(cfg.data)
    mean_t = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, 3, 1, 1)

    # ---- model (same init on every rank), optimisers, schedule, scaler
    seed_everything(cfg.train.seed)
    module = build_train_module(cfg, num_classes_of(ds)).to(device)
    if cfg.train.channels_last:
        module = module.to(memory_format=torch.channels_last)
    lr = scaled_lr(cfg.optim, cfg.data.batch_size)
    optimizer = build_optimizer(module.method, cfg.optim, lr)
    probe_opt = (
        torch.optim.AdamW(module.probe.parameters(), lr=cfg.train.probe_lr, weight_decay=0.0)
        if module.probe is not None
        else None
    )
    scheduler = build_scheduler(optimizer, cfg.optim, steps_per_epoch, cfg.train.epochs)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.precision == "fp16")

    start_epoch, step, skip_batches = 0, 0, 0
    carried: dict[str, float] = {}
    seed_everything(cfg.train.seed + info.rank)
    if state is not None:
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if probe_opt is not None and state.get("probe_optimizer") is not None:
            probe_opt.load_state_dict(state["probe_optimizer"])
        start_epoch, step = state["epoch"], state["step"]
        skip_batches = state.get("batch_in_epoch", 0)
        carried = dict(state.get("meters", {}))
        rng = state["rng"]
        if len(rng) == info.world_size:
            ckpt_io.restore_rng(rng[info.rank], device)
        else:
            log.warning(
                "resume: checkpoint from %d process(es), now %d: RNG streams are reseeded, "
                "so the continuation is not bit-identical",
                len(rng),
                info.world_size,
            )
            seed_everything(cfg.train.seed + info.rank + 1000 * step)
        log.info("resumed from %s at epoch %d, step %d", resume, start_epoch, step)

    if info.enabled and device.type == "cuda" and cfg.model.sync_bn:
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    model: nn.Module = module
    if info.enabled:
        model = nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None
        )

    # ---- artefacts (rank 0)
    steps_csv = epochs_csv = tb = None
    if is_main:
        save_config(cfg, out / "config.yaml")
        keep_s = (lambda r: int(r["step"]) <= step) if state is not None else None
        keep_e = (lambda r: int(r["epoch"]) <= start_epoch) if state is not None else None
        steps_csv = _CSV(out / "metrics.csv", STEP_FIELDS, keep_s)
        epochs_csv = _CSV(out / "epochs.csv", EPOCH_FIELDS, keep_e)
        try:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(str(out / "tb"))
        except ImportError:
            tb = None
        n_params = sum(p.numel() for p in module.method.parameters())
        log.info(
            "%s + %s (%.2fM params), %d process(es) on %s, global batch %d = %d x %d "
            "micro-batches of %d, lr %.4g (%s), %d steps/epoch, recipe %s",
            cfg.method.name,
            cfg.model.backbone,
            n_params / 1e6,
            info.world_size,
            device,
            cfg.data.batch_size,
            info.world_size,
            cfg.train.accumulate,
            per_process // cfg.train.accumulate,
            lr,
            cfg.optim.name,
            steps_per_epoch,
            cfg.augment.recipe,
        )

    def save(epoch: int, batch_in_epoch: int, meters: dict[str, float], numbered: bool) -> Path:
        rngs = [ckpt_io.capture_rng(device)]
        if info.enabled:
            gathered: list[Any] = [None] * info.world_size
            torch.distributed.all_gather_object(gathered, rngs[0])
            rngs = gathered
        path = out / ckpt_io.LAST
        if is_main:
            if not ckpt_io.all_finite(module):
                raise NonFiniteLossError(
                    f"weights are not finite at step {step}; not overwriting {path}"
                )
            payload = {
                "model": module.state_dict(),
                "optimizer": optimizer.state_dict(),
                "probe_optimizer": probe_opt.state_dict() if probe_opt is not None else None,
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rngs,
                "epoch": epoch,
                "batch_in_epoch": batch_in_epoch,
                "step": step,
                "meters": meters,
                "config": cfg.to_dict(),
                "world_size": info.world_size,
            }
            ckpt_io.atomic_save(payload, path)
            if numbered:
                ckpt_io.atomic_save(payload, out / f"epoch_{epoch:04d}.pt")
        dist_utils.barrier()
        return path

    result = TrainResult(out, step, start_epoch)
    total_steps = steps_per_epoch * cfg.train.epochs
    max_steps = min(total_steps, cfg.train.max_steps or total_steps)
    global_batch = cfg.data.batch_size
    mask_fallback = 0.0

    try:
        for epoch in range(start_epoch, cfg.train.epochs):
            if step >= max_steps:
                break
            sampler.set_epoch(epoch, skip_batches * per_process)
            meters = {
                "loss_sum": 0.0,
                "steps": 0.0,
                "fallback": 0.0,
                "views": 0.0,
                "correct": 0.0,
                "seen": 0.0,
                "time": 0.0,
            }
            if carried:
                meters.update(carried)
                carried = {}
            batch_in_epoch = skip_batches
            skip_batches = 0
            bar = None
            if is_main and cfg.train.progress:
                from tqdm import tqdm

                bar = tqdm(
                    total=steps_per_epoch,
                    initial=batch_in_epoch,
                    desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
                    dynamic_ncols=True,
                    leave=True,
                )
            t_last = time.perf_counter()
            for images, masks, labels in loader:
                t0 = time.perf_counter()
                images = images.to(device, non_blocking=True)
                masks = masks.to(device, non_blocking=True)
                labels = labels.to(device, non_blocking=True)
                with torch.no_grad():
                    if module.method.num_views == 2:
                        views = list(aug.pair(images, masks))
                    else:
                        views = [aug(images, masks)]
                    imgs = [(v.images - mean_t) / std_t for v in views]
                    msks = [v.masks for v in views]
                    if cfg.train.channels_last:
                        imgs = [x.contiguous(memory_format=torch.channels_last) for x in imgs]
                    fb = sum(float(v.fallback.sum()) for v in views)
                t1 = time.perf_counter()

                optimizer.zero_grad(set_to_none=True)
                if probe_opt is not None:
                    probe_opt.zero_grad(set_to_none=True)
                res = forward_backward(
                    model,
                    imgs,
                    msks,
                    labels if module.probe is not None else None,
                    cfg.train.accumulate,
                    autocast,
                    lambda t: scaler.scale(t).backward(),
                )
                loss = float(dist_utils.all_reduce_mean(res.loss))
                if not math.isfinite(loss):
                    last = out / ckpt_io.LAST
                    raise NonFiniteLossError(
                        f"loss is {loss} at epoch {epoch + 1}, step {step + 1}; stopping before "
                        f"the optimiser step. The last good checkpoint is kept at {last} "
                        f"({'present' if last.exists() else 'none written yet'}). Try a lower "
                        "optim.lr, optim.grad_clip, a longer warm-up or train.precision=bf16/fp32."
                    )
                if cfg.optim.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(module.method.parameters(), cfg.optim.grad_clip)
                cur_lr = optimizer.param_groups[0]["lr"]
                scaler.step(optimizer)
                if probe_opt is not None:
                    scaler.step(probe_opt)
                scaler.update()
                scheduler.step()
                step += 1
                batch_in_epoch += 1
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t2 = time.perf_counter()

                dt = t2 - t_last
                t_last = t2
                ips = global_batch / max(dt, 1e-9)
                meters["loss_sum"] += loss
                meters["steps"] += 1
                meters["fallback"] += fb
                meters["views"] += len(views) * images.shape[0]
                meters["time"] += dt
                probe_loss = math.nan
                if res.probe_correct is not None:
                    meters["correct"] += float(res.probe_correct)
                    meters["seen"] += images.shape[0]
                    probe_loss = float(dist_utils.all_reduce_mean(res.probe_loss))
                if is_main and step % cfg.train.log_every == 0:
                    row = {
                        "step": step,
                        "epoch": epoch + 1,
                        "loss": f"{loss:.6f}",
                        "lr": f"{cur_lr:.6g}",
                        "images_per_s": f"{ips:.1f}",
                        "data_s": f"{t0 - (t2 - dt):.4f}",
                        "augment_s": f"{t1 - t0:.4f}",
                        "compute_s": f"{t2 - t1:.4f}",
                        "online_probe_loss": f"{probe_loss:.4f}",
                    }
                    steps_csv.write(row)
                    if tb is not None:
                        tb.add_scalar("train/loss", loss, step)
                        tb.add_scalar("train/lr", cur_lr, step)
                        tb.add_scalar("train/images_per_s", ips, step)
                if bar is not None:
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{cur_lr:.3g}", img_s=f"{ips:.0f}")
                    bar.update(1)
                every = cfg.train.checkpoint_every_steps
                if (every and step % every == 0 and batch_in_epoch < steps_per_epoch) or (
                    step >= max_steps and batch_in_epoch < steps_per_epoch
                ):
                    result.last_checkpoint = save(epoch, batch_in_epoch, dict(meters), False)
                if step >= max_steps:
                    break
            if bar is not None:
                bar.close()
            if batch_in_epoch < steps_per_epoch:
                break  # stopped by max_steps mid-epoch (already checkpointed)

            # ---- epoch end: reduce meters, log, checkpoint, plot
            sums = torch.tensor(
                [meters["fallback"], meters["views"], meters["correct"], meters["seen"]],
                dtype=torch.float64,
            )
            sums = dist_utils.all_reduce_sum(sums.to(device)).cpu()
            mask_fallback = float(sums[0] / max(sums[1], 1))
            acc = float(sums[2] / sums[3]) if sums[3] > 0 else math.nan
            row = {
                "epoch": epoch + 1,
                "step": step,
                "loss": meters["loss_sum"] / max(meters["steps"], 1),
                "lr": optimizer.param_groups[0]["lr"],
                "fallback_rate": mask_fallback,
                "online_probe_acc": acc,
                "epoch_s": meters["time"],
                "images_per_s": global_batch * meters["steps"] / max(meters["time"], 1e-9),
            }
            result.epochs.append(row)
            result.epoch = epoch + 1
            numbered = (epoch + 1) % cfg.train.checkpoint_every == 0
            result.last_checkpoint = save(epoch + 1, 0, {}, numbered)
            if is_main:
                epochs_csv.write(
                    {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
                )
                if tb is not None:
                    tb.add_scalar("epoch/fallback_rate", mask_fallback, epoch + 1)
                    tb.add_scalar("epoch/online_probe_acc", acc, epoch + 1)
                if cfg.train.plots:
                    write_plots(out)
                probe = (
                    f"  online probe acc {100 * acc:.1f}% (online, not the offline linear eval)"
                    if acc == acc
                    else ""
                )
                log.info(
                    "epoch %d/%d  loss %.4f  fallback %.1f%%%s  %.0f img/s",
                    epoch + 1,
                    cfg.train.epochs,
                    row["loss"],
                    100 * mask_fallback,
                    probe,
                    row["images_per_s"],
                )
    finally:
        if tb is not None:
            tb.close()
    result.step = step
    return result


# ------------------------------------------------------------------------------ CLI


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Parse known flags; ``--section.key value`` / ``--section.key=value`` become overrides."""
    p = argparse.ArgumentParser(
        prog="simclr-train",
        description="Self-supervised pretraining (SimCLR, MAE) with segaug augmentations.",
        epilog="Any config field can be set with --set section.key=value or --section.key value.",
    )
    p.add_argument("--config", help="YAML or TOML config file (default: the CPU smoke run)")
    p.add_argument(
        "--set",
        nargs="*",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides (repeatable; all are applied, in order)",
    )
    p.add_argument("--resume", help="checkpoint file or run directory (uses its last.pt)")
    p.add_argument("--accumulate", type=int, help="micro-batches per step (train.accumulate)")
    p.add_argument("--output-dir", help="run directory (train.output_dir)")
    p.add_argument("--epochs", type=int, help="train.epochs")
    p.add_argument("--batch-size", type=int, help="global batch size (data.batch_size)")
    p.add_argument("--seed", type=int, help="train.seed")
    p.add_argument("--device", help="auto, cpu or cuda (train.device)")
    p.add_argument("--precision", help="fp32, bf16 or fp16 (train.precision)")
    p.add_argument("--print-config", action="store_true", help="print the config and exit")
    args, rest = p.parse_known_args(argv)
    overrides = list(args.set)
    i = 0
    while i < len(rest):
        tok = rest[i]
        if not tok.startswith("--") or "." not in tok.split("=")[0]:
            p.error(f"unrecognised argument {tok!r}")
        if "=" in tok:
            overrides.append(tok[2:])
            i += 1
        else:
            if i + 1 >= len(rest):
                p.error(f"{tok} needs a value")
            overrides.append(f"{tok[2:]}={rest[i + 1]}")
            i += 2
    flags = {
        "accumulate": "train.accumulate",
        "output_dir": "train.output_dir",
        "epochs": "train.epochs",
        "batch_size": "data.batch_size",
        "seed": "train.seed",
        "device": "train.device",
        "precision": "train.precision",
    }
    for attr, key in flags.items():
        value = getattr(args, attr)
        if value is not None:
            overrides.append(f"{key}={value}")
    return args, overrides


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``simclr-train`` / ``python -m simclr.train``.

    Returns:
        0 on success; 2 after a user error (bad config value, missing dataset or
        checkpoint), printed as one ``simclr-train: error: ...`` line; 1 when the loss
        became non-finite.
    """
    from segaug.cli.errors import report_error, user_errors

    args, overrides = parse_args(argv)
    result = None
    try:
        with user_errors("simclr-train") as status:
            if args.config is None and args.resume is not None:
                saved = ckpt_io.load_checkpoint(args.resume)["config"]
                cfg = apply_overrides(Config.from_dict(saved), overrides)
            else:
                cfg = load_config(args.config, overrides)
            if args.print_config:
                import yaml

                print(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
                return 0
            resolve_device(cfg.train.device, name="config 'train.device'")  # named error
            result = train(cfg, resume=args.resume)
    except NonFiniteLossError as err:
        report_error("simclr-train", err)
        return 1
    finally:
        dist_utils.cleanup()
    if status.code or result is None:
        return status.code or 2
    if dist_utils.rank() == 0:
        print(f"done: {result.epoch} epochs, {result.step} steps, run dir {result.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

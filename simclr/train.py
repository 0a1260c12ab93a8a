"""``simclr-train``: the pretraining loop (devices, DDP, AMP, accumulation, checkpoints, logs).

The CLI is a thin layer over :func:`train`, which tests call directly::

    simclr-train                                   # ~1 min CPU smoke run (synthetic)
    simclr-train --config configs/cifar10_simclr.yaml --set optim.lr=0.5 data.batch_size=256
    simclr-train --config configs/synthetic_simclr.yaml --optim.lr 0.5 --accumulate 4
    simclr-train --set data.dataset=cifar10 --set data.root=/data  # --set repeats; all count
    simclr-train --resume runs/synthetic_simclr    # continue from runs/.../last.pt
    torchrun --nproc_per_node 8 -m simclr.train --config configs/imagenet_resnet50_thesis.yaml

The loop is a :class:`Trainer` whose small methods (``setup``, ``restore``,
``make_views``, ``train_step``, ``run_epoch``, ``end_epoch``, ``save``) call the
method's hooks (:class:`simclr.methods.Method`): the views it needs, its optimiser
parameter groups, before/after the optimiser step, and its extra checkpoint state.

One step: a per-process batch of ``(uint8 image, uint8 mask, label)`` is moved to the
device, augmented there once by :class:`segaug.RegionAugment` (``aug.pair``; one view
for MAE), normalised with the dataset statistics, and passed through
:func:`simclr.gradcache.forward_backward` (GradCache when ``train.accumulate > 1`` and the
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
import copy
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
from torch import Tensor, nn

from segaug.env import resolve_device
from simclr import checkpoint as ckpt_io
from simclr import distributed as dist_utils
from simclr.config import Config, apply_overrides, compatible_for_resume, load_config, save_config
from simclr.data import build_loader, build_pretrain_dataset, normalization_stats, num_classes_of
from simclr.gradcache import StepResult, TrainModule, forward_backward
from simclr.methods import build_method
from simclr.methods.base import Progress, ViewSpec
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


# -------------------------------------------------------------------------- Trainer


def build_local_augment(aug: nn.Module, spec: ViewSpec, global_side: int) -> nn.Module:
    """The recipe ``aug`` with its crop replaced by the local crop of ``spec``.

    ``global_side`` (``augment.output_size``) sizes the local views when
    ``spec.local_size`` is None.

    Every op of the recipe (foreground, background, fallback) is kept, so the region
    path applies to the local views as to the global ones.

    Raises:
        ValueError: If ``aug`` has no replaceable crop (not a ``RegionAugment``).
    """
    from segaug.augment.geometry import GeometrySequence, RandomResizedCropFlip

    if not hasattr(aug, "geometric"):
        raise ValueError(
            f"augment: the method asks for {spec.local_views} local view(s), which needs a "
            f"RegionAugment recipe (with a 'geometric' crop); got {type(aug).__name__}"
        )
    local = copy.deepcopy(aug)
    geo = aug.geometric
    # The recipe's crop (alone, or inside a list of geometric ops, whose other ops stay).
    crop = geo.crop if isinstance(geo, GeometrySequence) else geo
    if not isinstance(crop, RandomResizedCropFlip):
        crop = None
    new_crop = RandomResizedCropFlip(
        spec.local_side(global_side),
        scale=spec.local_scale,
        ratio=crop.ratio if crop is not None else (3 / 4, 4 / 3),
        flip_p=crop.flip_p if crop is not None else 0.5,
        object_centered=crop.object_centered if crop is not None else False,
    )
    if isinstance(geo, GeometrySequence):
        local.geometric = geo.with_crop(new_crop)
    else:
        local.geometric = new_crop
    return local


def _new_meters() -> dict[str, float]:
    return dict.fromkeys(("loss_sum", "steps", "fallback", "views", "correct", "seen", "time"), 0.0)


class Trainer:
    """The pretraining loop, in small steps: setup, restore, step, epoch end, save, logs.

    :func:`train` is ``Trainer(cfg, resume, augment).fit()``. The method's hooks
    (:class:`~simclr.methods.Method`: ``views``, ``param_groups``,
    ``before_optimizer_step``, ``after_optimizer_step``, ``checkpoint_state``) are called
    here and nowhere else.

    Args:
        cfg: The run configuration (validated in :meth:`setup`).
        resume: A checkpoint file or run directory to continue from.
        augment: Replace the configured segaug recipe (tests).

    Raises:
        ValueError: Bad configuration, unknown names, missing data or a checkpoint whose
            config does not match; raised before any training step.
    """

    def __init__(
        self,
        cfg: Config,
        resume: str | os.PathLike | None = None,
        augment: nn.Module | None = None,
    ) -> None:
        self.cfg = cfg
        self.resume = resume
        self.step = 0
        self.start_epoch = 0
        self.skip_batches = 0
        self.carried: dict[str, float] = {}
        self.steps_csv: _CSV | None = None
        self.epochs_csv: _CSV | None = None
        self.tb: Any = None
        self.setup(augment)

    # ------------------------------------------------------------------ setup
    def setup(self, augment: nn.Module | None) -> None:
        """Process group, device, run directory, data, model, optimisers; then restore."""
        cfg = self.cfg
        device_kind = resolve_device(cfg.train.device).type
        self.info = dist_utils.init_from_env(device_kind)
        self.device = resolve_device(cfg.train.device, self.info.local_rank)
        cfg.validate(self.info.world_size)
        self.is_main = self.info.rank == 0
        self.out = Path(cfg.train.output_dir)
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        _setup_logging(self.out if self.is_main else None)
        if not self.is_main:
            log.setLevel(logging.WARNING)
        self.autocast = autocast_factory(cfg.train.precision, self.device)

        state = None
        if self.resume is not None:
            state = ckpt_io.load_checkpoint(self.resume)
            diffs = compatible_for_resume(state["config"], cfg.to_dict())
            if diffs:
                raise ValueError(
                    "resume: the checkpoint's config does not match this run: " + "; ".join(diffs)
                )

        # data and augmentation (errors here come before any training)
        ds = build_pretrain_dataset(cfg.data)
        self.aug = augment if augment is not None else build_augment(cfg)
        self.aug.to(self.device)
        self.per_process = cfg.data.batch_size // self.info.world_size
        self.loader, self.sampler = build_loader(
            ds, self.per_process, self.info.rank, self.info.world_size, cfg.train.seed, cfg.data
        )
        self.steps_per_epoch = len(self.loader)
        mean, std = normalization_stats(cfg.data)
        self.mean_t = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std_t = torch.tensor(std, device=self.device).view(1, 3, 1, 1)

        # model (same init on every rank), optimisers, schedule, scaler
        seed_everything(cfg.train.seed)
        module = build_train_module(cfg, num_classes_of(ds)).to(self.device)
        if cfg.train.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.module = module
        self.method = module.method
        self.view_spec = self.method.views()
        self.local_aug = (
            build_local_augment(self.aug, self.view_spec, cfg.augment.output_size).to(self.device)
            if self.view_spec.local_views > 0
            else None
        )
        self.lr = scaled_lr(cfg.optim, cfg.data.batch_size)
        groups = self.method.param_groups(cfg.optim.weight_decay, cfg.optim.exclude_bn_bias)
        self.optimizer = build_optimizer(self.method, cfg.optim, self.lr, groups)
        self.probe_opt = (
            torch.optim.AdamW(module.probe.parameters(), lr=cfg.train.probe_lr, weight_decay=0.0)
            if module.probe is not None
            else None
        )
        self.scheduler = build_scheduler(
            self.optimizer, cfg.optim, self.steps_per_epoch, cfg.train.epochs
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.train.precision == "fp16")
        seed_everything(cfg.train.seed + self.info.rank)
        if state is not None:
            self.restore(state)

        if self.info.enabled and self.device.type == "cuda" and cfg.model.sync_bn:
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
            self.module, self.method = module, module.method
        self.model: nn.Module = module
        if self.info.enabled:
            self.model = nn.parallel.DistributedDataParallel(
                module, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if self.is_main:
            self.open_artefacts(resumed=state is not None)

    def restore(self, state: dict[str, Any]) -> None:
        """Load weights, optimiser, schedule, scaler, method state, counters and RNG."""
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.probe_opt is not None and state.get("probe_optimizer") is not None:
            self.probe_opt.load_state_dict(state["probe_optimizer"])
        method_states = state.get("method_state") or [{}]
        same_world = len(method_states) == self.info.world_size
        self.method.load_checkpoint_state(method_states[self.info.rank if same_world else 0])
        self.start_epoch, self.step = state["epoch"], state["step"]
        self.skip_batches = state.get("batch_in_epoch", 0)
        self.carried = dict(state.get("meters", {}))
        rng = state["rng"]
        if len(rng) == self.info.world_size:
            ckpt_io.restore_rng(rng[self.info.rank], self.device)
        else:
            log.warning(
                "resume: checkpoint from %d process(es), now %d: RNG streams are reseeded, "
                "so the continuation is not bit-identical",
                len(rng),
                self.info.world_size,
            )
            seed_everything(self.cfg.train.seed + self.info.rank + 1000 * self.step)
        log.info("resumed from %s at epoch %d, step %d", self.resume, self.start_epoch, self.step)

    def open_artefacts(self, resumed: bool) -> None:
        """Rank 0: config.yaml, the CSVs (rolled back to the checkpoint), TensorBoard."""
        cfg, out, step, start_epoch = self.cfg, self.out, self.step, self.start_epoch
        save_config(cfg, out / "config.yaml")
        keep_s = (lambda r: int(r["step"]) <= step) if resumed else None
        keep_e = (lambda r: int(r["epoch"]) <= start_epoch) if resumed else None
        self.steps_csv = _CSV(out / "metrics.csv", STEP_FIELDS, keep_s)
        self.epochs_csv = _CSV(out / "epochs.csv", EPOCH_FIELDS, keep_e)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tb"))
        except ImportError:
            self.tb = None
        n_params = sum(p.numel() for p in self.method.parameters())
        log.info(
            "%s + %s (%.2fM params), %d process(es) on %s, global batch %d = %d x %d "
            "micro-batches of %d, lr %.4g (%s), %d steps/epoch, recipe %s, views %d+%d",
            cfg.method.name,
            cfg.model.backbone,
            n_params / 1e6,
            self.info.world_size,
            self.device,
            cfg.data.batch_size,
            self.info.world_size,
            cfg.train.accumulate,
            self.per_process // cfg.train.accumulate,
            self.lr,
            cfg.optim.name,
            self.steps_per_epoch,
            cfg.augment.recipe,
            self.view_spec.global_views,
            self.view_spec.local_views,
        )

    # ------------------------------------------------------------------- save
    def save(
        self, epoch: int, batch_in_epoch: int, meters: dict[str, float], numbered: bool
    ) -> Path:
        """Checkpoint atomically (rank 0); every rank contributes its RNG state."""
        # per process: RNG streams and the method's extra state (e.g. SwAV's own queue)
        mine = (ckpt_io.capture_rng(self.device), self.method.checkpoint_state())
        per_rank: list[Any] = [mine]
        if self.info.enabled:
            per_rank = [None] * self.info.world_size
            torch.distributed.all_gather_object(per_rank, mine)
        path = self.out / ckpt_io.LAST
        if self.is_main:
            if not ckpt_io.all_finite(self.module):
                raise NonFiniteLossError(
                    f"weights are not finite at step {self.step}; not overwriting {path}"
                )
            payload = {
                "model": self.module.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "probe_optimizer": (
                    self.probe_opt.state_dict() if self.probe_opt is not None else None
                ),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "method_state": [m for _, m in per_rank],
                "rng": [r for r, _ in per_rank],
                "epoch": epoch,
                "batch_in_epoch": batch_in_epoch,
                "step": self.step,
                "meters": meters,
                "config": self.cfg.to_dict(),
                "world_size": self.info.world_size,
            }
            ckpt_io.atomic_save(payload, path)
            if numbered:
                ckpt_io.atomic_save(payload, self.out / f"epoch_{epoch:04d}.pt")
        dist_utils.barrier()
        return path

    # ------------------------------------------------------------------- step
    def make_views(self, images: Tensor, masks: Tensor) -> tuple[list[Tensor], list[Tensor], float]:
        """Augment on the device: global views (then local ones), normalised.

        Returns:
            (images, masks, number of fallback samples over all views).
        """
        with torch.no_grad():
            if self.view_spec.global_views == 2:
                views = list(self.aug.pair(images, masks))
            else:
                views = [self.aug(images, masks)]
            for _ in range(self.view_spec.local_views):
                views.append(self.local_aug(images, masks))
            imgs = [(v.images - self.mean_t) / self.std_t for v in views]
            msks = [v.masks for v in views]
            if self.cfg.train.channels_last:
                imgs = [x.contiguous(memory_format=torch.channels_last) for x in imgs]
            fallback = sum(float(v.fallback.sum()) for v in views)
        return imgs, msks, fallback

    def progress(self, epoch: int) -> Progress:
        """The hooks' view of the schedule at the current step."""
        return Progress(
            self.step, epoch, self.steps_per_epoch, self.steps_per_epoch * self.cfg.train.epochs
        )

    def train_step(
        self, imgs: list[Tensor], msks: list[Tensor], labels: Tensor, epoch: int
    ) -> tuple[float, float, float, StepResult]:
        """Forward/backward, NaN check, hooks and the optimiser step.

        Returns:
            (loss, lr used, online probe loss or NaN, the raw step result).

        Raises:
            NonFiniteLossError: Before the optimiser step, if the loss is not finite.
        """
        cfg = self.cfg
        self.optimizer.zero_grad(set_to_none=True)
        if self.probe_opt is not None:
            self.probe_opt.zero_grad(set_to_none=True)
        res = forward_backward(
            self.model,
            imgs,
            msks,
            labels if self.module.probe is not None else None,
            cfg.train.accumulate,
            self.autocast,
            lambda t: self.scaler.scale(t).backward(),
        )
        loss = float(dist_utils.all_reduce_mean(res.loss))
        if not math.isfinite(loss):
            last = self.out / ckpt_io.LAST
            raise NonFiniteLossError(
                f"loss is {loss} at epoch {epoch + 1}, step {self.step + 1}; stopping before "
                f"the optimiser step. The last good checkpoint is kept at {last} "
                f"({'present' if last.exists() else 'none written yet'}). Try a lower "
                "optim.lr, optim.grad_clip, a longer warm-up or train.precision=bf16/fp32."
            )
        progress = self.progress(epoch)
        self.method.before_optimizer_step(progress)
        if cfg.optim.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.method.parameters(), cfg.optim.grad_clip)
        cur_lr = self.optimizer.param_groups[0]["lr"]
        self.scaler.step(self.optimizer)
        if self.probe_opt is not None:
            self.scaler.step(self.probe_opt)
        self.scaler.update()
        self.scheduler.step()
        self.method.after_optimizer_step(progress)
        self.step += 1
        probe_loss = math.nan
        if res.probe_correct is not None:
            probe_loss = float(dist_utils.all_reduce_mean(res.probe_loss))
        return loss, cur_lr, probe_loss, res

    def log_step(self, row: dict[str, Any], loss: float, lr: float, ips: float) -> None:
        """Rank 0: one ``metrics.csv`` row and TensorBoard scalars."""
        if self.steps_csv is not None:
            self.steps_csv.write(row)
        if self.tb is not None:
            self.tb.add_scalar("train/loss", loss, self.step)
            self.tb.add_scalar("train/lr", lr, self.step)
            self.tb.add_scalar("train/images_per_s", ips, self.step)

    # ------------------------------------------------------------------ epoch
    def run_epoch(self, epoch: int, result: TrainResult, max_steps: int) -> bool:
        """Train one epoch (or its rest, on resume); True if it ran to its end."""
        cfg = self.cfg
        self.sampler.set_epoch(epoch, self.skip_batches * self.per_process)
        meters = _new_meters()
        if self.carried:
            meters.update(self.carried)
            self.carried = {}
        batch_in_epoch = self.skip_batches
        self.skip_batches = 0
        bar = None
        if self.is_main and cfg.train.progress:
            from tqdm import tqdm

            bar = tqdm(
                total=self.steps_per_epoch,
                initial=batch_in_epoch,
                desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
                dynamic_ncols=True,
                leave=True,
            )
        t_last = time.perf_counter()
        for images, masks, labels in self.loader:
            t0 = time.perf_counter()
            images = images.to(self.device, non_blocking=True)
            masks = masks.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            imgs, msks, fb = self.make_views(images, masks)
            t1 = time.perf_counter()
            loss, cur_lr, probe_loss, res = self.train_step(imgs, msks, labels, epoch)
            batch_in_epoch += 1
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            t2 = time.perf_counter()

            dt = t2 - t_last
            t_last = t2
            ips = cfg.data.batch_size / max(dt, 1e-9)
            meters["loss_sum"] += loss
            meters["steps"] += 1
            meters["fallback"] += fb
            meters["views"] += len(imgs) * images.shape[0]
            meters["time"] += dt
            if res.probe_correct is not None:
                meters["correct"] += float(res.probe_correct)
                meters["seen"] += images.shape[0]
            if self.is_main and self.step % cfg.train.log_every == 0:
                row = {
                    "step": self.step,
                    "epoch": epoch + 1,
                    "loss": f"{loss:.6f}",
                    "lr": f"{cur_lr:.6g}",
                    "images_per_s": f"{ips:.1f}",
                    "data_s": f"{t0 - (t2 - dt):.4f}",
                    "augment_s": f"{t1 - t0:.4f}",
                    "compute_s": f"{t2 - t1:.4f}",
                    "online_probe_loss": f"{probe_loss:.4f}",
                }
                self.log_step(row, loss, cur_lr, ips)
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{cur_lr:.3g}", img_s=f"{ips:.0f}")
                bar.update(1)
            every = cfg.train.checkpoint_every_steps
            mid_epoch = batch_in_epoch < self.steps_per_epoch
            if mid_epoch and ((every and self.step % every == 0) or self.step >= max_steps):
                result.last_checkpoint = self.save(epoch, batch_in_epoch, dict(meters), False)
            if self.step >= max_steps:
                break
        if bar is not None:
            bar.close()
        if batch_in_epoch < self.steps_per_epoch:
            return False  # stopped by max_steps mid-epoch (already checkpointed)
        self.end_epoch(epoch, meters, result)
        return True

    def end_epoch(self, epoch: int, meters: dict[str, float], result: TrainResult) -> None:
        """Reduce the meters over processes, checkpoint, write ``epochs.csv``, plot, log."""
        cfg = self.cfg
        sums = torch.tensor(
            [meters["fallback"], meters["views"], meters["correct"], meters["seen"]],
            dtype=torch.float64,
        )
        sums = dist_utils.all_reduce_sum(sums.to(self.device)).cpu()
        mask_fallback = float(sums[0] / max(sums[1], 1))
        acc = float(sums[2] / sums[3]) if sums[3] > 0 else math.nan
        row = {
            "epoch": epoch + 1,
            "step": self.step,
            "loss": meters["loss_sum"] / max(meters["steps"], 1),
            "lr": self.optimizer.param_groups[0]["lr"],
            "fallback_rate": mask_fallback,
            "online_probe_acc": acc,
            "epoch_s": meters["time"],
            "images_per_s": cfg.data.batch_size * meters["steps"] / max(meters["time"], 1e-9),
        }
        result.epochs.append(row)
        result.epoch = epoch + 1
        numbered = (epoch + 1) % cfg.train.checkpoint_every == 0
        result.last_checkpoint = self.save(epoch + 1, 0, {}, numbered)
        if not self.is_main:
            return
        if self.epochs_csv is not None:
            self.epochs_csv.write(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
        if self.tb is not None:
            self.tb.add_scalar("epoch/fallback_rate", mask_fallback, epoch + 1)
            self.tb.add_scalar("epoch/online_probe_acc", acc, epoch + 1)
        if cfg.train.plots:
            write_plots(self.out)
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

    # -------------------------------------------------------------------- fit
    def fit(self) -> TrainResult:
        """Train from the current state to ``train.epochs`` (or ``train.max_steps``)."""
        cfg = self.cfg
        result = TrainResult(self.out, self.step, self.start_epoch)
        total_steps = self.steps_per_epoch * cfg.train.epochs
        max_steps = min(total_steps, cfg.train.max_steps or total_steps)
        try:
            for epoch in range(self.start_epoch, cfg.train.epochs):
                if self.step >= max_steps:
                    break
                if not self.run_epoch(epoch, result, max_steps):
                    break
        finally:
            if self.tb is not None:
                self.tb.close()
        result.step = self.step
        return result


def train(
    cfg: Config, resume: str | os.PathLike | None = None, augment: nn.Module | None = None
) -> TrainResult:
    """Run (or continue) pretraining as described by ``cfg``: ``Trainer(...).fit()``.

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
    return Trainer(cfg, resume=resume, augment=augment).fit()


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
    from segaug.errors import report_error, user_errors

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

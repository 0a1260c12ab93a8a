"""The pretraining loop: :class:`Trainer` and :func:`train` (``Trainer(cfg).fit()``).

The trainer's small methods (``setup``, ``restore``, ``make_views``, ``train_step``,
``run_epoch``, ``end_epoch``, ``save``) call the method's hooks
(:class:`simclr.methods.Method`): the views it needs, its optimiser parameter groups,
before/after the optimiser step, and its extra checkpoint state. The objects it trains
come from :mod:`simclr.build`; what it records besides checkpoints from
:mod:`simclr.run_log`.

One step: a per-process batch of ``(uint8 image, uint8 mask, label)`` is moved to the
device, augmented there once by :class:`segaug.RegionAugment` (``aug.pair``; one view
for single-view methods such as MAE, plus the local views of multi-crop methods),
normalised with the dataset statistics, and passed through
:func:`simclr.gradcache.forward_backward` (GradCache when ``train.accumulate > 1`` and the
loss couples samples). A non-finite loss stops the run before the optimiser step, so
the last checkpoint stays the last good one.

Run directory: ``config.yaml``, ``last.pt`` (+ ``epoch_XXXX.pt`` every
``checkpoint_every`` epochs) and the records of :mod:`simclr.run_log` (``metrics.csv``,
``epochs.csv``, ``loss.png``, ``lr.png``, ``train.log``, TensorBoard events).

Example:
    >>> import tempfile
    >>> from simclr.config import Config, apply_overrides
    >>> cfg = apply_overrides(Config(), [
    ...     "data.image_size=16", "data.num_samples=8", "data.batch_size=4",
    ...     "augment.output_size=16", "model.width=0.125", "train.epochs=1",
    ...     "train.max_steps=1", "train.device=cpu", "train.progress=false",
    ...     "train.plots=false", f"train.output_dir={tempfile.mkdtemp()}"])
    >>> result = train(cfg)
    >>> result.step, result.last_checkpoint.name
    (1, 'last.pt')
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from segaug.constants import GLOBAL_MASKS_IN_LOSS, GLOBAL_ONLY
from segaug.data.unreadable import append_unreadable_log, read_unreadable_log
from segaug.env import resolve_device
from simclr import checkpoint as ckpt_io
from simclr import distributed as dist_utils
from simclr.build import build_augment, build_local_augment, build_train_module, check_config
from simclr.config import Config, compatible_for_resume, save_config
from simclr.data import build_loader, build_pretrain_dataset, normalization_stats, num_classes_of
from simclr.gradcache import StepResult, forward_backward
from simclr.methods import Progress
from simclr.optim import build_optimizer, build_scheduler, scaled_lr
from simclr.run_folder import UNREADABLE_LOG, claim_run_folder
from simclr.run_log import RunLog, log, setup_logging

__all__ = [
    "NonFiniteLossError",
    "TrainResult",
    "Trainer",
    "autocast_factory",
    "seed_everything",
    "train",
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


def _new_meters() -> dict[str, float]:
    return dict.fromkeys(("loss_sum", "steps", "fallback", "views", "correct", "seen", "time"), 0.0)


class Trainer:
    """The pretraining loop, in small steps: setup, restore, step, epoch end, save.

    :meth:`setup` runs :meth:`setup_data`, :meth:`setup_model`,
    :meth:`setup_optimizers`, :meth:`restore` (on resume) and :meth:`wrap_model`; the
    loop is :meth:`fit` over :meth:`run_epoch`, which calls :meth:`make_views`,
    :meth:`train_step`, :meth:`save` and :meth:`end_epoch`.

    :func:`train` is ``Trainer(cfg, resume, augment).fit()``. The method's hooks
    (:class:`~simclr.methods.Method`: ``views``, ``param_groups``,
    ``before_optimizer_step``, ``after_optimizer_step``, ``checkpoint_state``) are called
    here and nowhere else.

    Args:
        cfg: The run configuration (checked by :func:`simclr.build.check_config` in
            :meth:`setup`).
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
        overwrite: bool = False,
    ) -> None:
        self.cfg = cfg
        self.resume = resume
        self.overwrite = overwrite
        self.step = 0
        self.start_epoch = 0
        self.skip_batches = 0
        self.carried: dict[str, float] = {}
        self.run_log: RunLog | None = None
        self.setup(augment)

    # ------------------------------------------------------------------ setup
    def setup(self, augment: nn.Module | None) -> None:
        """Process group, device, run directory, data, model, optimisers; then restore."""
        cfg = self.cfg
        device_kind = resolve_device(cfg.train.device).type
        self.info = dist_utils.init_from_env(device_kind)
        self.device = resolve_device(cfg.train.device, self.info.local_rank)
        check_config(cfg, self.info.world_size)
        self.is_main = self.info.rank == 0
        self.out = Path(cfg.train.output_dir)
        if self.is_main:  # a folder holding a run is resumed, overwritten or refused
            claim_run_folder(self.out, resume=self.resume is not None, overwrite=self.overwrite)
            self.out.mkdir(parents=True, exist_ok=True)
        setup_logging(self.out if self.is_main else None)
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
        num_classes = self.setup_data(augment)  # errors here come before any training
        seed_everything(cfg.train.seed)  # the same initial weights on every process
        self.setup_model(num_classes)
        self.setup_optimizers()
        seed_everything(cfg.train.seed + self.info.rank)  # each process its own views
        if state is not None:
            self.restore(state)
        self.wrap_model()
        if self.is_main:
            self.open_artefacts(resumed=state is not None)

    def setup_data(self, augment: nn.Module | None) -> int:
        """Dataset, per-process loader, augmentation and normalisation; the class count."""
        cfg = self.cfg
        ds = build_pretrain_dataset(cfg.data)
        self.label_maps = bool(getattr(ds, "label_maps", False))  # masks are region ids
        self.watch_unreadable(ds)
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
        return num_classes_of(ds)

    def watch_unreadable(self, ds: Dataset) -> None:
        """Unreadable images left out are listed in ``RUN/unreadable_images.txt``.

        Files the mask cache already records go in now; the loader's processes append
        the ones they meet, and each epoch's log line reports the count.
        """
        self.unreadable_log = self.out / UNREADABLE_LOG
        self.unreadable_reported = 0
        policy = getattr(ds, "unreadable", None)
        if policy is None:  # in-memory data: nothing is decoded
            return
        policy.log_path = self.unreadable_log
        if self.is_main and policy.found:
            listed = read_unreadable_log(self.unreadable_log)
            known = {policy.describe(i): r for i, r in sorted(policy.found.items())}
            append_unreadable_log(
                self.unreadable_log, {k: r for k, r in known.items() if k not in listed}
            )
            self.unreadable_reported = len(known)

    def report_unreadable(self) -> None:
        """Rank 0: one warning when more unreadable images were left out this epoch."""
        count = len(read_unreadable_log(self.unreadable_log))
        if count > self.unreadable_reported:
            log.warning(
                "%d unreadable image file(s) left out so far (the next readable image took "
                "each one's place); listed in %s",
                count,
                self.unreadable_log,
            )
            self.unreadable_reported = count

    def setup_model(self, num_classes: int) -> None:
        """Backbone + method (+ online probe) on the device, and the method's views."""
        cfg = self.cfg
        module = build_train_module(cfg, num_classes).to(self.device)
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

    def setup_optimizers(self) -> None:
        """The method's optimiser over its parameter groups, the probe's, schedule, scaler."""
        cfg = self.cfg
        self.lr = scaled_lr(cfg.optim, cfg.data.batch_size)
        groups = self.method.param_groups(cfg.optim.weight_decay, cfg.optim.exclude_bn_bias)
        self.optimizer = build_optimizer(self.method, cfg.optim, self.lr, groups)
        probe = self.module.probe
        self.probe_opt = (
            torch.optim.AdamW(probe.parameters(), lr=cfg.train.probe_lr, weight_decay=0.0)
            if probe is not None
            else None
        )
        self.scheduler = build_scheduler(
            self.optimizer, cfg.optim, self.steps_per_epoch, cfg.train.epochs
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.train.precision == "fp16")

    def wrap_model(self) -> None:
        """SyncBatchNorm and DistributedDataParallel under several processes."""
        module = self.module
        if self.info.enabled and self.device.type == "cuda" and self.cfg.model.sync_bn:
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
            self.module, self.method = module, module.method
        self.model: nn.Module = module
        if self.info.enabled:
            self.model = nn.parallel.DistributedDataParallel(
                module, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )

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
        """Rank 0: config.yaml, the run log (rolled back to the checkpoint), a summary line."""
        cfg = self.cfg
        save_config(cfg, self.out / "config.yaml")
        self.run_log = RunLog(self.out, (self.step, self.start_epoch) if resumed else None)
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

        With label-map data (``dataset.label_maps``) the masks are region ids: the
        recipe's foreground is every labelled region (id > 0), and a method with
        ``uses_regions`` receives the views' region ids instead of their masks.

        Returns:
            (images, masks, number of fallback samples over all views).
        """
        with torch.no_grad():
            regions, extra = None, {}
            if self.label_maps:
                regions, masks = masks, (masks > 0).to(torch.uint8)
                extra = {"regions": regions}
            if self.view_spec.global_views == 2:
                views = list(self.aug.pair(images, masks, **extra))
            else:
                views = [self.aug(images, masks, **extra)]
            for _ in range(self.view_spec.local_views):
                views.append(self.local_aug(images, masks, **extra))
            imgs = [(v.images - self.mean_t) / self.std_t for v in views]
            pass_regions = regions is not None and self.method.uses_regions
            msks = [v.regions if pass_regions else v.masks for v in views]
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
            if self.run_log is not None and self.step % cfg.train.log_every == 0:
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
                self.run_log.log_step(row, loss, cur_lr, ips)
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
        if self.run_log is not None:
            self.run_log.log_epoch(row, plots=cfg.train.plots)
        probe = (
            f"  online probe acc {100 * acc:.1f}% (online, not the offline linear eval)"
            if acc == acc
            else ""
        )
        # a global-only recipe sends every sample to the global pipeline by design
        masks_word = (
            (GLOBAL_MASKS_IN_LOSS if self.method.uses_regions else GLOBAL_ONLY)
            if not getattr(self.aug, "region", True)
            else f"{100 * mask_fallback:.1f}%"
        )
        log.info(
            "epoch %d/%d  loss %.4f  fallback %s%s  %.0f img/s",
            epoch + 1,
            cfg.train.epochs,
            row["loss"],
            masks_word,
            probe,
            row["images_per_s"],
        )
        self.report_unreadable()

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
            if self.run_log is not None:
                self.run_log.close()
        result.step = self.step
        return result


def train(
    cfg: Config,
    resume: str | os.PathLike | None = None,
    augment: nn.Module | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Run (or continue) pretraining as described by ``cfg``: ``Trainer(...).fit()``.

    Args:
        cfg: The run configuration (validated here).
        resume: A checkpoint file or run directory to continue from (``last.pt``).
        augment: Replace the configured segaug recipe (tests); must offer ``pair`` and
            ``__call__`` returning ``AugmentedBatch``-like objects.
        overwrite: Empty ``train.output_dir`` first when it holds a run (else such a
            folder is refused unless the run resumes;
            :func:`simclr.run_folder.claim_run_folder`).

    Returns:
        TrainResult with the final counters and the per-epoch metrics.

    Raises:
        ValueError: Bad configuration, unknown names, missing data or a checkpoint whose
            config does not match; raised before any training step.
        NonFiniteLossError: The loss became NaN/inf (the last good checkpoint is kept).
    """
    return Trainer(cfg, resume=resume, augment=augment, overwrite=overwrite).fit()

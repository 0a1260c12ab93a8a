"""Typed configuration for ``simclr-train``: the schema, loaded from YAML/TOML.

A run is described by one :class:`Config` made of small dataclasses. Files are read
with :func:`load_config`, command-line overrides (``optim.lr=0.5``) are applied with
:func:`apply_overrides`, and :meth:`Config.validate` checks every field's type and range
and the relations between fields, raising ``ValueError`` that names the field, the
value and what was expected. The dataclass defaults are a CPU smoke test on the
offline synthetic dataset that runs in about a minute.

This module is the schema only: it imports no registry. The names a config refers to
(method, backbone, dataset) and the method's own ``method.params`` are checked against
their registries by :func:`simclr.build.check_config`, which the trainer calls.

Method-specific hyper-parameters live in ``method.params`` (a plain mapping) and are
checked by the method's own config dataclass (see :mod:`simclr.methods`), so a new
method does not touch this module.

Example:
    >>> from simclr.config import Config, apply_overrides
    >>> cfg = apply_overrides(Config(), ["optim.lr=0.5", "data.batch_size=32"])
    >>> cfg.optim.lr, cfg.data.batch_size
    (0.5, 32)
    >>> cfg.validate()
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRECISIONS = ("fp32", "bf16", "fp16")
OPTIMIZERS = ("lars", "sgd", "adamw")
SCHEDULES = ("cosine", "constant")
LR_SCALINGS = ("linear", "sqrt", "none")
STEMS = ("auto", "cifar", "imagenet")
NORMS = ("batch", "group")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class DataConfig:
    """Where images and masks come from and how they are batched.

    Attributes:
        dataset: Name in segaug's dataset registry (``synthetic`` runs offline).
        root: Dataset root directory (ignored by ``synthetic``).
        split: Split used for pretraining.
        image_size: Side length the masked dataset resizes image and mask to (S).
        num_samples: Dataset size for ``synthetic``; ``None`` for real datasets.
        masks: ``gt`` (ground-truth masks), ``files:MASK_DIR[?foreground=1,3]``
            (annotation files mirroring an ``imagefolder``), a path to a mask cache,
            or a segmenter name
            (``deeplabv3``, ``sam``, ``classical``) run on the fly.
        batch_size: Global batch per optimiser step, split across processes and
            ``train.accumulate`` micro-batches. Also the number of negatives source.
        num_workers: DataLoader workers (decode + resize only, nothing random).
        mean: Per-channel normalisation mean; ``None`` picks the dataset's statistics.
        std: Per-channel normalisation std; ``None`` picks the dataset's statistics.
        download: Let torchvision datasets download (never in tests).
        params: Extra keyword arguments for the dataset factory (for ``synthetic``:
            ``bias``, ``seed``, ``style``: a dict of ``ShapeStyle`` fields).
        on_bad_image: ``skip``: an image file that cannot be read is left out (one
            warning; every such file is listed in ``RUN/unreadable_images.txt``);
            ``error``: the run stops in one line naming the file.
    """

    dataset: str = "synthetic"
    root: str = "data"
    split: str = "train"
    image_size: int = 32
    num_samples: int | None = 256
    masks: str = "gt"
    batch_size: int = 32
    num_workers: int = 0
    mean: list[float] | None = None
    std: list[float] | None = None
    download: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    on_bad_image: str = "skip"


@dataclass
class AugmentConfig:
    """Which segaug recipe builds the views.

    Attributes:
        recipe: Name from ``segaug.recipes.names()`` (``simclr`` baseline, ``thesis``, ...).
        output_size: Side length of each view.
        params: Extra keyword arguments for the recipe builder.
    """

    recipe: str = "thesis"
    output_size: int = 32
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """Backbone choice.

    Attributes:
        backbone: Name in :data:`simclr.models.BACKBONES` (ResNets, a small convnet for
            CPUs at 32 px, ViTs; names starting with ``vit`` are ViTs).
        width: ResNet width multiplier (SimCLR 1x/2x/4x; the smoke default is 0.25).
        stem: ``auto`` (CIFAR stem for inputs <= 64 px), ``cifar`` or ``imagenet``.
        norm: ``batch`` (default) or ``group`` (GroupNorm, batch-independent).
        sync_bn: Convert BatchNorm to SyncBatchNorm under multi-process CUDA training.
        patch_size: ViT patch size.
        depth: Override the ViT depth (number of blocks); ``None`` keeps the preset.
        zero_init_residual: Zero-init the last BN of each ResNet block.
    """

    backbone: str = "resnet18"
    width: float = 0.25
    stem: str = "auto"
    norm: str = "batch"
    sync_bn: bool = True
    patch_size: int = 4
    depth: int | None = None
    zero_init_residual: bool = False


@dataclass
class MethodConfig:
    """Self-supervised method and its own hyper-parameters.

    Attributes:
        name: Name in :data:`simclr.methods.METHODS` (``simclr``, ``mae``, ...; the
            registry lists them all).
        params: Keyword arguments checked by the method's config dataclass,
            e.g. ``{temperature: 0.5, proj_output_dim: 128}`` for SimCLR.
    """

    name: str = "simclr"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule.

    Attributes:
        name: ``lars`` (SimCLR), ``sgd`` or ``adamw``.
        lr: Base learning rate, scaled by ``lr_scaling`` with the global batch size.
        lr_scaling: ``linear`` (lr x B/256, SimCLR), ``sqrt`` or ``none``.
        weight_decay: Weight decay (BN and bias parameters are excluded).
        momentum: Momentum for LARS/SGD.
        betas: AdamW betas.
        trust_coefficient: LARS eta.
        exclude_bn_bias: Exclude BN/bias from weight decay and LARS adaptation.
        warmup_epochs: Linear warm-up length (fractions allowed).
        schedule: ``cosine`` (after warm-up, no restarts) or ``constant``.
        min_lr_ratio: Final lr as a fraction of the peak lr.
        grad_clip: Clip the global grad norm to this value; ``None`` disables it.
    """

    name: str = "lars"
    lr: float = 0.3
    lr_scaling: str = "linear"
    weight_decay: float = 1e-6
    momentum: float = 0.9
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    trust_coefficient: float = 0.001
    exclude_bn_bias: bool = True
    warmup_epochs: float = 1.0
    schedule: str = "cosine"
    min_lr_ratio: float = 0.0
    grad_clip: float | None = None


@dataclass
class TrainConfig:
    """The loop, devices and run artefacts.

    Attributes:
        epochs: Number of epochs.
        accumulate: Micro-batches per optimiser step (GradCache for contrastive losses:
            every micro-batch is a negative for every other one).
        precision: ``fp32``, ``bf16`` (autocast) or ``fp16`` (autocast + GradScaler, CUDA).
        channels_last: Use channels-last memory format (CUDA convnets).
        seed: Base seed (process ``r`` uses ``seed + r`` for augmentation).
        device: ``auto``, ``cpu`` or ``cuda``.
        output_dir: Run directory (checkpoints, CSVs, plots, config).
        checkpoint_every: Keep a numbered checkpoint every N epochs (``last.pt`` always).
        checkpoint_every_steps: Also refresh ``last.pt`` every N steps (0 disables).
        online_probe: Train a stop-gradient linear classifier on labels ("online" metric).
        probe_lr: AdamW learning rate of the online probe.
        max_steps: Stop after this many optimiser steps (debugging); ``None`` = all.
        progress: Show a tqdm progress bar on rank 0.
        plots: Write loss/lr PNG curves at each epoch end.
        log_every: Write a metrics row every N steps.
    """

    epochs: int = 2
    accumulate: int = 1
    precision: str = "fp32"
    channels_last: bool = False
    seed: int = 0
    device: str = "auto"
    output_dir: str = "runs/synthetic_simclr"
    checkpoint_every: int = 1
    checkpoint_every_steps: int = 0
    online_probe: bool = True
    probe_lr: float = 1e-3
    max_steps: int | None = None
    progress: bool = True
    plots: bool = True
    log_every: int = 1


@dataclass
class Config:
    """A full run description.

    The defaults are the CPU smoke run (``configs/synthetic_simclr.yaml``): SimCLR with
    the thesis recipe, a quarter-width ResNet-18 at 32 px, 256 synthetic images, batch 32,
    2 epochs. Real runs set every section explicitly (see ``configs/``).
    """

    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON/checkpoint friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from a nested mapping; unknown sections or keys raise ``ValueError``."""
        return _build(cls, data, prefix="")

    def validate(self, world_size: int = 1) -> None:
        """Check every field's type and range; raise ``ValueError`` naming the field.

        Names are not looked up here: :func:`simclr.build.check_config` runs this and
        then checks them against the registries.

        Args:
            world_size: Number of processes the global batch is split across.
        """
        _validate(self, world_size)


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file and apply overrides.

    Args:
        path: Config file, or ``None`` for the defaults.
        overrides: ``section.key=value`` strings; values are parsed as YAML scalars.

    Returns:
        The (not yet validated) configuration.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"config file {str(p)!r} does not exist")
        if p.suffix == ".toml":
            import tomllib

            try:
                data = tomllib.loads(p.read_text())
            except tomllib.TOMLDecodeError as err:
                raise ValueError(f"config file {str(p)!r} is not valid TOML: {err}") from None
        elif p.suffix in (".yaml", ".yml"):
            try:
                data = yaml.safe_load(p.read_text()) or {}
            except yaml.YAMLError as err:
                first = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise ValueError(f"config file {str(p)!r} is not valid YAML: {first}") from None
        else:
            raise ValueError(f"config file {str(p)!r}: expected a .yaml, .yml or .toml file")
        if not isinstance(data, dict):
            raise ValueError(f"config file {str(p)!r} must hold a mapping at the top level")
    cfg = Config.from_dict(data)
    return apply_overrides(cfg, overrides or [])


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Return a copy of ``cfg`` with ``section.key=value`` overrides applied.

    ``method.params.temperature=0.2`` sets a key inside a mapping field.
    """
    data = cfg.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected section.key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) < 2:
            raise ValueError(f"override {item!r}: expected section.key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() != "" else None
        except yaml.YAMLError:
            raise ValueError(f"override {item!r}: the value is not valid YAML") from None
        node = data
        for part in parts[:-1]:
            if part not in node:
                raise ValueError(f"override {item!r}: unknown field {key!r}")
            if not isinstance(node[part], dict):
                raise ValueError(f"override {item!r}: {part!r} is not a section")
            node = node[part]
        # inside a free-form mapping (params) any key is allowed; dataclass keys are checked
        node[parts[-1]] = value
    return Config.from_dict(data)


def save_config(cfg: Config, path: str | os.PathLike) -> None:
    """Write ``cfg`` as YAML."""
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _build(cls: type, data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"config {prefix or 'root'!r}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"config {prefix or 'root'!r}: unknown field(s) {unknown}; expected {sorted(names)}"
        )
    kwargs = {}
    for name, value in data.items():
        full = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], full)
    return cls(**kwargs)


def _coerce(value: Any, tp: Any, name: str) -> Any:
    """Check/convert ``value`` to the annotated type ``tp``; ValueError otherwise."""
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, name)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], name)
    if tp is Any:
        return value
    if origin is list:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ValueError(f"config {name!r}: expected a list, got {value!r}")
        return [_coerce(v, args[0], name) for v in value] if args else value
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"config {name!r}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"config {name!r}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ValueError(f"config {name!r}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"config {name!r}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"config {name!r}: expected a string, got {value!r}")
        return str(value)
    return value


# ------------------------------------------------------------------------ validation


def _check(cond: bool, name: str, value: Any, expected: str) -> None:
    if not cond:
        raise ValueError(f"config {name!r} = {value!r}: expected {expected}")


def _validate(cfg: Config, world_size: int) -> None:
    d, a, m, o, t = cfg.data, cfg.augment, cfg.model, cfg.optim, cfg.train
    _check(bool(d.dataset), "data.dataset", d.dataset, "a dataset name")
    _check(d.image_size >= 8, "data.image_size", d.image_size, "an integer >= 8")
    _check(
        d.num_samples is None or d.num_samples >= 2,
        "data.num_samples",
        d.num_samples,
        "None or an integer >= 2",
    )
    _check(
        bool(d.masks),
        "data.masks",
        d.masks,
        "'gt', 'files:DIR', a mask-cache path or a segmenter name",
    )
    _check(d.batch_size >= 2, "data.batch_size", d.batch_size, "an integer >= 2 (negatives)")
    _check(d.num_workers >= 0, "data.num_workers", d.num_workers, "an integer >= 0")
    for key in ("mean", "std"):
        v = getattr(d, key)
        _check(v is None or len(v) == 3, f"data.{key}", v, "None or 3 numbers")
    if d.std is not None:
        _check(all(s > 0 for s in d.std), "data.std", d.std, "positive numbers")

    _check(a.output_size >= 8, "augment.output_size", a.output_size, "an integer >= 8")
    _check(bool(a.recipe), "augment.recipe", a.recipe, "a recipe name")

    _check(bool(m.backbone), "model.backbone", m.backbone, "a backbone name")
    _check(m.width > 0, "model.width", m.width, "a positive number")
    _check(m.stem in STEMS, "model.stem", m.stem, f"one of {STEMS}")
    _check(m.norm in NORMS, "model.norm", m.norm, f"one of {NORMS}")
    _check(m.patch_size >= 1, "model.patch_size", m.patch_size, "an integer >= 1")
    if m.backbone.startswith("vit"):
        _check(
            a.output_size % m.patch_size == 0,
            "model.patch_size",
            m.patch_size,
            f"a divisor of augment.output_size={a.output_size}",
        )
        _check(m.depth is None or m.depth >= 1, "model.depth", m.depth, "None or >= 1")
    else:
        _check(m.depth is None, "model.depth", m.depth, "None (depth is for ViT backbones)")

    _check(bool(cfg.method.name), "method.name", cfg.method.name, "a method name")

    _check(o.name in OPTIMIZERS, "optim.name", o.name, f"one of {OPTIMIZERS}")
    _check(o.lr > 0, "optim.lr", o.lr, "a positive number")
    _check(o.lr_scaling in LR_SCALINGS, "optim.lr_scaling", o.lr_scaling, f"one of {LR_SCALINGS}")
    _check(o.weight_decay >= 0, "optim.weight_decay", o.weight_decay, "a number >= 0")
    _check(0 <= o.momentum < 1, "optim.momentum", o.momentum, "a number in [0, 1)")
    _check(len(o.betas) == 2, "optim.betas", o.betas, "two numbers")
    _check(o.trust_coefficient > 0, "optim.trust_coefficient", o.trust_coefficient, "> 0")
    _check(o.warmup_epochs >= 0, "optim.warmup_epochs", o.warmup_epochs, "a number >= 0")
    _check(o.schedule in SCHEDULES, "optim.schedule", o.schedule, f"one of {SCHEDULES}")
    _check(0 <= o.min_lr_ratio <= 1, "optim.min_lr_ratio", o.min_lr_ratio, "a number in [0,1]")
    _check(o.grad_clip is None or o.grad_clip > 0, "optim.grad_clip", o.grad_clip, "None or > 0")

    _check(t.epochs >= 1, "train.epochs", t.epochs, "an integer >= 1")
    _check(t.accumulate >= 1, "train.accumulate", t.accumulate, "an integer >= 1")
    _check(t.precision in PRECISIONS, "train.precision", t.precision, f"one of {PRECISIONS}")
    _check(t.device in DEVICES, "train.device", t.device, f"one of {DEVICES}")
    _check(t.checkpoint_every >= 1, "train.checkpoint_every", t.checkpoint_every, ">= 1")
    _check(
        t.checkpoint_every_steps >= 0,
        "train.checkpoint_every_steps",
        t.checkpoint_every_steps,
        ">= 0",
    )
    _check(t.probe_lr > 0, "train.probe_lr", t.probe_lr, "a positive number")
    _check(t.max_steps is None or t.max_steps >= 1, "train.max_steps", t.max_steps, "None or >= 1")
    _check(t.log_every >= 1, "train.log_every", t.log_every, "an integer >= 1")
    _check(bool(t.output_dir), "train.output_dir", t.output_dir, "a directory path")

    parts = world_size * t.accumulate
    _check(
        d.batch_size % parts == 0 and d.batch_size // parts >= 1,
        "data.batch_size",
        d.batch_size,
        f"a multiple of world_size x train.accumulate = {world_size} x {t.accumulate}",
    )


def compatible_for_resume(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Fields whose change makes a checkpoint unusable for ``--resume``.

    Returns a list of ``"section.key: saved -> current"`` strings (empty if compatible).
    Logging and artefact fields (``output_dir``, ``progress``, ...) may change; ``train.epochs``
    may not, because it defines the cosine schedule.
    """
    frozen = {
        "data": ("dataset", "image_size", "num_samples", "batch_size", "masks"),
        "augment": ("recipe", "output_size", "params"),
        "model": ("backbone", "width", "stem", "norm", "patch_size", "depth"),
        "method": ("name", "params"),
        "optim": ("name", "lr", "lr_scaling", "weight_decay", "schedule", "warmup_epochs"),
        "train": ("epochs", "accumulate", "precision", "seed", "online_probe"),
    }
    diffs = []
    for section, keys in frozen.items():
        for key in keys:
            a = saved.get(section, {}).get(key)
            b = current.get(section, {}).get(key)
            if a != b:
                diffs.append(f"{section}.{key}: {a!r} -> {b!r}")
    return diffs

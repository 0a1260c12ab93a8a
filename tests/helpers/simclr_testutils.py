"""Shared helpers for the trainer tests (tiny, CPU-only configurations)."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from simclr.config import Config, apply_overrides
from simclr.methods import METHODS
from simclr.models import build_backbone


def tiny_config(out: Path, *overrides: str) -> Config:
    """A ~1 s/epoch run: ResNet-18 at width 1/8, 16 px, 16 synthetic samples, batch 8."""
    base = [
        "data.image_size=16",
        "data.num_samples=16",
        "data.batch_size=8",
        "augment.recipe=thesis",
        "augment.output_size=16",
        "model.backbone=resnet18",
        "model.width=0.125",
        "optim.warmup_epochs=1",
        "train.epochs=2",
        "train.device=cpu",
        "train.progress=false",
        "train.plots=false",
        f"train.output_dir={out}",
    ]
    return apply_overrides(Config(), base + list(overrides))


# Every registered method, with the small heads it declares (``Method.smoke_params``).
METHOD_NAMES = METHODS.names()
TINY_PARAMS = {name: METHODS.get(name).smoke_params for name in METHOD_NAMES}
# Methods whose loss couples the samples of a batch (GradCache must be exact for them).
COUPLED = [name for name in METHOD_NAMES if METHODS.get(name).batch_coupled]
TINY_VIT = ["model.backbone=vit_tiny", "model.patch_size=4", "model.depth=1", "model.width=1.0"]


def takes_resnet(name: str) -> bool:
    """Whether method ``name`` accepts a ResNet (else the smoke runs use a tiny ViT)."""
    try:
        METHODS.get(name).check_backbone("resnet18")
    except ValueError:
        return False
    return True


def smoke_backbone(name: str, norm: str = "batch") -> nn.Module:
    """The backbone of the smoke runs of method ``name``: as :func:`tiny_method_config`."""
    if takes_resnet(name):
        return build_backbone("resnet18", 16, width=0.125, norm=norm)
    return build_backbone("vit_tiny", 16, patch_size=4, depth=1)


def tiny_method_config(out: Path, name: str, *overrides: str) -> Config:
    """``tiny_config`` with method ``name`` and its ``smoke_params`` (a ViT if it needs one)."""
    backbone = [] if takes_resnet(name) else TINY_VIT
    params = json.dumps(TINY_PARAMS[name])
    return tiny_config(out, f"method.name={name}", f"method.params={params}", *backbone, *overrides)


def tiny_mae_config(out: Path, *overrides: str) -> Config:
    """MAE on a 1-block ViT-Tiny, 16 px, patch 4, with AdamW."""
    return tiny_method_config(
        out,
        "mae",
        "optim.name=adamw",
        "optim.lr=1e-3",
        "optim.lr_scaling=none",
        "optim.weight_decay=0.05",
        *overrides,
    )

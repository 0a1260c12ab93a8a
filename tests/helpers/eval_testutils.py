"""Helpers for the evaluation tests: tiny checkpoints, counting encoders, fake reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from simclr.checkpoint import atomic_save
from simclr.config import Config, apply_overrides

TINY = [
    "data.image_size=16",
    "data.num_samples=16",
    "data.batch_size=8",
    "augment.output_size=16",
    "model.backbone=resnet18",
    "model.width=0.0625",
    "train.device=cpu",
    "train.progress=false",
    "train.plots=false",
]


def tiny_run_config(out: Path, *overrides: str) -> Config:
    """ResNet-18 at width 1/16 on 16 px synthetic images."""
    return apply_overrides(Config(), TINY + [f"train.output_dir={out}", *overrides])


def save_untrained_checkpoint(run_dir: Path, *overrides: str, seed: int = 0) -> Path:
    """An untrained model saved in the trainer's checkpoint format (``last.pt``)."""
    from simclr.train import build_train_module

    cfg = tiny_run_config(run_dir, *overrides)
    torch.manual_seed(seed)
    module = build_train_module(cfg, num_classes=10)
    path = run_dir / "last.pt"
    atomic_save({"model": module.state_dict(), "config": cfg.to_dict(), "epoch": 0}, path)
    return path


class CountingEncoder(nn.Module):
    """A tiny conv encoder that counts its forward calls.

    Shape:
        - Input: ``(B, 3, H, W)``
        - Output: ``(B, 8)``
    """

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.num_features = 8
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        return self.conv(x).relu().mean(dim=(2, 3))


def fake_report(
    path: Path,
    recipe: str,
    seed: int,
    values: dict[str, float],
    fallback: dict[str, float] | None = None,
    method: str = "simclr",
    backbone: str = "resnet50",
) -> Path:
    """A minimal ``report.json`` with ``summary["linear"]`` per dataset."""
    datasets: dict[str, Any] = {}
    for name, v in values.items():
        datasets[name] = {"metric": "top1", "summary": {"linear": v, "knn_k20": v / 2}}
        if fallback and name in fallback:
            datasets[name]["mask_fallback_rate"] = fallback[name]
    report = {
        "schema": 1,
        "run": {
            "pipeline": f"{method}/{backbone} ({recipe})",
            "method": method,
            "backbone": backbone,
            "recipe": recipe,
            "seed": seed,
        },
        "settings": {"l2_grid": [1e-3], "seed": 0},
        "datasets": datasets,
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "report.json").write_text(json.dumps(report))
    return path

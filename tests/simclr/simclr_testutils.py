"""Shared helpers for the trainer tests (tiny, CPU-only configurations)."""

from __future__ import annotations

from pathlib import Path

from simclr.config import Config, apply_overrides


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


def tiny_mae_config(out: Path, *overrides: str) -> Config:
    """MAE on a 1-block ViT-Tiny, 16 px, patch 4."""
    return tiny_config(
        out,
        "method.name=mae",
        "method.params={decoder_depth: 1, decoder_dim: 32, decoder_heads: 2}",
        "model.backbone=vit_tiny",
        "model.patch_size=4",
        "model.depth=1",
        "model.width=1.0",
        "optim.name=adamw",
        "optim.lr=1e-3",
        "optim.lr_scaling=none",
        "optim.weight_decay=0.05",
        *overrides,
    )


# Small heads (and multi-crop at 8 px) so every method trains in about a second.
TINY_PARAMS = {
    "byol": "{proj_hidden_dim: 32, proj_output_dim: 16, pred_hidden_dim: 32}",
    "simsiam": "{proj_hidden_dim: 32, proj_output_dim: 32, pred_hidden_dim: 8}",
    "barlow_twins": "{proj_dim: 32}",
    "vicreg": "{proj_dim: 32}",
    "vicregl": (
        "{proj_dim: 32, local_proj_dim: 16, local_views: 2, local_size: 8, num_matches: 2}"
    ),
    "nnclr": "{queue_size: 12, proj_hidden_dim: 32, proj_output_dim: 16, pred_hidden_dim: 32}",
    "swav": (
        "{num_prototypes: 8, proj_hidden_dim: 32, proj_output_dim: 16, local_views: 2, "
        "local_size: 8, queue_length: 8}"
    ),
}


def tiny_method_config(out: Path, name: str, *overrides: str) -> Config:
    """``tiny_config`` with method ``name`` and its small heads from ``TINY_PARAMS``."""
    return tiny_config(out, f"method.name={name}", f"method.params={TINY_PARAMS[name]}", *overrides)

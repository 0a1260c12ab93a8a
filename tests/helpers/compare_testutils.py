"""Helpers of the segaug-compare tests."""

from __future__ import annotations

TINY_COMPARE_FLAGS = [
    "--recipes", "thesis", "--seeds", "1", "--no-progress",
    "--set", "num_samples=64", "--set", "epochs=1", "--set", "batch_size=32",
    "--set", "probe_train=60", "--set", "probe_val=30",
    "--set", "eval_images=60", "--set", "challenge_images=60", "--set", "floors=false",
]  # fmt: skip
"""``segaug-compare`` flags of a seconds-long study (one recipe, one seed, no floors)."""


def tiny_compare(tmp_path, **kw):
    """``CompareSettings`` of a seconds-long segaug-compare: 64 images, 1 epoch, 2 seeds."""
    from simclr.compare import CompareSettings

    base = dict(
        recipes=("thesis",),
        seeds=(0, 1),
        num_samples=64,
        epochs=1,
        batch_size=32,
        probe_train=60,
        probe_val=30,
        eval_images=60,
        challenge_images=60,
        out_dir=str(tmp_path),
    )
    return CompareSettings(**{**base, **kw})

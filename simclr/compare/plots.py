"""The study's three plots: the protocol's headline bars, paired intervals and the heat map.

Example:
    >>> import math
    >>> from simclr.compare.protocols import get_protocol
    >>> from simclr.compare.summary import summarise
    >>> runs = [{"row": r, "kind": k, "method": "simclr", "recipe": r, "seed": sd,
    ...          "batch_size": 8, "linear": 0.5 + sd / 10, "knn": 0.4, "fallback_rate": 0.0,
    ...          "images_per_s": 1.0, "train_seconds": 1.0, "final_loss": 1.0}
    ...         for r, k in (("simclr", "baseline"), ("thesis", "recipe")) for sd in (0, 1)]
    >>> write_plots(Path("."), summarise(runs, {}, get_protocol("transfer")))
    >>> sorted(p.name for p in Path(".").glob("*.png"))
    ['heatmap.png', 'linear.png', 'paired.png']
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from simclr.compare.protocols import get_protocol
from simclr.compare.summary import study_grid

__all__ = ["write_plots"]


def write_plots(out: Path, summary: dict[str, Any]) -> None:
    """``<plot key>.png`` (rows with floors and anchors), ``paired.png`` (intervals) and
    ``heatmap.png`` (the study grid)."""
    from segaug.env import pyplot

    plt = pyplot()
    protocol = get_protocol(summary["protocol"])
    names_of = protocol.key_names
    key = protocol.plot_key
    rows = summary["rows"]
    names = list(rows)
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(names), 4))
    means = [100 * rows[n][key]["mean"] for n in names]
    stds = [100 * rows[n][key]["std"] for n in names]
    colors = [
        {"anchor": "tab:green", "baseline": "tab:gray"}.get(rows[n]["kind"], "tab:blue")
        for n in names
    ]
    ax.bar(range(len(names)), means, yerr=stds, capsize=3, color=colors)
    for i, n in enumerate(names):
        ax.plot(
            [i] * len(rows[n][key]["values"]),
            [100 * v for v in rows[n][key]["values"]],
            "k.",
            ms=4,
        )
    for fname, f in summary["floors"].items():
        y = 100 * f[key]["mean"]
        ax.axhline(y, ls="--", lw=1, color="gray")
        ax.text(len(names) - 0.5, y, f"floor: {fname}", fontsize=7, va="bottom", ha="right")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel(f"{names_of[key]} (%)")
    ax.set_title(f"{names_of[key]}{protocol.plot_note}, mean ± std, dots = seeds")
    fig.tight_layout()
    fig.savefig(out / f"{key}.png", dpi=110)
    plt.close(fig)

    paired = [(n, r["paired"]) for n, r in rows.items() if "paired" in r]
    keys = protocol.paired_keys
    fig, axes = plt.subplots(
        1,
        len(keys),
        figsize=(4 * len(keys), 1.2 + 0.45 * max(1, len(paired))),
        sharey=True,
        squeeze=False,
    )
    axes = axes[0]
    for ax, pkey in zip(axes, keys, strict=True):
        for i, (_, p) in enumerate(paired):
            d = p[pkey]
            lo = d["low"] if not math.isnan(d["low"]) else d["mean"]
            hi = d["high"] if not math.isnan(d["high"]) else d["mean"]
            ax.plot([100 * lo, 100 * hi], [i, i], color="tab:blue")
            ax.plot(100 * d["mean"], i, "o", color="tab:red" if d["beyond_noise"] else "k")
        ax.axvline(0, color="gray", lw=1)
        ax.set_title(f"{names_of[pkey]}: recipe - baseline (points)", fontsize=9)
    axes[0].set_yticks(range(len(paired)))
    axes[0].set_yticklabels([n for n, _ in paired], fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "paired.png", dpi=110)
    plt.close(fig)

    labels, columns, cells = study_grid(summary)
    lin_key = protocol.headline_keys[0]
    grid = [
        [
            100 * cells[(lab, c)][lin_key]["mean"] if (lab, c) in cells else float("nan")
            for c in columns
        ]
        for lab in labels
    ]
    fig, ax = plt.subplots(figsize=(2.5 + 1.4 * len(columns), 1.2 + 0.45 * len(labels)))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    for i, vals in enumerate(grid):
        for j, v in enumerate(vals):
            if v == v:
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([f"{m}\nbatch {b}" for m, b in columns], fontsize=8)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_title(f"linear probe on {protocol.headline_split} (%), mean over seeds", fontsize=9)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(out / "heatmap.png", dpi=110)
    plt.close(fig)

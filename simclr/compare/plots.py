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
from simclr.compare.summary import gain_pairing, study_grid

__all__ = ["extra_plot_names", "write_plots"]


def _budgets(summary: dict[str, Any]) -> list[int]:
    return sorted({r.get("epochs", 0) for r in summary["rows"].values()})


def extra_plot_names(summary: dict[str, Any]) -> list[str]:
    """The plots beyond the three every study has: ``budget`` (several training lengths,
    and recipe rows paired with a baseline to plot) and ``mask_quality`` (rows trained
    with other masks than the exact ones)."""
    paired = any(r["kind"] == "recipe" and "paired" in r for r in summary["rows"].values())
    names = ["budget"] if len(_budgets(summary)) > 1 and paired else []
    if any("exact_row" in r for r in summary["rows"].values()):
        names.append("mask_quality")
    return names


def _gain(row: dict[str, Any], key: str) -> tuple[float, float, float]:
    """(mean, low, high) of a row's paired gain in points (the mean where no interval).

    Over the study's first method's baseline for another method's rows (``vs_reference``),
    else over its own baseline; a baseline row without a pairing gains 0.
    """
    pairing = gain_pairing(row)
    if not pairing:
        return 0.0, 0.0, 0.0
    d = pairing[key]
    lo = d["low"] if not math.isnan(d["low"]) else d["mean"]
    hi = d["high"] if not math.isnan(d["high"]) else d["mean"]
    return 100 * d["mean"], 100 * lo, 100 * hi


def _budget_plot(plt: Any, out: Path, summary: dict[str, Any], key: str, name: str) -> None:
    """Each recipe row's paired gain against the pretraining steps, one line per row."""
    lines: dict[tuple[str, int, str], list[tuple[float, tuple[float, float, float]]]] = {}
    for r in summary["rows"].values():
        if r["kind"] == "recipe" and "paired" in r:
            lines.setdefault((r["method"], r["batch_size"], r["label"]), []).append(
                (r["steps"], _gain(r, key))
            )
    fig, ax = plt.subplots(figsize=(6, 4))
    several = len({(m, b) for m, b, _ in lines}) > 1
    for (method, batch, label), pts in lines.items():
        pts.sort()
        xs = [x for x, _ in pts]
        mean = [g[0] for _, g in pts]
        text = f"{method} bs {batch} / {label}" if several else label
        line = ax.plot(xs, mean, "o-", label=text)[0]
        ax.fill_between(xs, [g[1] for _, g in pts], [g[2] for _, g in pts],
                        color=line.get_color(), alpha=0.15)  # fmt: skip
    ax.axhline(0, color="gray", lw=1)
    ax.set_xlabel("pretraining steps")
    ax.set_ylabel(f"{name}: recipe - baseline (points)")
    ax.set_title("gain by training length (band: 95% t interval over seeds)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "budget.png", dpi=110)
    plt.close(fig)


def _mask_quality_plot(plt: Any, out: Path, summary: dict[str, Any], key: str, name: str) -> None:
    """Each row's gain against the IoU of its masks (exact masks at IoU 1)."""
    rows, quality = summary["rows"], summary.get("masks", {})
    fig, ax = plt.subplots(figsize=(6, 4))
    by_exact: dict[str, list[tuple[float, tuple[float, float, float], bool]]] = {}
    for r in rows.values():
        if "exact_row" in r and r.get("masks") in quality:
            degraded = r["masks"].startswith("iou=")
            by_exact.setdefault(r["exact_row"], []).append(
                (quality[r["masks"]]["iou"], _gain(r, key), degraded)
            )
    for exact_name, pts in by_exact.items():
        curve = sorted([(1.0, _gain(rows[exact_name], key), True)] + [p for p in pts if p[2]])
        xs = [x for x, _, _ in curve]
        line = ax.plot(xs, [g[0] for _, g, _ in curve], "o-", label=exact_name)[0]
        ax.fill_between(xs, [g[1] for _, g, _ in curve], [g[2] for _, g, _ in curve],
                        color=line.get_color(), alpha=0.15)  # fmt: skip
        for iou, g, degraded in pts:
            if not degraded:  # a segmenter's masks: a star on the same axes
                ax.errorbar([iou], [g[0]], yerr=[[g[0] - g[1]], [g[2] - g[0]]], fmt="*",
                            ms=11, color=line.get_color(), capsize=3)  # fmt: skip
    ax.axhline(0, color="gray", lw=1)
    ax.set_xlabel("mean IoU of the training masks against the exact ones")
    ax.set_ylabel(f"{name}: recipe - baseline (points)")
    ax.set_title("gain by mask quality (dots: degraded exact masks; stars: segmenters)",
                 fontsize=9)  # fmt: skip
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "mask_quality.png", dpi=110)
    plt.close(fig)


def write_plots(out: Path, summary: dict[str, Any]) -> None:
    """``<plot key>.png`` (rows with floors and anchors), ``paired.png`` (intervals),
    ``heatmap.png`` (the study grid) and the :func:`extra_plot_names` plots."""
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
    gain_key = protocol.gap_key or protocol.paired_keys[0]
    extra = extra_plot_names(summary)
    if "budget" in extra:
        _budget_plot(plt, out, summary, gain_key, names_of.get(gain_key, gain_key))
    if "mask_quality" in extra:
        _mask_quality_plot(plt, out, summary, gain_key, names_of.get(gain_key, gain_key))

"""A study's numbers, summarised: rows over seeds, paired differences, calibration, findings.

Every function reads the study's :class:`~simclr.compare.protocols.Protocol` (named by
``summary["protocol"]``) for which numbers to summarise, pair and check.

Example:
    >>> from simclr.compare.protocols import get_protocol
    >>> runs = [{"row": r, "kind": k, "method": "simclr", "recipe": r, "seed": sd,
    ...          "batch_size": 8, "linear": lin, "knn": lin, "fallback_rate": 0.0,
    ...          "images_per_s": 1.0, "train_seconds": 1.0, "final_loss": 1.0}
    ...         for r, k, lin in (("simclr", "baseline", 0.5), ("thesis", "recipe", 0.6))
    ...         for sd in (0, 1)]
    >>> summary = summarise(runs, {}, get_protocol("transfer"))
    >>> round(summary["rows"]["thesis"]["paired"]["linear"]["mean"], 3)
    0.1
    >>> findings(summary)
    ['`thesis`: beyond seed noise: linear probe +10.0 points, kNN (k=20) +10.0 points.']
"""

from __future__ import annotations

import math
from typing import Any

from simclr.compare.protocols import Protocol, get_protocol

__all__ = ["calibration", "findings", "study_grid", "summarise"]


def _group(row: dict[str, Any]) -> str:
    """The anchors a row is compared with: same method and batch size."""
    return f"{row['method']} bs {row['batch_size']}"


def _stat(protocol: Protocol, runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """``{"mean", "std", "values"}`` of number ``key`` over ``runs``."""
    from simclr.evaluate.stats import mean_std

    vals = [protocol.value(r, key) for r in runs]
    m, sd = mean_std(vals)
    return {"mean": m, "std": sd, "values": vals}


def summarise(
    runs: list[dict[str, Any]], floors: dict[str, Any], protocol: Protocol
) -> dict[str, Any]:
    """Rows (mean ± std per metric), paired differences and gap closed per method.

    Args:
        runs: Every run's result.
        floors: ``{floor name: {"seeds": [results]}}``.
        protocol: The study's protocol.

    Returns:
        ``{"rows", "floors", "anchors", "protocol"}``; ``anchors`` maps each method (and
        batch size) to its anchor and baseline rows.
    """
    from simclr.evaluate.stats import gap_closed, mean_std, paired_difference

    rows: dict[str, dict[str, Any]] = {}
    for r in runs:
        row = rows.setdefault(
            r["row"],
            {
                "kind": r["kind"],
                "method": r["method"],
                "recipe": r["recipe"],
                "label": r.get("label") or r["row"],
                "batch_size": r.get("batch_size", 0),
                "runs": [],
            },
        )
        row["runs"].append(r)
    for row in rows.values():
        rs = sorted(row["runs"], key=lambda r: r["seed"])
        row["seeds"] = [r["seed"] for r in rs]
        for k in protocol.metric_keys:
            row[k] = _stat(protocol, rs, k)
        row["fallback_rate"] = mean_std([r["fallback_rate"] for r in rs])[0]
        row["images_per_s"] = mean_std([r["images_per_s"] for r in rs])[0]
        row["train_seconds"] = mean_std([r["train_seconds"] for r in rs])[0]
        row["final_loss"] = mean_std([r["final_loss"] for r in rs])[0]
        row["peak_memory_bytes"] = max(r.get("peak_memory_bytes", 0) for r in rs)
        row["peak_memory_kind"] = rs[0].get("peak_memory_kind", "")
        del row["runs"]
    by_method: dict[str, dict[str, str]] = {}  # "method bs N" -> anchor rows
    for name, row in rows.items():
        if row["kind"] in ("anchor", "baseline"):
            by_method.setdefault(_group(row), {})[row["kind"]] = name
    for row in rows.values():
        refs = by_method.get(_group(row), {})
        base = rows.get(refs.get("baseline", ""))
        anchor = rows.get(refs.get("anchor", ""))
        if base is None or row["kind"] == "baseline":
            continue
        shared = [sd for sd in row["seeds"] if sd in base["seeds"]]
        paired = {}
        for k in protocol.paired_keys:
            a = [row[k]["values"][row["seeds"].index(sd)] for sd in shared]
            b = [base[k]["values"][base["seeds"].index(sd)] for sd in shared]
            paired[k] = paired_difference(a, b).to_dict()
        row["paired"] = paired
        gap = protocol.gap_key
        if anchor is not None and row["kind"] == "recipe" and gap is not None:
            row["gap_closed"] = gap_closed(row[gap]["mean"], base[gap]["mean"], anchor[gap]["mean"])
    floor_rows = {
        name: {k: _stat(protocol, f["seeds"], k) for k in protocol.metric_keys}
        for name, f in floors.items()
    }
    return {"rows": rows, "floors": floor_rows, "anchors": by_method, "protocol": protocol.name}


def calibration(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The instrument checks, each with its measured value and verdict, per method."""
    protocol = get_protocol(summary["protocol"])
    checks = []
    several_sizes = len({r["batch_size"] for r in summary["rows"].values()}) > 1
    for group, refs in summary["anchors"].items():
        anchor = summary["rows"].get(refs.get("anchor", ""))
        base = summary["rows"].get(refs.get("baseline", ""))
        method = group if several_sizes else group.split(" bs ")[0]
        checks += protocol.calibration_checks(method, anchor, base, summary["floors"])
    return checks


def findings(summary: dict[str, Any]) -> list[str]:
    """One sentence per compared row: what moved beyond seed noise, and the gap closed."""
    names = get_protocol(summary["protocol"]).key_names
    out = []
    for name, row in summary["rows"].items():
        if "paired" not in row or row["kind"] != "recipe":
            continue
        moved = [
            f"{names[k]} {100 * d['mean']:+.1f} points"
            for k, d in row["paired"].items()
            if d["beyond_noise"]
        ]
        gap = row.get("gap_closed")
        gap_s = "" if gap is None or math.isnan(gap) else f" It closes {100 * gap:.0f}% of the gap."
        if moved:
            out.append(f"`{name}`: beyond seed noise: {', '.join(moved)}.{gap_s}")
        else:
            out.append(f"`{name}`: no difference from the baseline beyond seed noise.{gap_s}")
    return out


def study_grid(summary: dict[str, Any]) -> tuple[list[str], list[tuple[str, int]], dict]:
    """Labels (rows), (method, batch size) columns and ``{(label, column): row}``."""
    labels: list[str] = []
    columns: list[tuple[str, int]] = []
    cells = {}
    for r in summary["rows"].values():
        col = (r["method"], r["batch_size"])
        labels += [r["label"]] if r["label"] not in labels else []
        columns += [col] if col not in columns else []
        cells[(r["label"], col)] = r
    return labels, columns, cells

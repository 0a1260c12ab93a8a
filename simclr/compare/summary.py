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

from simclr.compare.plan import EXACT_MASKS, masks_label
from simclr.compare.protocols import Protocol, get_protocol

__all__ = ["best_findings", "calibration", "findings", "mask_gain", "study_grid", "summarise"]


def _group(row: dict[str, Any]) -> str:
    """The anchors a row is compared with: same method, batch size and budget."""
    budget = f" ep {row['epochs']}" if row.get("epochs") else ""
    return f"{row['method']} bs {row['batch_size']}{budget}"


def _paired(
    protocol: Protocol, row: dict[str, Any], ref: dict[str, Any], keys: tuple[str, ...]
) -> dict[str, Any]:
    """Paired differences ``row - ref`` over their shared seeds, per key."""
    from simclr.evaluate.stats import paired_difference

    shared = [sd for sd in row["seeds"] if sd in ref["seeds"]]
    out = {}
    for k in keys:
        a = [row[k]["values"][row["seeds"].index(sd)] for sd in shared]
        b = [ref[k]["values"][ref["seeds"].index(sd)] for sd in shared]
        out[k] = paired_difference(a, b).to_dict()
    return out


def gain_pairing(row: dict[str, Any]) -> dict[str, Any] | None:
    """The paired statistics a row's gain is read from, or None for a baseline row.

    Another method's rows are paired with the reference method's baseline
    (``vs_reference``); the others with their own method's baseline (``paired``).

    Example:
        >>> gain_pairing({"paired": {"k": {"mean": 0.1}}, "vs_reference": {"k": {"mean": 0.3}}})
        {'k': {'mean': 0.3}}
        >>> gain_pairing({"kind": "baseline"}) is None
        True
    """
    return row.get("vs_reference") or row.get("paired") or None


def mask_gain(row: dict[str, Any], key: str) -> float:
    """A row's gain on ``key``: over the reference method's baseline when it has that
    pairing (another method's rows), else over its own method's baseline (0 for it).

    Example:
        >>> mask_gain({"paired": {"k": {"mean": 0.1}}}, "k")
        0.1
        >>> mask_gain({"kind": "baseline"}, "k")
        0.0
    """
    pairing = gain_pairing(row)
    return float(pairing[key]["mean"]) if pairing else 0.0


def _stat(protocol: Protocol, runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """``{"mean", "std", "values"}`` of number ``key`` over ``runs``."""
    from simclr.evaluate.stats import mean_std

    vals = [protocol.value(r, key) for r in runs]
    m, sd = mean_std(vals)
    return {"mean": m, "std": sd, "values": vals}


def summarise(
    runs: list[dict[str, Any]],
    floors: dict[str, Any],
    protocol: Protocol,
    mask_quality: dict[str, dict[str, Any]] | None = None,
    reference_method: str | None = None,
) -> dict[str, Any]:
    """Rows (mean ± std per metric), paired differences and gap closed per method.

    A row trained with other masks than the exact ones (``masks``) is also paired with
    the same recipe on the exact masks (``vs_exact``), and ``kept`` is the share of the
    exact-mask gain (on the protocol's gap key) that it keeps. With several methods,
    every row of another method than ``reference_method`` is also paired with the
    reference method's baseline (``vs_reference``) and its gap closed measured between
    that baseline and the reference method's anchor (``gap_closed_vs_reference``): the
    methods side by side against one yardstick.

    Args:
        runs: Every run's result.
        floors: ``{floor name: {"seeds": [results]}}``.
        protocol: The study's protocol.
        mask_quality: What :func:`simclr.compare.masks.build_mask_caches` measured.
        reference_method: The method the others are measured against (the study's
            first).

    Returns:
        ``{"rows", "floors", "anchors", "protocol", "masks"}``, and ``"reference"``
        (the reference method) with several methods; ``anchors`` maps each method
        (batch size and budget) to its anchor and baseline rows.
    """
    from simclr.evaluate.stats import gap_closed, mean_std

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
                "epochs": r.get("epochs", 0),
                "masks": r.get("masks", EXACT_MASKS),
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
        row["steps"] = mean_std([r.get("steps", math.nan) for r in rs])[0]
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
        row["paired"] = _paired(protocol, row, base, protocol.paired_keys)
        gap = protocol.gap_key
        if anchor is not None and row["kind"] == "recipe" and gap is not None:
            row["gap_closed"] = gap_closed(row[gap]["mean"], base[gap]["mean"], anchor[gap]["mean"])
    methods = {row["method"] for row in rows.values()}
    reference = reference_method if reference_method in methods and len(methods) > 1 else None
    for row in rows.values() if reference else ():
        if row["method"] == reference:
            continue
        refs = by_method.get(_group({**row, "method": reference}), {})
        base, anchor = rows.get(refs.get("baseline", "")), rows.get(refs.get("anchor", ""))
        if base is None:
            continue
        row["vs_reference"] = _paired(protocol, row, base, protocol.paired_keys)
        gap = protocol.gap_key
        if anchor is not None and gap is not None and row["kind"] != "anchor":
            row["gap_closed_vs_reference"] = gap_closed(
                row[gap]["mean"], base[gap]["mean"], anchor[gap]["mean"]
            )
    exact_rows = {
        (_group(row), row["recipe"], row["label"]): name
        for name, row in rows.items()
        if row["kind"] in ("recipe", "baseline") and row["masks"] == EXACT_MASKS
    }
    for row in rows.values():
        if row["kind"] != "recipe" or row["masks"] == EXACT_MASKS or "paired" not in row:
            continue
        suffix = masks_label(row["masks"])
        exact_label = row["label"][: -len(suffix)] if row["label"].endswith(suffix) else ""
        exact_name = exact_rows.get((_group(row), row["recipe"], exact_label))
        if exact_name is None:
            continue
        exact = rows[exact_name]
        row["exact_row"] = exact_name
        row["vs_exact"] = _paired(protocol, row, exact, protocol.paired_keys)
        key = protocol.gap_key or protocol.paired_keys[0]
        gain, exact_gain = mask_gain(row, key), mask_gain(exact, key)
        row["kept"] = gain / exact_gain if exact_gain > 0 else math.nan
    best = _pair_with_best(protocol, rows)
    floor_rows = {
        name: {k: _stat(protocol, f["seeds"], k) for k in protocol.metric_keys}
        for name, f in floors.items()
    }
    out = {
        "rows": rows,
        "floors": floor_rows,
        "anchors": by_method,
        "protocol": protocol.name,
        "masks": dict(mask_quality or {}),
    }
    if reference is not None:  # a one-method study's summary is unchanged
        out["reference"] = reference
    if best:
        out["best"] = best
    return out


def _pair_with_best(protocol: Protocol, rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Pair every exact-mask recipe row with the best one of its method, batch size and
    budget (highest mean on the gap key), where there are two or more: ``vs_best``.

    Returns:
        ``{group: name of the best row}`` for the groups with two or more recipe rows.
    """
    key = protocol.gap_key or protocol.paired_keys[0]
    groups: dict[str, list[str]] = {}
    for name, row in rows.items():
        if row["kind"] == "recipe" and row["masks"] == EXACT_MASKS and "paired" in row:
            groups.setdefault(_group(row), []).append(name)
    best = {}
    for group, names in groups.items():
        if len(names) < 2:
            continue
        top = max(names, key=lambda n: rows[n][key]["mean"])
        best[group] = top
        for name in names:
            if name != top:
                rows[name]["best_row"] = top
                rows[name]["vs_best"] = _paired(protocol, rows[name], rows[top], (key,))
    return best


def calibration(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The instrument checks, each with its measured value and verdict, per method."""
    protocol = get_protocol(summary["protocol"])
    checks = []
    rows = summary["rows"].values()
    several_sizes = len({r["batch_size"] for r in rows}) > 1
    several_budgets = len({r.get("epochs", 0) for r in rows}) > 1
    for refs in summary["anchors"].values():
        anchor = summary["rows"].get(refs.get("anchor", ""))
        base = summary["rows"].get(refs.get("baseline", ""))
        ref = anchor or base
        if ref is None:
            continue
        name = ref["method"]
        name += f" bs {ref['batch_size']}" if several_sizes else ""
        name += f" {ref.get('epochs', 0)} ep" if several_budgets else ""
        group = _group(ref)
        recipes = [
            r
            for r in summary["rows"].values()
            if r["kind"] == "recipe"
            and r.get("masks", EXACT_MASKS) == EXACT_MASKS
            and _group(r) == group
        ]
        checks += protocol.calibration_checks(name, anchor, base, summary["floors"], recipes)
    return checks


def mask_quality_phrase(quality: dict[str, Any]) -> str:
    """How good a row's masks are, in words: IoU and fallback, or for label maps (several
    regions, no foreground and so no fallback) the best single region's IoU.

    Example:
        >>> mask_quality_phrase({"iou": 0.83, "fallback": 0.087})
        'these masks: IoU 0.83, fallback 9%'
        >>> mask_quality_phrase({"iou": 0.59, "label_maps": True, "regions": 2.7, "fallback": 1.0})
        'these masks: label maps of 2.7 regions, best region IoU 0.59'
    """
    if quality.get("label_maps"):
        return (
            f"these masks: label maps of {quality['regions']:.1f} regions, "
            f"best region IoU {quality['iou']:.2f}"
        )
    return f"these masks: IoU {quality['iou']:.2f}, fallback {100 * quality['fallback']:.0f}%"


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
        kept = row.get("kept")
        quality = summary.get("masks", {}).get(row.get("masks", EXACT_MASKS))
        if kept is not None and not math.isnan(kept):
            gap_s += f" It keeps {100 * kept:.0f}% of its gain with exact masks"
            gap_s += f" ({mask_quality_phrase(quality)})." if quality else "."

        if moved:
            out.append(f"`{name}`: beyond seed noise: {', '.join(moved)}.{gap_s}")
        else:
            out.append(f"`{name}`: no difference from the baseline beyond seed noise.{gap_s}")
    return out + best_findings(summary)


def best_findings(summary: dict[str, Any]) -> list[str]:
    """One sentence per method, batch size and budget with two or more recipe rows: the
    best row, and which rows are within seed noise of it.

    Example:
        >>> def row(d):
        ...     return {"best_row": "fill",
        ...             "vs_best": {"object_info": {"mean": d, "beyond_noise": d < -0.02}}}
        >>> best_findings({"protocol": "backgrounds", "best": {"g": "fill"},
        ...                "rows": {"fill": {}, "swap": row(-0.01), "thesis": row(-0.2)}})
        ['Best recipe row (g): `fill`; within seed noise of it: `swap` (-1.0 points); \
below it beyond seed noise: `thesis` (-20.0 points).']
    """
    protocol = get_protocol(summary["protocol"])
    key = protocol.gap_key or protocol.paired_keys[0]
    out = []
    for group, top in summary.get("best", {}).items():
        near, below, unknown = [], [], []
        for name, row in summary["rows"].items():
            if row.get("best_row") != top:
                continue
            d = row["vs_best"][key]
            text = f"`{name}` ({100 * d['mean']:+.1f} points)"
            if d.get("n", 2) < 2:
                unknown.append(text)
            else:
                (below if d["beyond_noise"] else near).append(text)
        sentence = f"Best recipe row ({group}): `{top}`"
        sentence += f"; within seed noise of it: {', '.join(near)}" if near else ""
        sentence += f"; below it beyond seed noise: {', '.join(below)}" if below else ""
        sentence += (
            f"; below it, one seed (no noise estimate): {', '.join(unknown)}" if unknown else ""
        )
        out.append(sentence + ".")
    return out


def study_grid(summary: dict[str, Any]) -> tuple[list[str], list[tuple[str, int]], dict]:
    """Labels (rows), (method, batch size) columns and ``{(label, column): row}``.

    With several budgets a label carries its budget (``"thesis, 9 ep"``), so every
    training length keeps its own line.
    """
    several_budgets = len({r.get("epochs", 0) for r in summary["rows"].values()}) > 1
    labels: list[str] = []
    columns: list[tuple[str, int]] = []
    cells = {}
    for r in summary["rows"].values():
        col = (r["method"], r["batch_size"])
        label = f"{r['label']}, {r['epochs']} ep" if several_budgets else r["label"]
        labels += [label] if label not in labels else []
        columns += [col] if col not in columns else []
        cells[(label, col)] = r
    return labels, columns, cells

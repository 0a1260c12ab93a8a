"""``report.md`` of a study: protocol, calibration, results, paired statistics, study table.

Every protocol-specific sentence, column and number comes from the study's
:class:`~simclr.compare.protocols.Protocol`; percentages and tables are formatted by
:mod:`simclr.evaluate.format`, as in ``simclr-eval``'s reports.

Example:
    >>> from simclr.compare.protocols import get_protocol
    >>> from simclr.compare.summary import summarise
    >>> runs = [{"row": r, "kind": k, "method": "simclr", "recipe": r, "seed": 0,
    ...          "label": r, "batch_size": 8, "linear": 0.5, "knn": 0.4,
    ...          "fallback_rate": 0.0, "images_per_s": 10.0, "train_seconds": 60.0,
    ...          "final_loss": 1.0, "peak_memory_bytes": 2**30, "peak_memory_kind": "RSS"}
    ...         for r, k in (("simclr", "baseline"), ("thesis", "recipe"))]
    >>> summary = summarise(runs, {}, get_protocol("transfer"))
    >>> study_table(summary)[-1]
    '| thesis | 0.500 ± 0.000 / 0.400 ± 0.000 (1.0 min / 1.00 GB) |'
"""

from __future__ import annotations

import math
from typing import Any

from segaug.constants import GLOBAL_MASKS_IN_LOSS, GLOBAL_ONLY
from simclr.compare.plan import BASELINE, uses_regions
from simclr.compare.plots import extra_plot_names
from simclr.compare.protocols import Protocol, get_protocol
from simclr.compare.settings import CompareSettings
from simclr.compare.summary import gain_pairing, study_grid
from simclr.evaluate.format import markdown_header, markdown_row

__all__ = [
    "best_lines",
    "budget_lines",
    "masks_lines",
    "methods_lines",
    "render_markdown",
    "study_table",
]


def _diff(d: dict[str, Any]) -> str:
    if d["n"] < 2:
        return f"{100 * d['mean']:+.1f}"
    mark = " **\\***" if d["beyond_noise"] else ""
    return (
        f"{100 * d['mean']:+.1f} ± {100 * d['std']:.1f} "
        f"[{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]{mark}"
    )


def study_table(summary: dict[str, Any]) -> list[str]:
    """The methods × transform-sets study table: recipes x (method, batch size).

    A cell reads ``linear ± std / kNN ± std (pretraining minutes / peak memory)``: the
    protocol's headline linear probe and kNN (k=20, T=0.1) numbers, mean over seeds.
    """
    labels, columns, cells = study_grid(summary)
    if not columns:
        return []
    protocol = get_protocol(summary["protocol"])
    lin_key, knn_key = protocol.headline_keys
    kind = next(iter(summary["rows"].values())).get("peak_memory_kind", "")
    head = [f"{m}, batch {b}" for m, b in columns]
    lines = [
        "",
        "## Study table: methods × transform sets",
        "",
        f"Each cell: linear probe ± std / kNN ± std on {protocol.headline_split} "
        f"(pretraining minutes / peak memory, {kind}).",
        "",
        *markdown_header(["recipe", *head]),
    ]

    def ms(x: dict[str, Any]) -> str:
        return f"{x['mean']:.3f}" + (f" ± {x['std']:.3f}" if len(x["values"]) > 1 else "")

    if summary["floors"]:  # the same for every column: stated once
        text = "; ".join(
            f"{name} {ms(f[lin_key])} / {ms(f[knn_key])}" for name, f in summary["floors"].items()
        )
        lines.append(markdown_row(["*floors*", text, *[""] * (len(head) - 1)]))
    for label in labels:
        row = [label]
        for col in columns:
            r = cells.get((label, col))
            if r is None:
                row.append("")
                continue
            lin, knn = r[lin_key], r[knn_key]
            row.append(
                f"{lin['mean']:.3f} ± {lin['std']:.3f} / {knn['mean']:.3f} ± {knn['std']:.3f} "
                f"({r['train_seconds'] / 60:.1f} min / {r['peak_memory_bytes'] / 2**30:.2f} GB)"
            )
        lines.append(markdown_row(row))
    return lines


def _results_lines(summary: dict[str, Any], protocol: Protocol) -> list[str]:
    """The results table: floors, anchors and rows, mean ± std over seeds."""
    lines = [
        "",
        "## Results (%, mean ± std over seeds)",
        "",
        *markdown_header(["row", *protocol.result_columns(), "fallback", "train img/s"]),
    ]
    for name, f in summary["floors"].items():
        lines.append(markdown_row([f"*floor: {name}*", *protocol.floor_cells(f), "", ""]))
    for name, r in summary["rows"].items():
        label = {"anchor": f"*{name}* (upper anchor)", "baseline": f"*{name}* (baseline)"}.get(
            r["kind"], f"`{name}`"
        )
        global_word = GLOBAL_MASKS_IN_LOSS if uses_regions(r["method"]) else GLOBAL_ONLY
        fb = global_word if r["recipe"] == BASELINE else f"{100 * r['fallback_rate']:.1f}%"
        lines.append(markdown_row([label, *protocol.row_cells(r), fb, f"{r['images_per_s']:.0f}"]))
    if protocol.column_notes:
        lines += ["", "What each column means:", ""]
        lines += [f"- **{k}**: {v}." for k, v in protocol.column_notes.items()]
    return lines


def _gain_key(protocol: Protocol) -> str:
    """The number gains are read on: the protocol's gap key, else its first paired key."""
    return protocol.gap_key or protocol.paired_keys[0]


def _gain_cell(row: dict[str, Any], key: str) -> str:
    """A row's gain as in :func:`~simclr.compare.summary.mask_gain`, with its spread."""
    pairing = gain_pairing(row)
    return _diff(pairing[key]) if pairing else "+0.0 (the baseline)"


def masks_lines(summary: dict[str, Any]) -> list[str]:
    """The masks section: each mask set's quality, and each row's gain with it.

    Example:
        >>> summary = {"protocol": "backgrounds", "rows": {}, "masks": {"classical": {
        ...     "label": "classical masks", "iou": 0.84, "iou_std": 0.1, "fallback": 0.09,
        ...     "exact_fallback": 0.0, "masks_per_s": 50.0, "size": 32}}}
        >>> masks_lines(summary)[5]
        '| classical masks | 0.84 ± 0.10 | 9.0% | 0.0% | 50 |'
    """
    quality = summary.get("masks") or {}
    if not quality:
        return []
    protocol = get_protocol(summary["protocol"])
    key = _gain_key(protocol)
    lines = [
        "",
        "## Masks: exact and what users have",
        "",
        *markdown_header(["masks", "IoU vs exact", "fallback", "exact fallback", "masks/s"]),
    ]
    for q in quality.values():
        regions = q.get("label_maps", False)
        lines.append(
            markdown_row(
                [
                    q["label"],
                    f"{q['iou']:.2f} ± {q['iou_std']:.2f}"
                    + (f" (best of {q['regions']:.1f} regions)" if regions else ""),
                    "— (label maps)" if regions else f"{100 * q['fallback']:.1f}%",
                    f"{100 * q['exact_fallback']:.1f}%",
                    f"{q['masks_per_s']:.0f}",
                ]
            )
        )
    size = next(iter(quality.values())).get("size")
    lines += [
        "",
        f"Masks of the {next(iter(quality.values())).get('images')} training images at "
        f"{size} px; fallback: share of images whose mask covers under 5% or over 90% of "
        "the image (those views use the global pipeline).",
        "",
        f"Gain: paired {protocol.key_names.get(key, key)} over the baseline (points, mean "
        "± std; for a method other than the study's first, over the first method's "
        "baseline); kept: the gain with these masks over the gain with the exact masks.",
        "",
        *markdown_header(["row", "gain, exact masks", "gain, these masks", "kept", "vs exact"]),
    ]
    for name, r in summary["rows"].items():
        if "exact_row" not in r:
            continue
        exact = summary["rows"][r["exact_row"]]
        kept = r.get("kept", math.nan)
        lines.append(
            markdown_row(
                [
                    name,
                    _gain_cell(exact, key),
                    _gain_cell(r, key),
                    "—" if math.isnan(kept) else f"{100 * kept:.0f}%",
                    _diff(r["vs_exact"][key]),
                ]
            )
        )
    return lines


def methods_lines(summary: dict[str, Any]) -> list[str]:
    """The methods section: every row against the reference method's baseline and anchor.

    Only for studies of several methods (``summary["reference"]`` set). The reference
    method's own rows read their usual paired difference and gap closed; the other
    methods' rows their ``vs_reference`` pairing.

    Example:
        >>> d = {"mean": 0.05, "std": 0.01, "low": 0.03, "high": 0.07, "n": 3,
        ...      "beyond_noise": False}
        >>> summary = {"protocol": "transfer", "reference": "simclr", "rows": {
        ...     "detcon_s / simclr": {"method": "detcon_s", "kind": "baseline",
        ...                           "vs_reference": {"linear": d, "knn": d}}}}
        >>> methods_lines(summary)[-1]
        '| detcon_s / simclr | +5.0 ± 1.0 [+3.0, +7.0] | +5.0 ± 1.0 [+3.0, +7.0] | — |'
    """
    reference = summary.get("reference")
    if not reference:
        return []
    protocol = get_protocol(summary["protocol"])
    keys = protocol.paired_keys
    lines = [
        "",
        f"## Methods side by side: against the `{reference}` baseline",
        "",
        f"Every row paired by seed with `{reference}`'s baseline (points, mean ± std [95% t "
        f"interval]); gap closed between that baseline and `{reference}`'s objects-alone "
        "anchor.",
        "",
        *markdown_header(["row", *(protocol.key_names.get(k, k) for k in keys), "gap closed"]),
    ]
    for name, r in summary["rows"].items():
        if r["method"] == reference:
            paired, gap = r.get("paired"), r.get("gap_closed", math.nan)
        else:
            paired, gap = r.get("vs_reference"), r.get("gap_closed_vs_reference", math.nan)
        if not paired or r["kind"] == "anchor":
            continue
        gap_cell = "—" if gap != gap else f"{100 * gap:.0f}%"
        lines.append(markdown_row([name, *(_diff(paired[k]) for k in keys), gap_cell]))
    return lines


def budget_lines(summary: dict[str, Any]) -> list[str]:
    """The budget section: each row's gain at every training length (several budgets and
    recipe rows paired with a baseline only: the study's ``budget`` plot)."""
    if "budget" not in extra_plot_names(summary):  # one budget, or no gain to pair
        return []
    rows = summary["rows"]
    budgets = sorted({r.get("epochs", 0) for r in rows.values()})
    protocol = get_protocol(summary["protocol"])
    key = _gain_key(protocol)
    steps = {
        e: next((r["steps"] for r in rows.values() if r.get("epochs") == e), math.nan)
        for e in budgets
    }
    head = [f"{e} epochs ({steps[e]:.0f} steps)" for e in budgets]
    lines = [
        "",
        f"## Budget: paired {protocol.key_names.get(key, key)} gain by training length",
        "",
        *markdown_header(["row", *head]),
    ]
    by_label: dict[tuple[str, int, str], dict[int, dict[str, Any]]] = {}
    for r in rows.values():
        if "paired" in r and r["kind"] == "recipe":
            by_label.setdefault((r["method"], r["batch_size"], r["label"]), {})[r["epochs"]] = r
    several = len({(m, b) for m, b, _ in by_label}) > 1
    for (method, batch, label), at in by_label.items():
        cells = [_diff(at[e]["paired"][key]) if e in at else "" for e in budgets]
        name = f"{method} bs {batch} / {label}" if several else label
        lines.append(markdown_row([name, *cells]))
    for kind in ("anchor", "baseline"):
        cells = []
        for e in budgets:
            r = next((r for r in rows.values() if r["kind"] == kind and r["epochs"] == e), None)
            cells.append("" if r is None else f"{100 * r[key]['mean']:.1f} (level)")
        if any(cells):
            lines.append(markdown_row([f"*{kind}*", *cells]))
    return lines


def best_lines(summary: dict[str, Any]) -> list[str]:
    """The section that pairs every recipe row with the best one of its method, batch
    size and budget (exact masks; two or more recipe rows), or nothing."""
    if not summary.get("best"):
        return []
    protocol = get_protocol(summary["protocol"])
    key = protocol.gap_key or protocol.paired_keys[0]
    name = protocol.key_names[key]
    lines = [
        "",
        f"## Recipes against the best ({name}, points; mean ± std [95% t interval])",
        "",
        f"Per method, batch size and budget, the recipe row with the highest mean {name} "
        "(exact masks), and every other recipe row's paired difference from it. \\* = the "
        "interval excludes 0: below the best beyond seed noise; a row without it is within "
        "noise of the best.",
        "",
        *markdown_header(["group", "row", f"{name} − best"]),
    ]
    for group, top in summary["best"].items():
        lines.append(markdown_row([group, f"**{top}**", "(best)"]))
        for row_name, row in summary["rows"].items():
            if row.get("best_row") == top:
                lines.append(markdown_row([group, row_name, _diff(row["vs_best"][key])]))
    return lines


def _reused_note(report: dict[str, Any]) -> str:
    """``, 6 of them finished by an earlier invocation`` for a resumed study, else ``""``."""
    reused = report.get("reused_runs", 0)
    return f", {reused} of them finished by an earlier invocation" if reused else ""


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: protocol, calibration, results, paired statistics, findings."""
    settings = CompareSettings.from_dict(report["settings"])
    summary = report["summary"]
    protocol = get_protocol(summary["protocol"])
    lines = [
        f"# {protocol.title(settings)}: segaug-compare ({report['created']}, preset "
        f"`{settings.preset}`)",
        "",
        *protocol.protocol_lines(settings, report),
        "",
        "## Calibration",
        "",
        *markdown_header(["check", "measured", "ok"]),
    ]
    for c in report["calibration"]:
        lines.append(markdown_row([c["check"], c["value"], "yes" if c["ok"] else "**no**"]))
    if not report["calibration"]:
        lines.append("| no anchors or floors in this run: nothing to calibrate | — | — |")
    lines += _results_lines(summary, protocol)
    paired_rows = [(n, r) for n, r in summary["rows"].items() if "paired" in r]
    if paired_rows:
        keys = protocol.paired_keys
        lines += [
            "",
            "## Paired differences from the baseline (points; mean ± std [95% t interval])",
            "",
            "\\* = the interval excludes 0: beyond seed noise.",
            "",
            *markdown_header(["row", *(protocol.key_names[k] for k in keys)]),
        ]
        for name, r in paired_rows:
            lines.append(markdown_row([name, *(_diff(r["paired"][k]) for k in keys)]))
    lines += best_lines(summary)
    lines += protocol.report_sections(summary)
    lines += methods_lines(summary)
    lines += masks_lines(summary)
    lines += budget_lines(summary)
    lines += study_table(summary)
    lines += ["", "## Findings", ""]
    lines += [f"- {f}" for f in report["findings"]] or ["- (no recipe rows)"]
    first = protocol.plot_key
    extra = "".join(f" ![{name}]({name}.png)" for name in extra_plot_names(summary))
    lines += [
        "",
        f"![{first}]({first}.png) ![paired differences](paired.png) ![study heat map]"
        f"(heatmap.png){extra}",
        "",
        f"Machine: {report['machine']}. Wall time {report['seconds'] / 60:.1f} min "
        f"({len(report['runs'])} pretraining runs{_reused_note(report)}).",
    ]
    return "\n".join(lines) + "\n"

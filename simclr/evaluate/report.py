"""Reports: ``report.json`` / ``report.md`` per evaluation, and the comparison table.

``report.json`` (schema 1) holds ``run`` (checkpoint, content hash, epoch, method,
backbone, recipe, seed, pipeline name, mask fallback rate, the run config),
``settings`` (every evaluation option), ``environment``, and per dataset: the metric
convention, split sizes and where the validation split came from, the preprocessing,
the feature dimensions, linear-probe results per feature set (test metrics, per-class
table, chosen lambda, lambda -> validation score, protocol), kNN results per ``k``,
fine-tuning results per label fraction, extra test splits, plot paths and a flat
``summary`` of headline numbers (fractions in [0, 1], the dataset's metric). The
Markdown report states the protocol next to every number.

:func:`compare_runs` groups several reports by pipeline (``method/backbone (recipe)``)
and writes a Table-4-style Markdown table (rows: pipelines, columns: datasets,
mean ± sample std over seeds), the mask fallback rate per dataset where recorded,
``compare.json`` and a bar chart with error bars.

Example:
    >>> m, s = mean_std([0.5, 0.7])
    >>> round(m, 4), round(s, 4)
    (0.6, 0.1414)
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from segaug.io import atomic_write
from simclr.evaluate.classifiers import ClassifierSettings
from simclr.evaluate.format import (
    knn_protocol,
    linear_probe_protocol,
    markdown_header,
    markdown_row,
    percent,
    percent_stat,
)
from simclr.evaluate.names import TABLE4_DATASETS
from simclr.evaluate.stats import mean_std

REPORT_JSON = "report.json"
REPORT_MD = "report.md"

_MLP = ClassifierSettings()  # the MLP options simclr-eval does not expose
_METRIC_NAMES = {"top1": "top-1 accuracy", "mean_per_class": "mean per-class accuracy"}


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, text)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def _rel(path: str, out_dir: Path) -> str:
    try:
        return os.path.relpath(path, out_dir)
    except ValueError:
        return path


def write_report(report: dict[str, Any], out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out_dir`` (atomically).

    Returns:
        The two paths.
    """
    out = Path(out_dir)
    jpath, mpath = out / REPORT_JSON, out / REPORT_MD
    _atomic_write_text(jpath, json.dumps(report, indent=2, default=_json_default))
    _atomic_write_text(mpath, render_markdown(report, out))
    return jpath, mpath


def _protocol_lines(report: dict[str, Any]) -> list[str]:
    s = report["settings"]
    lines = ["## Protocols", ""]
    if "linear" in s["protocols"]:
        lines.append(linear_probe_protocol(s))
    if "knn" in s["protocols"]:
        lines.append(knn_protocol(s))
    if "finetune" in s["protocols"]:
        fr = ", ".join(f"{100 * f:g}%" for f in s["finetune_fractions"])
        lines.append(
            f"- **Fine-tuning** with {fr} of the training labels (class-balanced subsets fixed "
            "by the seed): encoder + linear head trained end to end, SGD Nesterov momentum 0.9, "
            "no weight decay, cosine learning rate; random resized crop + horizontal flip; "
            "epochs and lr per fraction in the table."
        )
    floors = s.get("floors", [])
    if floors:
        parts = []
        if "raw_pixels" in floors:
            r = s["raw_pixel_size"]
            parts.append(f"raw pixels (preprocessed image area-downsampled to {r}×{r}, flattened)")
        if "random_encoder" in floors:
            parts.append("the same architecture randomly initialised")
        lines.append(f"- **Floors** through the same probes: {'; '.join(parts)}.")
    if s.get("probes"):
        lines.append(
            "- **Classifier comparison** (MLP vs linear probe): probes "
            + ", ".join(f"`{p}`" for p in s["probes"]) + " on features "
            + ", ".join(f"`{f}`" for f in s["features"])
            + f", same splits and seed. MLP: one hidden layer of {s['mlp_hidden']} units "
            f"with ReLU, AdamW (lr {_MLP.mlp_lr:g}, weight decay {s['mlp_weight_decay']:g}, "
            f"fixed), batch {_MLP.mlp_batch_size}, {s['mlp_epochs']} epochs, trained on "
            "train + validation. PCA: "
            f"{s['pca_components']} components (capped by the dimension and training "
            "size), fitted on train only. t-SNE has no transform for new points: train and "
            "test embeddings are embedded together in one 2-D run without labels, and only "
            "the training labels are used (by the probes)."
        )  # fmt: skip
    lines.append(
        f"- **Seed** {s['seed']} (validation hold-out, subsets, floors, fine-tuning, plots); "
        f"device `{report['environment'].get('device')}`."
    )
    if s.get("max_train") or s.get("max_test"):
        lines.append(
            f"- **Subsampled** (quick run): at most {s.get('max_train')} training and "
            f"{s.get('max_test')} test images; numbers are not comparable to full-split ones."
        )
    return lines + [""]


def render_markdown(report: dict[str, Any], out_dir: Path | None = None) -> str:
    """The human-readable report (protocol stated next to every number)."""
    out_dir = out_dir or Path(".")
    run = report["run"]
    lines = [f"# Evaluation: {run['pipeline']}", ""]
    ck = run.get("checkpoint")
    if ck:
        sha = (run.get("checkpoint_sha256") or "")[:12]
        lines.append(f"- checkpoint: `{ck}` (sha256 {sha}…), epoch {run.get('epoch')}")
    lines.append(
        f"- pretraining: method `{run['method']}`, backbone `{run['backbone']}` "
        f"(width {run.get('width')}), recipe `{run['recipe']}`, dataset "
        f"`{run.get('pretrain_dataset')}` at {run.get('pretrain_image_size')} px, masks "
        f"`{run.get('pretrain_masks')}`, seed {run.get('seed')}"
    )
    if run.get("mask_fallback_rate") is not None:
        lines.append(
            f"- mask fallback rate during pretraining (last epoch): "
            f"{percent(run['mask_fallback_rate'])}%"
        )
    env = report["environment"]
    lines.append(
        f"- environment: torch {env['torch']}, device `{env.get('device')}`"
        + (f" ({env['cuda']})" if env.get("cuda") else "")
        + f", {report['created']}"
    )
    lines.append("")
    lines += _protocol_lines(report)
    for name, ds in report["datasets"].items():
        lines += _dataset_markdown(name, ds, out_dir)
    return "\n".join(lines) + "\n"


def _metric_cells(t: dict[str, Any], metric: str) -> str:
    """``top-1 | top-5 | mean per-class | macro-F1 |`` with the headline in bold."""
    cells = []
    for key in ("top1", "top5", "mean_per_class", "macro_f1"):
        v = percent(t[key])
        cells.append(f"**{v}**" if key == metric else v)
    return " | ".join(cells) + " |"


def _dataset_markdown(name: str, ds: dict[str, Any], out_dir: Path) -> list[str]:
    metric = ds["metric"]
    sp = ds["splits"]
    lines = [
        f"## {name}",
        "",
        f"- headline metric: **{_METRIC_NAMES[metric]}** (the dataset's convention; bold below)",
        f"- preprocessing: {ds['preprocessing']}",
        f"- splits: train {sp.get('train')}, "
        + (f"validation {sp['val']} ({sp.get('val_source')}), " if sp.get("val") else "")
        + f"test {sp.get('test')}",
    ]
    if ds.get("mask_fallback_rate") is not None:
        lines.append(f"- mask fallback rate (pretraining): {percent(ds['mask_fallback_rate'])}%")
    feats = ", ".join(f"{k} ({v['dim']}-d: {v['source']})" for k, v in ds["features"].items())
    lines += [f"- features: {feats}", ""]
    lines += markdown_header(
        ["features", "probe", "top-1 (%)", "top-5 (%)", "mean per-class (%)", "macro-F1 (%)"],
        "llrrrr",
    )
    for fname, entry in ds.get("linear", {}).items():
        t = entry["test"]
        lam = entry["protocol"]["l2_selected"]
        lines.append(
            f"| {fname} | linear, λ={lam:g} ({entry['protocol']['solver']}) | "
            + _metric_cells(t, metric)
        )
    for fname, entry in ds.get("knn", {}).items():
        T = entry["protocol"]["temperature"]
        for k in entry["protocol"]["ks"]:
            t = entry[f"k{k}"]
            lines.append(f"| {fname} | kNN, k={k}, T={T:g} | " + _metric_cells(t, metric))
    lines.append("")
    if ds.get("classifiers"):
        lines += classifier_table_markdown(ds["classifiers"], metric)
    if ds.get("finetune"):
        lines += [
            "Fine-tuning (pretrained encoder + linear head, end to end):",
            "",
            *markdown_header(
                ["labels", "labelled images", "epochs", "batch", "lr", "top-1 (%)",
                 "top-5 (%)", "mean per-class (%)", "macro-F1 (%)"],
                "lrrrrrrrr",
            ),
        ]  # fmt: skip
        for entry in ds["finetune"].values():
            p, t = entry["protocol"], entry["test"]
            lines.append(
                f"| {100 * p['label_fraction']:g}% | {p['labelled_samples']} | {p['epochs']} | "
                f"{p['batch_size']} | {p['lr']:g} | " + _metric_cells(t, metric)
            )
        lines.append("")
    if ds.get("extra_tests"):
        for split, entries in ds["extra_tests"].items():
            lines.append(
                f"Extra test split `{split}` (same linear classifiers): "
                + ", ".join(f"{k} {percent(v[metric])}%" for k, v in entries.items())
            )
        lines.append("")
    lin = ds.get("linear", {}).get("pretrained")
    if lin is not None:
        lines += [
            "Per-class results (pretrained features, linear probe, test split):",
            "",
            *markdown_header(["class", "precision", "recall", "F1", "support"], "lrrrr"),
        ]
        for row in lin["test"]["per_class"]:
            lines.append(
                f"| {row['class']} | {row['precision']:.3f} | {row['recall']:.3f} | "
                f"{row['f1']:.3f} | {row['support']} |"
            )
        lines.append("")
    for key, path in ds.get("plots", {}).items():
        lines.append(f"![{name} {key}]({_rel(path, out_dir)})")
    lines.append("")
    return lines


def classifier_table_markdown(comparison: dict[str, Any], metric: str) -> list[str]:
    """The classifier comparison as Markdown: rows = feature sets, columns = probes.

    Example:
        >>> c = {"table": {"raw": {"linear": 0.5, "mlp": 0.75}},
        ...      "features": {"raw": {"dim": 768}}, "protocol": {"tsne": "joint"}}
        >>> print(classifier_table_markdown(c, "top1")[4])
        | raw (768-d) | 50.0 | 75.0 |
    """
    table = comparison["table"]
    probes = list(next(iter(table.values()))) if table else []
    lines = [
        f"Classifier comparison (MLP vs linear probe; {_METRIC_NAMES[metric]}, %, test split):",
        "",
        *markdown_header(["features", *probes], "l" + "r" * len(probes)),
    ]
    for f, row in table.items():
        dim = comparison["features"][f]["dim"]
        lines.append(markdown_row([f"{f} ({dim}-d)", *(percent(row[p]) for p in probes)]))
    lines += ["", f"Note: {comparison['protocol']['tsne']}.", ""]
    return lines


# --------------------------------------------------------------------------- compare


def load_report(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``report.json``: the file, a folder holding it, or a run dir's ``eval/``.

    Raises:
        ValueError: No report found or unreadable JSON.
    """
    p = Path(path)
    candidates = [p] if p.is_file() else [p / REPORT_JSON, p / "eval" / REPORT_JSON]
    for c in candidates:
        if c.is_file():
            try:
                report = json.loads(c.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"runs: {str(c)!r} is not valid JSON: {err}") from err
            if "run" not in report or "datasets" not in report:
                raise ValueError(
                    f"runs: {str(c)!r} is not a simclr-eval report (expected 'run' and "
                    "'datasets' keys)"
                )
            report["_path"] = str(c)
            return report
    raise ValueError(
        f"runs: no report at {str(p)!r}; expected a report.json file, a folder holding one "
        "or a run directory with eval/report.json"
    )


def compare_reports(reports: list[dict[str, Any]], protocol: str = "linear") -> dict[str, Any]:
    """Aggregate reports by pipeline: mean ± std over seeds per dataset.

    Args:
        reports: Loaded reports (see :func:`load_report`).
        protocol: Key of each dataset's ``summary``: ``linear``, ``knn_k20``,
            ``knn_k200``, ``finetune_1pct``, ``linear_raw_pixels``, ...

    Returns:
        ``{"protocol", "pipelines", "datasets", "cells": {pipeline: {dataset: {mean,
        std, n, values, seeds}}}, "fallback": {pipeline: {dataset: mean or None}},
        "runs": {pipeline: [paths]}, "seeds": {pipeline: [seeds]}, "settings_differ":
        [keys]}`` (accuracies as fractions).
    """
    if not reports:
        raise ValueError("runs: expected at least one report")
    groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for r in reports:
        groups.setdefault(r["run"]["pipeline"], []).append(r)
    seen: list[str] = []
    for r in reports:
        for d in r["datasets"]:
            if d not in seen:
                seen.append(d)
    datasets = [d for d in TABLE4_DATASETS if d in seen] + [
        d for d in seen if d not in TABLE4_DATASETS
    ]
    found = any(protocol in r["datasets"][d].get("summary", {}) for r in reports for d in
                r["datasets"])  # fmt: skip
    if not found:
        available = sorted({k for r in reports for d in r["datasets"].values()
                            for k in d.get("summary", {})})  # fmt: skip
        raise ValueError(f"protocol: {protocol!r} is in no report; expected one of {available}")
    cells: dict[str, dict[str, Any]] = {}
    fallback: dict[str, dict[str, float | None]] = {}
    for pipe, runs in groups.items():
        cells[pipe], fallback[pipe] = {}, {}
        for d in datasets:
            vals, seeds, fbs = [], [], []
            for r in runs:
                sec = r["datasets"].get(d)
                if sec is None:
                    continue
                v = sec.get("summary", {}).get(protocol)
                if v is not None:
                    vals.append(float(v))
                    seeds.append(r["run"].get("seed"))
                if sec.get("mask_fallback_rate") is not None:
                    fbs.append(float(sec["mask_fallback_rate"]))
            if vals:
                m, s = mean_std(vals)
                cells[pipe][d] = {"mean": m, "std": s, "n": len(vals), "values": vals,
                                  "seeds": seeds}  # fmt: skip
            fallback[pipe][d] = float(np.mean(fbs)) if fbs else None
    keys = sorted({k for r in reports for k in r.get("settings", {})})
    differ = [
        k for k in keys
        if len({json.dumps(r.get("settings", {}).get(k), sort_keys=True) for r in reports}) > 1
    ]  # fmt: skip
    return {
        "protocol": protocol,
        "pipelines": list(groups),
        "datasets": datasets,
        "cells": cells,
        "fallback": fallback,
        "runs": {p: [r.get("_path") for r in rs] for p, rs in groups.items()},
        "seeds": {p: [r["run"].get("seed") for r in rs] for p, rs in groups.items()},
        "settings_differ": differ,
    }


def compare_markdown(result: dict[str, Any]) -> str:
    """Table-4-style Markdown from :func:`compare_reports`."""
    ds = result["datasets"]
    lines = [
        f"# Comparison ({result['protocol']}; mean ± sample std over seeds, %)",
        "",
        *markdown_header(["pipeline", "seeds", *ds], "lr" + "r" * len(ds)),
    ]
    for p in result["pipelines"]:
        n_runs = len(result["seeds"][p])
        row = [p, str(n_runs)]
        for d in ds:
            c = result["cells"][p].get(d)
            if c is None:
                row.append("—")
                continue
            cell = percent_stat(c)
            if c["n"] != n_runs:
                cell += f" (n={c['n']})"
            row.append(cell)
        lines.append(markdown_row(row))
    lines.append("")
    if any(v is not None for f in result["fallback"].values() for v in f.values()):
        lines += [
            "Mask fallback rate during pretraining (where the run recorded it, %):",
            "",
            *markdown_header(["pipeline", *ds], "l" + "r" * len(ds)),
        ]
        for p in result["pipelines"]:
            lines.append(markdown_row([p, *(percent(result["fallback"][p].get(d)) for d in ds)]))
        lines.append("")
    lines.append("Seeds per pipeline: " + "; ".join(
        f"{p}: {result['seeds'][p]}" for p in result["pipelines"]))  # fmt: skip
    for p in result["pipelines"]:
        seeds = result["seeds"][p]
        if len(set(map(str, seeds))) != len(seeds):
            lines.append(f"\nWarning: {p} has repeated seeds {seeds}: runs may be duplicates.")
    if result["settings_differ"]:
        lines.append(
            "\nWarning: evaluation settings differ between reports in "
            f"{result['settings_differ']}; numbers may not be comparable."
        )
    lines.append("")
    return "\n".join(lines)


def compare_runs(
    paths: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    protocol: str = "linear",
) -> dict[str, Any]:
    """Load reports, aggregate them and write ``compare.md``, ``compare.json``, ``compare.png``.

    Args:
        paths: Reports, folders holding ``report.json``, or run directories.
        out_dir: Output folder.
        protocol: Summary key to compare (``linear``, ``knn_k20``, ...).

    Returns:
        The :func:`compare_reports` result.
    """
    from simclr.evaluate.plots import plot_comparison

    result = compare_reports([load_report(p) for p in paths], protocol)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = compare_markdown(result)
    _atomic_write_text(out / "compare.md", md)
    _atomic_write_text(out / "compare.json", json.dumps(result, indent=2, default=_json_default))
    pipes, ds = result["pipelines"], result["datasets"]
    means = np.full((len(pipes), len(ds)), np.nan)
    stds = np.full((len(pipes), len(ds)), np.nan)
    for i, p in enumerate(pipes):
        for j, d in enumerate(ds):
            c = result["cells"][p].get(d)
            if c is not None:
                means[i, j], stds[i, j] = 100 * c["mean"], 100 * c["std"]
    plot_comparison(pipes, ds, means, stds, out / "compare.png", f"{protocol} (%)")
    result["markdown"] = md
    return result

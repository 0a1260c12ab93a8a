"""How much of a study's seed spread is probe noise? Re-probe its encoders on fresh test sets.

For each stored run of a ``segaug-compare`` study (backgrounds protocol), the frozen encoder
is probed again on ``--chunks`` disjoint test sets of each size of ``--sizes``, all drawn
from the study's own test split (object info, the study's half/half probe). The first set
of the study's own size is the study's own test set, so its number reproduces the stored
one. If one encoder's number moves between test sets about as much as the study's rows
move between seeds, the probe, not pretraining, is the noise: probe on more images.

Example:
    python benchmarks/probe_noise.py runs/compare-20261203-073450 --sizes 4000 8000
    python benchmarks/probe_noise.py STUDY --split random --rows simclr --cross-fit

It prints a table (one line per run and size) and writes JSON (``--json``), with the
machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from segaug.env import machine_info, machine_summary  # noqa: E402
from simclr.compare.backgrounds import split_images  # noqa: E402
from simclr.compare.runner import study_settings  # noqa: E402
from simclr.compare.settings import L2_GRID, PROBE_FIT  # noqa: E402
from simclr.evaluate.background import half_split_probe, l2_selected_fit  # noqa: E402
from simclr.evaluate.features import extract_tensor_features, load_encoder  # noqa: E402

SPLITS = {"neutral": "object_info_neutral", "random": "object_info"}
"""``--split`` -> the stored result it reproduces: the objects on gray, or on the photos."""


def _cross_fit(x: torch.Tensor, y: torch.Tensor, fit: Any) -> float:
    """The mean of fitting on each half and scoring on the other."""
    h = x.shape[0] // 2
    swapped = half_split_probe(torch.cat([x[h:], x[:h]]), torch.cat([y[h:], y[:h]]), fit)
    return (half_split_probe(x, y, fit) + swapped) / 2


def reprobe(
    study: str | Path,
    sizes: list[int],
    chunks: int = 2,
    split: str = "neutral",
    rows: list[str] | None = None,
    cross_fit: bool = False,
) -> list[dict[str, Any]]:
    """Object info of each stored run on ``chunks`` disjoint test sets of each size.

    Args:
        study: A ``segaug-compare`` folder (its ``settings.json`` and ``runs/``).
        sizes: Test-set sizes, each split half/half into the probe's fit and score.
        chunks: Disjoint test sets per size.
        split: ``neutral`` (the test objects on gray) or ``random`` (on random backgrounds).
        rows: Rows to re-probe (their names in the report); default: anchors and baselines.
        cross_fit: Also score each set with both halves fitted in turn.

    Returns:
        One dict per run and size: ``run``, ``row``, ``seed``, ``size``, ``stored`` (the
        study's number), ``values`` (one per set) and, with ``cross_fit``, ``cross_fit``.
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {sorted(SPLITS)}, got {split!r}")
    if not sizes or any(n < 4 for n in sizes) or chunks < 1:
        raise ValueError(f"sizes: expected sizes >= 4 and chunks >= 1, got {sizes}, {chunks}")
    if not Path(study, "settings.json").is_file():
        raise ValueError(f"study: {study} is not a segaug-compare folder (no settings.json)")
    s = study_settings(study)
    runs = []
    for result_path in sorted(Path(study, "runs").glob("*/result.json")):
        result = json.loads(result_path.read_text())
        keep = result["row"] in rows if rows else result["kind"] in ("anchor", "baseline")
        if keep:
            runs.append((result_path.parent, result))
    if not runs:
        raise ValueError(f"rows: no stored run of {study} matches {rows or 'anchor/baseline'}")
    total = max(sizes) * chunks
    images, labels = split_images(s, "test", total, neutral=split == "neutral")
    fit = l2_selected_fit(L2_GRID, **PROBE_FIT)
    out = []
    for run_dir, result in runs:
        enc = load_encoder(run_dir)
        mean, std = enc.mean_std
        feats = extract_tensor_features(enc.encoder, images, mean, std, device="cpu")
        for n in sizes:
            sets = [
                (feats[i * n : (i + 1) * n], labels[i * n : (i + 1) * n]) for i in range(chunks)
            ]
            entry = {
                "run": run_dir.name,
                "row": result["row"],
                "seed": result["seed"],
                "size": n,
                "stored": result[SPLITS[split]],
                "values": [half_split_probe(x, y, fit) for x, y in sets],
            }
            if cross_fit:
                entry["cross_fit"] = [_cross_fit(x, y, fit) for x, y in sets]
            out.append(entry)
    return out


def _points(values: list[float]) -> str:
    return ", ".join(f"{100 * v:.1f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="a segaug-compare folder")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000])
    parser.add_argument("--chunks", type=int, default=2, help="disjoint test sets per size")
    parser.add_argument("--split", choices=sorted(SPLITS), default="neutral")
    parser.add_argument(
        "--rows", nargs="+", default=None, help="rows (default: anchors, baselines)"
    )
    parser.add_argument("--cross-fit", action="store_true", help="also fit each half in turn")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    try:
        entries = reprobe(
            args.study, args.sizes, args.chunks, args.split, args.rows, args.cross_fit
        )
    except ValueError as err:
        parser.error(str(err))
    info = machine_info()
    print(f"machine: {machine_summary(info)}")
    print(f"object info ({args.split}) in %, {args.chunks} disjoint test sets per size:")
    print(f"  {'run':<28} {'size':>6} {'stored':>7} {'std':>5}  sets")
    for e in entries:
        spread = statistics.stdev(e["values"]) if len(e["values"]) > 1 else float("nan")
        extra = f"  cross-fit: {_points(e['cross_fit'])}" if "cross_fit" in e else ""
        print(
            f"  {e['run']:<28} {e['size']:>6} {100 * e['stored']:>7.1f} {100 * spread:>5.1f}  "
            f"{_points(e['values'])}{extra}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "entries": entries}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

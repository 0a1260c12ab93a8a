"""A stored study (``segaug-compare --seeds 1``, default preset) is reproduced from its runs.

The fixture is the ``report.json`` of a real run; its summary, calibration, findings and
Markdown are recomputed from the stored per-run results and floor values, without
training, and must match the stored ones number for number.
"""

from __future__ import annotations

import json
from pathlib import Path

from simclr.compare.protocols import get_protocol
from simclr.compare.report import render_markdown
from simclr.compare.summary import calibration, findings, summarise

FIXTURE = Path(__file__).parent / "fixtures" / "default_preset_one_seed_report.json"


def _as_json(x: object) -> str:
    """Canonical JSON text (NaN compares equal to NaN this way)."""
    return json.dumps(x, sort_keys=True, default=float)


NEW_METRICS = {"object_info_on_backgrounds": "object_info"}
"""Metrics added since the fixture was stored -> the stored floor metric they equal."""

NEW_PAIRED_KEYS = ("object_info_neutral",)
"""Paired differences added since the fixture was stored."""

NEW_ROW_KEYS = ("epochs", "masks", "steps", "best_row", "vs_best", *NEW_METRICS)
"""Row fields added since the fixture was stored (the budget and masks axes, new metrics)."""


def _floor_results(summary: dict, keys: tuple[str, ...]) -> dict:
    """The floors' per-encoder results, rebuilt from their stored values."""
    out = {}
    for name, entry in summary["floors"].items():
        entry = {**entry, **{new: entry[old] for new, old in NEW_METRICS.items()}}
        n = len(entry[keys[0]]["values"])
        out[name] = {"seeds": [{k: entry[k]["values"][i] for k in keys} for i in range(n)]}
    return out


def _without_new_fields(summary: dict) -> dict:
    out = {k: v for k, v in summary.items() if k not in ("masks", "best")}
    out["rows"] = {}
    for name, row in summary["rows"].items():
        row = {k: v for k, v in row.items() if k not in NEW_ROW_KEYS}
        if "paired" in row:
            row["paired"] = {k: v for k, v in row["paired"].items() if k not in NEW_PAIRED_KEYS}
        out["rows"][name] = row
    out["floors"] = {
        name: {k: v for k, v in entry.items() if k not in NEW_METRICS}
        for name, entry in summary["floors"].items()
    }
    return out


def test_the_stored_study_is_reproduced_from_its_runs() -> None:
    report = json.loads(FIXTURE.read_text())
    protocol = get_protocol(report["summary"]["protocol"])
    floors = _floor_results(report["summary"], protocol.metric_keys)
    summary = json.loads(json.dumps(summarise(report["runs"], floors, protocol)))
    assert _as_json(_without_new_fields(summary)) == _as_json(report["summary"])
    assert summary["masks"] == {} and {r["epochs"] for r in summary["rows"].values()} == {0}
    # the calibration checks what the conclusions need (room 10 points, anchor std); one
    # seed cannot give the paired resolution, so that check is absent
    stored = report["calibration"]
    assert [c["value"] for c in calibration(summary)] == [stored[0]["value"], stored[1]["value"]]
    assert [c["ok"] for c in calibration(summary)] == [True, True]
    # one finding per recipe row as stored, then the best row against the other (added
    # since): background_fill 81.8 against thesis 56.0, one seed
    assert findings(summary)[:-1] == report["findings"]
    assert summary["best"] == {"simclr bs 128": "background_fill"}
    assert summary["rows"]["thesis"]["vs_best"]["object_info"]["mean"] < -0.2
    assert findings(summary)[-1].startswith(
        "Best recipe row (simclr bs 128): `background_fill`; below it, one seed (no noise "
        "estimate): `thesis` ("
    )
    report = {**report, "summary": summary, "calibration": calibration(summary)}
    md = render_markdown(report)
    for line in (
        "# Background reliance: segaug-compare (2026-12-02T00:29:12, preset `default`)",
        "| simclr: objects-alone object info >= 10 points above both floors (same "
        "gray-background images) | 94.7 vs best floor 80.3: +14.5 | yes |",
        "| *floor: random init* | 49.6 | 50.2 | 37.4 | 12.8 | 40.5 | 14.3 | 46.0 (gray: 80.3) "
        "| 21.5 |  |  |  |",
        "| `background_fill` | 83.6 | 83.0 | 78.5 | 4.5 | 32.7 | 11.7 | 81.8 | 18.5 | 60.9 | "
        "0.0% | 528 |",
        "## Study table: methods × transform sets",
        # the paired gain on gray, and the gap split into its encoder and clutter parts
        "| background_fill | +20.1 | +1.2 | +24.8 | -11.6 |",
        "- simclr: gap 32.9 points = encoder 3.5 + clutter 29.4 (11% encoder)",
        "| background_fill | 81.8 | 92.4 | 10.6 |",
        "| simclr bs 128 | **background_fill** | (best) |",
    ):
        assert line in md, line

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


def _floor_results(summary: dict, keys: tuple[str, ...]) -> dict:
    """The floors' per-encoder results, rebuilt from their stored values."""
    out = {}
    for name, entry in summary["floors"].items():
        n = len(entry[keys[0]]["values"])
        out[name] = {"seeds": [{k: entry[k]["values"][i] for k in keys} for i in range(n)]}
    return out


NEW_ROW_KEYS = ("epochs", "masks", "steps")
"""Row fields added since the fixture was stored (the budget and masks axes)."""


def _without_new_fields(summary: dict) -> dict:
    out = {k: v for k, v in summary.items() if k != "masks"}
    out["rows"] = {
        name: {k: v for k, v in row.items() if k not in NEW_ROW_KEYS}
        for name, row in summary["rows"].items()
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
    assert findings(summary) == report["findings"]
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
    ):
        assert line in md, line

"""benchmarks/probe_noise.py: a study's stored encoders re-probed on disjoint test sets.

The first set of the study's own size is the study's own test set, so it must give back
the stored number; the other sets are fresh images of the same split.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simclr.compare.cli import main
from tests.helpers.compare_testutils import TINY_COMPARE_FLAGS

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "probe_noise.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def test_reprobing_gives_back_the_stored_number_and_fresh_sets_beside_it(tmp_path) -> None:
    assert main([*TINY_COMPARE_FLAGS, "--out-dir", str(tmp_path)]) == 0
    (study,) = tmp_path.glob("compare-*")
    out = tmp_path / "noise.json"
    done = _run(
        str(study), "--sizes", "60", "30", "--chunks", "2", "--cross-fit", "--json", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "machine:" in done.stdout and "objects-alone-seed0" in done.stdout
    result = json.loads(out.read_text())
    assert result["machine"]["cores"] >= 1
    entries = result["entries"]
    # the anchor and the baseline (not the recipe row), at each size
    assert [(e["row"], e["size"]) for e in entries] == [
        ("objects alone", 60), ("objects alone", 30), ("simclr", 60), ("simclr", 30)
    ]  # fmt: skip
    for e in entries:
        assert len(e["values"]) == 2 and len(e["cross_fit"]) == 2
        assert all(0.0 <= v <= 1.0 for v in e["values"] + e["cross_fit"])
    for e in (x for x in entries if x["size"] == 60):
        # the study's own 60 images (30 scored): the same probe, within one scored image
        # (features are extracted in larger batches here)
        assert abs(e["values"][0] - e["stored"]) <= 1 / 30 + 1e-6, e


def test_bad_arguments_are_one_line(tmp_path) -> None:
    done = _run(str(tmp_path), "--sizes", "60")
    assert done.returncode == 2 and "not a segaug-compare folder" in done.stderr
    done = _run(str(tmp_path), "--sizes", "2")
    assert done.returncode == 2 and "sizes: expected sizes >= 4" in done.stderr

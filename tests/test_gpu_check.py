"""benchmarks/gpu_check.py without a GPU: its CPU-safe parts run, every GPU part is named
as skipped, and the JSON holds the rows and the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_gpu_check_without_a_gpu_runs_the_cpu_parts_and_names_what_it_skipped(tmp_path) -> None:
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--only", "cuda_tests",
         "augment", "train", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "the GPU parts are skipped" in done.stdout
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["smoke_sizes"] is True
    assert result["machine"]["cores"] >= 1
    skipped = {r["check"]: r["skipped"] for r in result["rows"] if "skipped" in r}
    assert set(skipped) == {"cuda_tests", "augment", "train"}
    assert all("no CUDA device" in why for why in skipped.values())
    measured = [r for r in result["rows"] if r["check"] == "augment" and "skipped" not in r]
    assert len(measured) == 1 and measured[0]["dtype"] == "float32"
    assert measured[0]["region_batched_img_s"] > 0 and measured[0]["region_over_kornia"] > 0
    for name in ("skipped: cuda_tests", "skipped: train", "wrote"):
        assert name in done.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_gpu_check_photos_runs_the_study_smoke_sized_and_returns_its_report(tmp_path) -> None:
    from helpers.photo_testutils import make_folders

    data = tmp_path / "photos"
    photos = make_folders(data, num_classes=2, num_photos=3)[1]
    photos.rename(data / "backgrounds")
    out = tmp_path / "out" / "gpu.json"
    script = str(ROOT / "benchmarks" / "gpu_check.py")
    done = subprocess.run(
        [sys.executable, script, "--only", "photos", "--photos", str(data), "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,  # its own 300 s box comes first
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(out.read_text())["rows"]
    assert row["check"] == "photos" and row["ok"] is True and row["smoke"] is True, row
    assert row["runs_done"] == row["runs_planned"] == 6  # 3 rows x seeds 0, 1
    assert "run 6 of 6 done" in (out.parent / "photos_study.log").read_text()
    assert "photos> " in done.stdout  # the study's last lines reach the check's log
    assert row["steps_per_s"] > 0 and row["train_seconds_per_run"] > 0
    assert 0.0 <= row["baseline"] <= 100.0 and 0.0 <= row["anchor_on_gray"] <= 100.0
    assert row["swap_gain"].count("[") == 1 and isinstance(row["calibration_ok"], bool)
    md = (out.parent / "photos_report.md").read_text()
    assert "independent_swap" in md and "`objects_on_photos` images at 32 px" in md
    report = json.loads((out.parent / "photos_report.json").read_text())
    assert report["settings"]["data_params"]["objects"] == str(data / "objects")

    missing = subprocess.run(
        [sys.executable, script, "--only", "photos", "--photos", str(tmp_path / "none"),
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert missing.returncode == 0, missing.stderr
    (row,) = json.loads(out.read_text())["rows"]
    assert "gpu_check.py --prepare" in row["skipped"] and str(tmp_path / "none") in row["skipped"]

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

"""Before any work, ``segaug-compare`` prints one line: what it runs, how long, where it writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simclr.compare import BackgroundsProtocol
from simclr.compare.cli import main
from simclr.compare.runner import estimated_minutes
from simclr.compare.settings import DEFAULT_STUDY_MINUTES, preset_settings
from tests.helpers.compare_testutils import TINY_COMPARE_FLAGS

ROOT = Path(__file__).resolve().parents[3]


class _Stop(Exception):
    """Raised where the study's work would begin."""


def test_a_bare_run_first_says_what_it_runs_how_long_and_where(tmp_path, monkeypatch, capsys):
    def stop(self, settings):
        raise _Stop

    monkeypatch.setattr(BackgroundsProtocol, "prepare", stop)  # no training, no eval sets
    monkeypatch.chdir(tmp_path)  # the default --out-dir, runs/, lands here
    with pytest.raises(_Stop):
        main([])
    (study,) = (tmp_path / "runs").glob("compare-*")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("segaug-compare: default study: the backgrounds protocol on synthetic")
    assert "20 simclr pretraining runs of 6 epochs" in line
    assert "(objects alone, simclr, thesis, background_fill x seeds 0 1 2 3 4)" in line
    assert line.endswith(f"; about 15 minutes on 2 CPU cores; writing runs/{study.name}/")
    assert not (study / "runs").exists()  # said before any run started


def test_the_line_comes_first_and_names_the_folder(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "simclr.compare", *TINY_COMPARE_FLAGS, "--out-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (study,) = tmp_path.glob("compare-*")
    first = proc.stdout.splitlines()[0]
    assert first.startswith("segaug-compare: default study: the backgrounds protocol")
    assert "3 simclr pretraining runs of 1 epochs (objects alone, simclr, thesis x seed 0)" in first
    # settings that change the cost of a run have no estimate; the default's is given instead
    assert "no time estimate for these settings (the default study takes about 15 minutes" in first
    assert first.endswith(f"writing {study}/")
    assert proc.stdout.rstrip().endswith(f"report: {study}")


def test_the_estimate_scales_with_the_number_of_runs_only() -> None:
    full = DEFAULT_STUDY_MINUTES
    assert estimated_minutes(preset_settings("default")) == full
    assert estimated_minutes(preset_settings("default", seeds=(0,))) == full / 5
    assert estimated_minutes(preset_settings("default", recipes=("thesis",))) == full * 0.75
    assert estimated_minutes(preset_settings("default", out_dir="elsewhere")) == full
    for changed in ({"epochs": 20}, {"device": "cuda"}, {"num_samples": 512}):
        assert estimated_minutes(preset_settings("default", **changed)) is None

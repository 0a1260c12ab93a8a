"""``segaug-compare --resume DIR`` as users type it: settings from the folder, runs continued.

A finished run is reused, an interrupted one continues from its ``last.pt``, a broken
``result.json`` is reported by path and that run redone, and a flag that would change a
setting of the folder is refused in one line naming it.
"""

from __future__ import annotations

import json

import pytest

from simclr.compare.cli import main
from tests.helpers.compare_testutils import TINY_COMPARE_FLAGS


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    parent = tmp_path_factory.mktemp("studies")
    assert main([*TINY_COMPARE_FLAGS, "--out-dir", str(parent)]) == 0
    (out,) = parent.glob("compare-*")
    return out


def _result(out, name):
    return json.loads((out / "runs" / name / "result.json").read_text())


def test_resume_alone_reads_the_settings_and_reuses_finished_runs(study, capsys) -> None:
    stamp = (study / "runs" / "thesis-seed0" / "result.json").stat().st_mtime_ns
    assert main(["--resume", str(study), "--no-progress"]) == 0
    assert (study / "runs" / "thesis-seed0" / "result.json").stat().st_mtime_ns == stamp
    assert f"report: {study}" in capsys.readouterr().out
    # a flag that agrees with the folder is accepted
    assert main(["--resume", str(study), "--no-progress", "--set", "epochs=1"]) == 0


@pytest.mark.parametrize(
    ("flags", "text"),
    [
        (["--set", "epochs=2"], "epochs: {out} was run with epochs=1, got 2"),
        (["--recipes", "background_fill"], "recipes: {out} was run with recipes=('thesis',)"),
        (["--preset", "cpu"], "--preset cpu: {out} was run with preset 'default'"),
    ],
)
def test_a_flag_that_changes_a_setting_is_refused_in_one_line(study, capsys, flags, text):
    assert main(["--resume", str(study), "--no-progress", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and text.format(out=study) in err[0], err


def test_not_a_study_folder_is_one_line(tmp_path, capsys) -> None:
    assert main(["--resume", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a segaug-compare folder" in err[0]


def test_interrupted_and_broken_runs_continue_from_their_checkpoint(study, capsys) -> None:
    before = _result(study, "thesis-seed0")
    # an interrupted run: its checkpoint is there, its result is not
    (study / "runs" / "thesis-seed0" / "result.json").unlink()
    # a broken result: reported by path, that run redone (from its checkpoint)
    broken = study / "runs" / "simclr-seed0" / "result.json"
    base_before = _result(study, "simclr-seed0")
    broken.write_text('{"row": "simclr", "seed"')
    # a run killed before its first checkpoint: its folder is emptied and it starts again
    anchor = study / "runs" / "objects-alone-seed0"
    anchor_before = _result(study, "objects-alone-seed0")
    for child in anchor.iterdir():
        child.unlink() if child.is_file() else None
    (anchor / "config.yaml").write_text("partial: true\n")
    capsys.readouterr()
    assert main(["--resume", str(study), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"{broken} is broken" in err and "that run is redone" in err
    after = _result(study, "thesis-seed0")
    assert after["resumed"] is True
    # the same weights (the finished checkpoint) give the very same numbers
    for key in ("object_info", "bg_info", "knn_original"):
        assert after[key] == before[key], key
    assert after["final_loss"] == pytest.approx(before["final_loss"], abs=1e-5)  # from the CSV
    assert _result(study, "simclr-seed0")["object_info"] == base_before["object_info"]
    fresh = _result(study, "objects-alone-seed0")
    assert (
        fresh["resumed"] is False
        and fresh["object_info_neutral"] == anchor_before["object_info_neutral"]
    )  # retrained from scratch at the same seed: bit-identical


def test_a_study_killed_mid_run_resumes_that_run_from_its_checkpoint(tmp_path) -> None:
    """SIGKILL while a run trains (after its first checkpoint), then ``--resume DIR``
    alone: the run continues from ``last.pt`` and ends with the numbers of a study that
    was never interrupted."""
    import os
    import signal
    import subprocess
    import sys
    import time

    flags = [*TINY_COMPARE_FLAGS, "--set", "num_samples=256", "--set", "epochs=3"]
    flags += ["--set", "anchors=false"]
    whole = tmp_path / "whole"
    assert main([*flags, "--out-dir", str(whole)]) == 0
    (reference,) = whole.glob("compare-*")

    parent = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simclr.compare", *flags, "--out-dir", str(parent)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    victim = None
    deadline = time.monotonic() + 240
    while victim is None and proc.poll() is None and time.monotonic() < deadline:
        for run in parent.glob("compare-*/runs/*"):
            epochs = run / "epochs.csv"
            rows = len(epochs.read_text().splitlines()) - 1 if epochs.is_file() else 0
            if (run / "last.pt").is_file() and not (run / "result.json").exists() and rows < 3:
                victim = run
                break
        time.sleep(0.005)
    assert victim is not None, "the study ended before a run could be killed mid-training"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (victim / "result.json").exists()
    (study,) = parent.glob("compare-*")
    assert main(["--resume", str(study), "--no-progress"]) == 0
    resumed = json.loads((victim / "result.json").read_text())
    assert resumed["resumed"] is True
    want = json.loads((reference / "runs" / victim.name / "result.json").read_text())
    for key in ("object_info", "bg_info", "knn_original"):
        assert resumed[key] == want[key], key


def test_a_finished_study_gains_rows_that_match_a_study_run_with_them(tmp_path, capsys):
    first, together = tmp_path / "first", tmp_path / "together"
    assert main([*TINY_COMPARE_FLAGS, "--out-dir", str(first)]) == 0
    (out,) = first.glob("compare-*")
    stamps = {d.name: (d / "result.json").stat().st_mtime_ns for d in (out / "runs").iterdir()}
    capsys.readouterr()
    sweep = ["--sweep", "background_fill.p=0.5 swap=1.0"]
    assert main(["--resume", str(out), "--no-progress", *sweep]) == 0
    printed = capsys.readouterr().out
    assert {n: (out / "runs" / n / "result.json").stat().st_mtime_ns for n in stamps} == stamps
    assert f"{len(stamps)} of them finished by an earlier invocation" in printed
    settings = json.loads((out / "settings.json").read_text())
    assert settings["sweep"] == ["background_fill.p=0.5 swap=1.0"]
    rows = json.loads((out / "report.json").read_text())["summary"]["rows"]
    assert list(rows) == ["objects alone", "simclr", "thesis", "background_fill p=0.5 swap=1.0"]
    # the added row is the run a study with that row from the start makes, to the bit
    assert main([*TINY_COMPARE_FLAGS, *sweep, "--out-dir", str(together)]) == 0
    (whole,) = together.glob("compare-*")
    name = "background_fill-p-0.5-swap-1.0-seed0"
    for key in ("object_info", "bg_info", "knn_original"):
        assert _result(out, name)[key] == _result(whole, name)[key], key
    # the folder now holds the larger set: a bare resume reuses every run
    assert main(["--resume", str(out), "--no-progress"]) == 0
    # dropping a row, or changing one, is refused in one line
    capsys.readouterr()
    assert main(["--resume", str(out), "--no-progress", "--sweep", "independent_swap.p=1.0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "--sweep may add to the study, listing the stored entries too, but not "
        "drop ['background_fill p=0.5 swap=1.0']"
        in err[0]
    ), err


def test_a_finished_study_gains_a_mask_quality_row(tmp_path, capsys):
    first, together = tmp_path / "first", tmp_path / "together"
    assert main([*TINY_COMPARE_FLAGS, "--out-dir", str(first)]) == 0
    (out,) = first.glob("compare-*")
    stamps = {d.name: (d / "result.json").stat().st_mtime_ns for d in (out / "runs").iterdir()}
    degraded = ["--degraded-masks", "0.6"]
    assert main(["--resume", str(out), "--no-progress", *degraded]) == 0
    assert {n: (out / "runs" / n / "result.json").stat().st_mtime_ns for n in stamps} == stamps
    assert json.loads((out / "settings.json").read_text())["degraded_masks"] == [0.6]
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert list(summary["rows"])[-1] == "thesis [masks at IoU 0.6]"
    assert abs(summary["masks"]["iou=0.6"]["iou"] - 0.6) < 0.03
    # the added row is the run a study with it from the start makes, to the bit
    assert main([*TINY_COMPARE_FLAGS, *degraded, "--out-dir", str(together)]) == 0
    (whole,) = together.glob("compare-*")
    name = "thesis--masks-at-IoU-0.6--seed0"
    for key in ("object_info", "bg_info", "knn_original"):
        assert _result(out, name)[key] == _result(whole, name)[key], key
    # dropping a mask row is refused in one line that names the flag as typed
    capsys.readouterr()
    assert main(["--resume", str(out), "--no-progress", "--degraded-masks", "0.9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--degraded-masks may add to the study" in err[0], err
    assert "not drop ['0.6']" in err[0], err


def _checkpoint_stamps(out):
    return {d.name: (d / "last.pt").stat().st_mtime_ns for d in (out / "runs").iterdir()}


def test_a_finished_study_gains_a_method_and_seeds_keeping_its_runs(tmp_path, capsys):
    """A one-method study resumed with a second method (listed first) and more seeds: the
    finished runs move to folders that name their method and are not trained again, and
    the study ends with the runs of a study run with both from the start, to the bit."""
    import shutil

    first, together = tmp_path / "first", tmp_path / "together"
    assert main([*TINY_COMPARE_FLAGS, "--methods", "byol", "--out-dir", str(first)]) == 0
    (out,) = first.glob("compare-*")
    before = {d.name: _result(out, d.name) for d in (out / "runs").iterdir()}
    stamps = _checkpoint_stamps(out)
    assert sorted(before) == ["objects-alone-seed0", "simclr-seed0", "thesis-seed0"]
    capsys.readouterr()
    grown = ["--methods", "simclr", "byol", "--seeds", "2"]
    assert main(["--resume", str(out), "--no-progress", *grown]) == 0
    printed = capsys.readouterr().out
    assert "3 run folders renamed (objects-alone-seed0 -> byol---objects-alone-seed0" in printed
    assert "(3 of 12 runs done)" in printed
    for name, result in before.items():
        assert not (out / "runs" / name).exists()
        moved = _result(out, "byol---" + name)  # byol's, though simclr's rows come first
        assert moved["row"] == "byol / " + result["row"] and moved["method"] == "byol"
        assert {k: v for k, v in moved.items() if k != "row"} == {
            k: v for k, v in result.items() if k != "row"
        }
        assert _checkpoint_stamps(out)["byol---" + name] == stamps[name]  # not retrained
    settings = json.loads((out / "settings.json").read_text())
    assert settings["methods"] == ["simclr", "byol"] and settings["seeds"] == [0, 1]
    report = json.loads((out / "report.json").read_text())
    assert list(report["summary"]["rows"]) == [
        f"{m} / {row}" for m in ("simclr", "byol") for row in ("objects alone", "simclr", "thesis")
    ]
    assert report["reused_runs"] == 3
    # every run is the run a study with both methods and both seeds from the start makes
    assert main([*TINY_COMPARE_FLAGS, *grown, "--out-dir", str(together)]) == 0
    (whole,) = together.glob("compare-*")
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
        p.name for p in (whole / "runs").iterdir()
    )
    for run in (whole / "runs").iterdir():
        for key in ("object_info", "bg_info", "knn_original"):
            assert _result(out, run.name)[key] == _result(whole, run.name)[key], (run.name, key)

    # a crash between the new settings and the renames: the next bare resume finds the run
    runs = out / "runs"
    (runs / "byol---thesis-seed1").rename(runs / "thesis-seed1")
    stamps = _checkpoint_stamps(out)
    capsys.readouterr()
    assert main(["--resume", str(out), "--no-progress"]) == 0
    assert "1 run folder renamed (thesis-seed1 -> byol---thesis-seed1)" in capsys.readouterr().out
    assert _checkpoint_stamps(out) == {
        ("byol---thesis-seed1" if k == "thesis-seed1" else k): v for k, v in stamps.items()
    }
    # a crash between a rename and its result's new row name: the row is the plan's
    moved = runs / "byol---simclr-seed1" / "result.json"
    moved.write_text(json.dumps({**json.loads(moved.read_text()), "row": "simclr"}))
    assert main(["--resume", str(out), "--no-progress"]) == 0
    assert list(json.loads((out / "report.json").read_text())["summary"]["rows"]) == list(
        report["summary"]["rows"]
    )
    # the same run in two folders is refused in one line naming both, before any change
    (runs / "byol---thesis-seed0").rename(runs / "thesis-seed0")
    shutil.copytree(runs / "thesis-seed0", runs / "byol---1-ep---thesis-seed0")
    folders = sorted(p.name for p in runs.iterdir())
    capsys.readouterr()
    assert main(["--resume", str(out), "--no-progress", "--seeds", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds the run 'byol / thesis' seed 0 twice" in err[0], err
    assert "thesis-seed0, byol---1-ep---thesis-seed0" in err[0], err
    assert json.loads((out / "settings.json").read_text())["seeds"] == [0, 1]
    assert sorted(p.name for p in runs.iterdir()) == folders


def test_a_finished_study_gains_a_budget_and_keeps_its_runs(tmp_path, capsys) -> None:
    flags = [*TINY_COMPARE_FLAGS, "--set", "anchors=false"]
    assert main([*flags, "--out-dir", str(tmp_path)]) == 0
    (out,) = tmp_path.glob("compare-*")
    stamps = _checkpoint_stamps(out)
    assert sorted(stamps) == ["thesis-seed0"]
    capsys.readouterr()
    assert main(["--resume", str(out), "--no-progress", "--budgets", "1", "2"]) == 0
    assert "1 run folder renamed (thesis-seed0 -> 1-ep---thesis-seed0)" in capsys.readouterr().out
    assert _checkpoint_stamps(out)["1-ep---thesis-seed0"] == stamps["thesis-seed0"]
    assert _result(out, "2-ep---thesis-seed0")["epochs"] == 2
    rows = json.loads((out / "report.json").read_text())["summary"]["rows"]
    assert list(rows) == ["1 ep / thesis", "2 ep / thesis"]
    # dropping the stored budget is refused in one line naming it
    assert main(["--resume", str(out), "--no-progress", "--budgets", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--budgets may add to the study" in err[0], err
    assert "not drop ['1']" in err[0], err
    # without a baseline no gain is paired: no empty budget plot
    assert not (out / "budget.png").exists()

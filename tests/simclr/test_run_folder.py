"""A rerun never silently replaces a run: refused in one line, --overwrite, --resume."""

from __future__ import annotations

import pytest
from helpers.simclr_testutils import tiny_config

from simclr.run_folder import RunFolderError, claim_run_folder, run_files_in
from simclr.train import main, train


def test_rerun_into_a_run_folder_is_refused_and_keeps_the_run(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = ["--set", "data.image_size=16", "data.num_samples=16", "data.batch_size=8",
            "augment.output_size=16", "model.backbone=resnet18", "model.width=0.125",
            "train.epochs=1", "train.device=cpu", "train.plots=false",
            "train.online_probe=false", f"train.output_dir={out}"]  # fmt: skip
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for text in (str(out), "holds a run", "--resume", "--overwrite", "train.output_dir"):
        assert text in err[0], text
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before  # nothing was touched

    # --overwrite empties the folder first: no checkpoint of the old run is left
    (out / "epoch_0099.pt").write_bytes(b"old")
    (out / "notes.txt").write_text("old")
    assert main([*args, "--overwrite"]) == 0
    assert not (out / "epoch_0099.pt").exists() and not (out / "notes.txt").exists()
    assert (out / "last.pt").is_file()

    # --resume continues the run in place; both flags together are refused
    assert main([*args, "--resume", str(out)]) == 0
    capsys.readouterr()
    assert main([*args, "--resume", str(out), "--overwrite"]) == 2
    assert "pick one" in capsys.readouterr().err


def test_train_function_refuses_too(tmp_path) -> None:
    cfg = tiny_config(tmp_path / "run", "train.epochs=1")
    train(cfg)
    with pytest.raises(RunFolderError, match="holds a run"):
        train(cfg)


def test_claim_accepts_empty_and_foreign_folders(tmp_path) -> None:
    claim_run_folder(tmp_path / "new", resume=False, overwrite=False)  # missing: fine
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.csv").write_text("x")  # not a run: left alone
    claim_run_folder(tmp_path / "other", resume=False, overwrite=True)
    assert (tmp_path / "other" / "data.csv").exists()
    assert run_files_in(tmp_path / "other") == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="a file, not a folder"):
        claim_run_folder(tmp_path / "file", resume=False, overwrite=False)


def test_a_global_only_recipe_logs_global_not_a_fallback_rate(tmp_path) -> None:
    from segaug.constants import GLOBAL_ONLY

    out = tmp_path / "run"
    train(tiny_config(out, "train.epochs=1", "augment.recipe=simclr"))
    log = (out / "train.log").read_text()
    assert f"fallback {GLOBAL_ONLY}" in log and "fallback 100.0%" not in log
    train(tiny_config(tmp_path / "region", "train.epochs=1", "augment.recipe=thesis"))
    assert "%" in (tmp_path / "region" / "train.log").read_text().split("fallback ")[1][:8]

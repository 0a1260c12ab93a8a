"""Kill/resume gives the same weights and metrics as an uninterrupted run."""

import csv

import pytest
import torch
from helpers.simclr_testutils import tiny_config

from simclr.config import apply_overrides
from simclr.train import main, train


def _state(path):
    return torch.load(path, weights_only=True)


def _same_model(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("stop_after", [2, 3])  # an epoch boundary, and mid-epoch
def test_resume_matches_uninterrupted_run(tmp_path, stop_after):
    straight = tmp_path / "straight"
    resumed = tmp_path / "resumed"
    extra = ("train.checkpoint_every_steps=1",)
    r_full = train(tiny_config(straight, *extra))

    cfg = tiny_config(resumed, *extra)
    # "killed" after `stop_after` steps (max_steps stops and checkpoints there) ...
    train(apply_overrides(cfg, [f"train.max_steps={stop_after}"]))
    assert _state(resumed / "last.pt")["step"] == stop_after
    # ... the (partial) metrics of a longer-lived run would be rolled back on resume
    with open(resumed / "metrics.csv", "a") as f:
        f.write("99,9,0,0,0,0,0,0,0\n")
    r_res = train(cfg, resume=resumed)

    a, b = _state(straight / "last.pt"), _state(resumed / "last.pt")
    assert a["step"] == b["step"] == 4 and a["epoch"] == b["epoch"] == 2
    _same_model(a["model"], b["model"])
    assert a["scheduler"] == b["scheduler"]
    for sa, sb in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    assert [r["loss"] for r in _rows(straight / "metrics.csv")] == [
        r["loss"] for r in _rows(resumed / "metrics.csv")
    ]
    assert r_full.epochs[-1]["loss"] == r_res.epochs[-1]["loss"]
    assert r_full.epochs[-1]["online_probe_acc"] == r_res.epochs[-1]["online_probe_acc"]


def test_resume_with_a_different_config_is_refused(tmp_path):
    cfg = tiny_config(tmp_path, "train.epochs=1")
    train(cfg)
    with pytest.raises(ValueError, match="optim.lr"):
        train(apply_overrides(cfg, ["optim.lr=0.7"]), resume=tmp_path)
    with pytest.raises(ValueError, match="no checkpoint"):
        train(cfg, resume=tmp_path / "missing")


def test_cli_resume_from_run_dir(tmp_path):
    cfg = tiny_config(tmp_path, "train.max_steps=2")
    from simclr.config import save_config

    save_config(cfg, tmp_path / "in.yaml")
    assert main(["--config", str(tmp_path / "in.yaml")]) == 0
    assert _state(tmp_path / "last.pt")["step"] == 2
    # resume from the run directory alone: the config comes from the checkpoint
    assert main(["--resume", str(tmp_path), "--set", "train.max_steps=null"]) == 0
    assert _state(tmp_path / "last.pt")["step"] == 4

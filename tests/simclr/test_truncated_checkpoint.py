"""A damaged ``last.pt`` on ``--resume``: one line naming it and the checkpoint to use instead.

``torch.load`` raises a different exception depending on where a file was cut
(``EOFError``, ``pickle.UnpicklingError``, ``RuntimeError``, ``OSError: [Errno 22]``) or
what it holds instead (``KeyError``); every one becomes one ``ValueError`` that names the
file, says it is truncated or corrupted, and offers the newest ``epoch_*.pt`` beside it
that loads (or says none does).
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.simclr_testutils import tiny_config

from simclr import checkpoint as ckpt_io
from simclr.train import train

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A 3-epoch tiny run: ``last.pt`` and ``epoch_0001.pt`` .. ``epoch_0003.pt``."""
    out = tmp_path_factory.mktemp("run")
    train(tiny_config(out, "train.epochs=3"))
    assert sorted(p.name for p in out.glob("*.pt")) == [
        "epoch_0001.pt", "epoch_0002.pt", "epoch_0003.pt", "last.pt"
    ]  # fmt: skip
    return out


@pytest.fixture
def run(finished_run, tmp_path) -> Path:
    """A copy of the finished run to damage."""
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


def _cut(path: Path, size: int) -> None:
    data = path.read_bytes()
    assert len(data) > size
    path.write_bytes(data[:size])


# how a file was damaged -> what torch.load raises on it (torch 2.14)
DAMAGE = {
    "empty": (lambda p: _cut(p, 0), EOFError),
    "one byte left": (lambda p: _cut(p, 1), pickle.UnpicklingError),
    "cut to 100 bytes": (lambda p: _cut(p, 100), RuntimeError),
    "cut to 20 kB": (lambda p: _cut(p, 20_000), OSError),  # [Errno 22] Invalid argument
    "cut at 3/4": (lambda p: _cut(p, p.stat().st_size * 3 // 4), RuntimeError),
    "a text file": (lambda p: p.write_text("hello, not a checkpoint\n" * 20), KeyError),
    # random bytes raise UnpicklingError, IndexError, ... depending on the bytes: any of them
    "random bytes": (lambda p: p.write_bytes(random.Random(0).randbytes(4096)), Exception),
    "other random bytes": (lambda p: p.write_bytes(random.Random(1).randbytes(4096)), Exception),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_damage_is_one_error_naming_the_file_and_the_newest_good_epoch(run, damage):
    make, raised = DAMAGE[damage]
    make(run / "last.pt")
    with pytest.raises(raised):  # what the user saw before: torch.load's own error
        torch.load(run / "last.pt", weights_only=True)
    with pytest.raises(ValueError) as info:
        ckpt_io.load_checkpoint(run)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"resume: cannot read checkpoint {str(run / 'last.pt')!r}: ")
    assert "truncated" in msg
    assert msg.endswith(f"the newest checkpoint there that loads is epoch_0003.pt: "
                        f"--resume {run / 'epoch_0003.pt'}")  # fmt: skip


def test_a_damaged_newest_epoch_is_skipped(run) -> None:
    _cut(run / "last.pt", 100)
    _cut(run / "epoch_0003.pt", 20_000)
    with pytest.raises(ValueError, match=r"loads is epoch_0002\.pt: --resume .*epoch_0002\.pt$"):
        ckpt_io.load_checkpoint(run)
    # resuming from the damaged epoch file itself offers the one before it too
    with pytest.raises(ValueError, match=r"epoch_0003\.pt.*--resume .*epoch_0002\.pt$"):
        ckpt_io.load_checkpoint(run / "epoch_0003.pt")


def test_when_no_epoch_file_loads_it_says_so(run) -> None:
    for p in run.glob("*.pt"):
        _cut(p, 0)
    with pytest.raises(ValueError, match=r"none of the 3 epoch_\*\.pt files in .* loads either; "
                       "start the run again with --overwrite"):  # fmt: skip
        ckpt_io.load_checkpoint(run)
    for p in run.glob("epoch_*.pt"):
        p.unlink()
    with pytest.raises(ValueError, match=r"holds no epoch_\*\.pt to fall back on"):
        ckpt_io.load_checkpoint(run)


def test_another_command_names_the_file_without_resume(run) -> None:
    _cut(run / "last.pt", 100)
    with pytest.raises(ValueError) as info:
        ckpt_io.load_checkpoint(run, context="checkpoint")
    msg = str(info.value)
    assert msg.startswith("checkpoint: cannot read checkpoint")
    assert msg.endswith(f"loads is {run / 'epoch_0003.pt'}") and "--resume" not in msg


def test_the_offered_checkpoint_resumes(run) -> None:
    _cut(run / "last.pt", 20_000)
    _cut(run / "epoch_0003.pt", 100)
    with pytest.raises(ValueError, match="--resume") as info:
        ckpt_io.load_checkpoint(run)
    offered = str(info.value).rsplit("--resume ", 1)[1]
    assert offered == str(run / "epoch_0002.pt")
    result = train(tiny_config(run, "train.epochs=3"), resume=offered)
    assert result.epoch == 3  # the third epoch trained again
    assert ckpt_io.load_checkpoint(run)["epoch"] == 3  # and last.pt is whole again


def test_simclr_train_resume_on_a_truncated_last_pt_is_one_line(run) -> None:
    _cut(run / "last.pt", 20_000)  # what torch.load reports as OSError: [Errno 22]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "simclr.train", "--resume", str(run)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("simclr-train: error: resume: cannot read checkpoint ")
    assert str(run / "last.pt") in line and "truncated" in line
    assert "Errno" not in line.split("(")[0]  # the reason comes first, torch's detail after
    assert line.endswith(f"--resume {run / 'epoch_0003.pt'}")

"""Console scripts: repeated overrides accumulate; user errors end in one line, status 2.

Every user-caused error (missing dataset, bad path, bad value, refused checkpoint)
prints exactly one ``prog: error: ...`` line on stderr and returns 2, never a
traceback; the message names the command's own context.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from segaug.cli.precompute_masks import main as precompute_main
from segaug.cli.visualize import main as visualize_main
from segaug.errors import one_line
from simclr.evaluate.cli import main as eval_main
from simclr.train import main as train_main
from simclr.train import parse_args

REPO = Path(__file__).resolve().parents[3]


def _one_error_line(capsys, prog: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------- overrides


def test_repeated_set_flags_accumulate_in_order():
    _, overrides = parse_args(
        ["--set", "data.dataset=cifar10", "--set", "data.root=/nope", "optim.lr=0.7",
         "--train.epochs", "3", "--set", "optim.lr=0.9", "--epochs", "5"]
    )  # fmt: skip
    assert overrides == [
        "data.dataset=cifar10",
        "data.root=/nope",
        "optim.lr=0.7",
        "optim.lr=0.9",
        "train.epochs=3",
        "train.epochs=5",
    ]


def test_every_set_flag_reaches_the_config(capsys):
    argv = ["--set", "data.dataset=cifar10", "--set", "data.root=/nope", "--optim.lr", "0.7",
            "--set", "train.epochs=3", "--print-config"]  # fmt: skip
    assert train_main(argv) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["data"]["dataset"] == "cifar10" and cfg["data"]["root"] == "/nope"
    assert cfg["optim"]["lr"] == 0.7 and cfg["train"]["epochs"] == 3


# ------------------------------------------------------------------ simclr-train


@pytest.mark.parametrize(
    "argv,match",
    [
        # the two reports: both --set flags count, the dataset is missing
        (["--set", "data.dataset=cifar10", "--set", "data.root={tmp}/nope"], "cifar10"),
        (["--set", "data.dataset=cifar10", "data.root={tmp}/nope"], "cifar10"),
        (["--config", "{tmp}/missing.yaml"], "missing.yaml"),
        (["--config", "{tmp}/bad.yaml"], "not valid YAML"),
        (["--set", "optim.lr=fast"], "'optim.lr': expected a number"),
        (["--set", "optim.lr=[1,"], "not valid YAML"),
        (["--set", "train.device=tpu"], "train.device"),
        (["--resume", "{tmp}/nothing"], "resume: no checkpoint"),
        (["--set", "train.output_dir={tmp}/afile", "train.max_steps=1"], "afile"),
    ],
)
def test_simclr_train_user_errors(tmp_path, capsys, argv, match):
    (tmp_path / "bad.yaml").write_text("optim: [unclosed\n")
    (tmp_path / "afile").write_text("a file where the run directory should go")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    small = ["--set", "data.image_size=16", "data.num_samples=16", "data.batch_size=8",
             "augment.output_size=16", "model.width=0.125", "train.progress=false",
             f"train.output_dir={tmp_path}/run", "train.device=cpu"]  # fmt: skip
    assert train_main(small + argv) == 2
    assert match in _one_error_line(capsys, "simclr-train")


def test_simclr_train_console_script_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "simclr.train", "--set", "data.dataset=cifar10",
         f"data.root={tmp_path}/nope", f"train.output_dir={tmp_path}/run"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
        env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("simclr-train: error: dataset 'cifar10' was not found")


# ------------------------------------------------------------------- simclr-eval


def test_simclr_eval_missing_checkpoint_names_its_own_context(tmp_path, capsys):
    assert eval_main([str(tmp_path / "nope.pt"), "--no-progress"]) == 2
    line = _one_error_line(capsys, "simclr-eval")
    assert "checkpoint: no checkpoint at" in line and "nope.pt" in line
    assert "resume" not in line


def test_simclr_eval_bad_values(tmp_path, capsys):
    assert eval_main([str(tmp_path), "--dataset-opt", "synthetic.size=[1,"]) == 2
    assert "--dataset-opt" in _one_error_line(capsys, "simclr-eval")
    assert eval_main([str(tmp_path), "--dataset-opt", "nodot"]) == 2
    assert "DATASET.OPTION=VALUE" in _one_error_line(capsys, "simclr-eval")


# ------------------------------------------------------- segaug-precompute-masks


def test_precompute_user_errors(tmp_path, capsys):
    out = str(tmp_path / "cache")
    assert precompute_main([str(tmp_path / "nope"), "--out", out, "--no-progress"]) == 2
    assert "nope" in _one_error_line(capsys, "segaug-precompute-masks")
    assert precompute_main(["cifar10", "--out", out, "--data-root", str(tmp_path / "d"),
                            "--no-progress"]) == 2  # fmt: skip
    assert "cifar10" in _one_error_line(capsys, "segaug-precompute-masks")
    assert precompute_main(["--stats", str(tmp_path / "nocache")]) == 2
    assert "nocache" in _one_error_line(capsys, "segaug-precompute-masks")


# -------------------------------------------------------------- segaug-visualize


def test_visualize_user_errors(tmp_path, capsys):
    out = ["--out", str(tmp_path / "a.png")]
    assert (
        visualize_main(["--images", str(tmp_path / "nope"), "--segmenter", "classical"] + out) == 2
    )
    assert "nope" in _one_error_line(capsys, "segaug-visualize")
    argv = ["--dataset", "cifar10", "--root", str(tmp_path / "d"), "--masks", "gt"]
    assert visualize_main(argv + out) == 2
    assert "cifar10" in _one_error_line(capsys, "segaug-visualize")
    argv = ["--dataset", "synthetic", "--root", str(tmp_path), "--masks", "gt", "--recipe", "nope"]
    assert visualize_main(argv + out) == 2
    assert "nope" in _one_error_line(capsys, "segaug-visualize")


def test_one_line_drops_errno_and_line_breaks():
    assert one_line(FileNotFoundError(2, "No such file or directory", "/x")) == (
        "No such file or directory: '/x'"
    )
    assert one_line(ValueError("a\n  b\n")) == "a b"

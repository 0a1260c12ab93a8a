"""segaug-compare's transfer protocol: the study runner on any registered dataset.

The real-data path is exercised offline on an ``imagefolder`` written from the
synthetic generator, with its masks as PNG files (``files:`` masks), exactly as a user
points the runner at their own folder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.compare_testutils import tiny_compare
from PIL import Image

from segaug.data.synthetic import SyntheticShapes
from simclr.compare import (
    CompareSettings,
    main,
    plan_runs,
    preset_settings,
    run_study,
)
from simclr.compare.transfer import evaluate_transfer, transfer_settings


def _image_folder(root, n_train=24, n_test=8, size=32):
    """``root/{train,test}/<class>/i.png`` and binary masks ``root/masks/<class>/i.png``."""
    classes = ("class0", "class1")
    for split, n in (("train", n_train), ("test", n_test)):
        ds = SyntheticShapes("train" if split == "train" else "test", size=size, num_samples=400)
        counts = dict.fromkeys(range(len(classes)), 0)
        for i in range(len(ds)):
            image, mask, label = ds.get_batch(np.array([i]))
            label = int(label[0])
            if label >= len(classes) or counts[label] >= n:
                continue
            name = f"{counts[label]}.png"
            counts[label] += 1
            (root / split / classes[label]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[0]).save(root / split / classes[label] / name)
            if split == "train":
                (root / "masks" / classes[label]).mkdir(parents=True, exist_ok=True)
                Image.fromarray((mask[0] > 0).astype(np.uint8) * 255).save(
                    root / "masks" / classes[label] / name
                )
            if all(c == n for c in counts.values()):
                break
        assert all(c == n for c in counts.values()), counts
    return root


def test_transfer_protocol_on_synthetic_matches_simclr_eval(tmp_path):
    settings = tiny_compare(tmp_path, protocol="transfer")
    out = run_study(settings, progress=False)
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert summary["protocol"] == "transfer"
    # no objects-alone anchor (it needs exact backgrounds); the baseline stays
    assert list(summary["rows"]) == ["simclr", "thesis"]
    assert [r["kind"] for r in summary["rows"].values()] == ["baseline", "recipe"]
    for row in summary["rows"].values():
        for key in ("linear", "knn"):
            assert all(0.0 <= v <= 1.0 for v in row[key]["values"])
    base = summary["rows"]["simclr"]["linear"]["values"]
    thesis = summary["rows"]["thesis"]["linear"]["values"]
    paired = summary["rows"]["thesis"]["paired"]
    assert set(paired) == {"linear", "knn"}
    assert paired["linear"]["values"] == pytest.approx(
        [a - b for a, b in zip(thesis, base, strict=True)]
    )
    assert set(summary["floors"]) == {"random init", "raw pixels"}
    assert len(summary["floors"]["random init"]["linear"]["values"]) == 2  # one per seed
    checks = report["calibration"]
    assert len(checks) == 2 and all("above every floor" in c["check"] for c in checks)
    for check, key in zip(checks, ("linear", "knn"), strict=True):
        floor = max(f[key]["mean"] for f in summary["floors"].values())
        assert check["ok"] == (summary["rows"]["simclr"][key]["mean"] - floor >= 0.02)
    run = report["runs"][0]
    assert run["splits"]["train"] + run["splits"]["val"] >= 60 and run["splits"]["test"] == 60

    # one code path: the runner's numbers are simclr-eval's on the same checkpoint
    from simclr.evaluate.features import load_encoder
    from simclr.evaluate.suite import evaluate_dataset

    enc = load_encoder(out / "runs" / "thesis-seed1")
    mean, std = enc.mean_std
    es = transfer_settings(settings)
    direct = evaluate_dataset("synthetic", enc.encoder, "x", es, mean_std=(mean, std))
    assert summary["rows"]["thesis"]["linear"]["values"][1] == direct["summary"]["linear"]
    assert summary["rows"]["thesis"]["knn"]["values"][1] == direct["summary"]["knn_k20"]
    again = evaluate_transfer(enc.encoder, settings, mean, std)
    assert again["linear"] == direct["summary"]["linear"]

    md = (out / "report.md").read_text()
    # the study cell: linear ± std / kNN ± std over the seeds (sample std), minutes, memory
    runs = sorted((r for r in report["runs"] if r["row"] == "thesis"), key=lambda r: r["seed"])
    lin = np.array([r["linear"] for r in runs])
    knn = np.array([r["knn"] for r in runs])
    minutes = np.mean([r["train_seconds"] for r in runs]) / 60
    gb = max(r["peak_memory_bytes"] for r in runs) / 2**30
    cell = (
        f"| thesis | {lin.mean():.3f} ± {lin.std(ddof=1):.3f} / {knn.mean():.3f} ± "
        f"{knn.std(ddof=1):.3f} ({minutes:.1f} min / {gb:.2f} GB) |"
    )
    assert cell in md, cell
    rand = summary["floors"]["random init"]["linear"]
    assert f"| *floors* | random init {rand['mean']:.3f} ± {rand['std']:.3f} / " in md
    for text in ("Protocol (transfer)", "linear probe", "kNN (k=20)", "Study table", "Machine:"):
        assert text in md, text
    assert "Mixed-Rand" not in md and "objects alone" not in md
    for png in ("linear.png", "paired.png", "heatmap.png"):
        with Image.open(out / png) as im:
            assert im.format == "PNG"


def test_study_on_an_image_folder_with_mask_files(tmp_path):
    """The real-data path end to end: imagefolder, files: masks, resume."""
    root = _image_folder(tmp_path / "data")
    argv = [
        "--dataset", "imagefolder", "--data-root", str(root),
        "--masks", f"files:{root / 'masks'}", "--recipes", "thesis", "background_fill",
        "--methods", "simclr", "--seeds", "1", "--batch-sizes", "16",
        "--set", "epochs=1", "--set", "image_size=32", "--set", "probe_train=null",
        "--set", "eval_images=null", "--out-dir", str(tmp_path / "out"), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    (out,) = (tmp_path / "out").iterdir()
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["protocol"] == "transfer"
    assert report["settings"]["dataset"] == "imagefolder"
    rows = report["summary"]["rows"]
    assert list(rows) == ["simclr", "thesis", "background_fill"]
    runs = {r["row"]: r for r in report["runs"]}
    # whole splits (None caps): 48 training images with 10% held out, 16 test images
    assert runs["thesis"]["splits"]["test"] == 16
    assert runs["thesis"]["splits"]["train"] + runs["thesis"]["splits"]["val"] == 48
    # masks from the files were used: the mask-aware recipe did not fall back everywhere
    assert runs["thesis"]["fallback_rate"] < 1.0
    cfg = (out / "runs" / "thesis-seed0" / "config.yaml").read_text()
    assert "dataset: imagefolder" in cfg and "files:" in cfg
    for r in runs.values():
        assert 0.0 <= r["linear"] <= 1.0
        # 1 epoch of 48 images at batch 16: 3 steps of 16 images
        assert r["images_per_s"] * r["train_seconds"] == pytest.approx(48)

    # resume reuses finished cells
    done = out / "runs" / "thesis-seed0" / "result.json"
    before = done.stat().st_mtime_ns
    (out / "runs" / "background_fill-seed0" / "result.json").unlink()
    assert main([*argv, "--resume", str(out)]) == 0
    assert done.stat().st_mtime_ns == before
    assert (out / "runs" / "background_fill-seed0" / "result.json").is_file()


def test_real_dataset_errors_come_before_training(tmp_path, capsys):
    root = _image_folder(tmp_path / "data", n_train=2, n_test=1)
    cases = (
        (["--dataset", "nope"], "nope"),
        (
            ["--dataset", "cifar10", "--protocol", "backgrounds"],
            "which only 'synthetic' and 'objects_on_photos' have",
        ),
        (["--dataset", "cifar10", "--data-root", str(tmp_path / "absent")], "was not found"),
        (
            ["--dataset", "cifar10", "--set", "bias=0.5"],
            "bias: applies to 'synthetic' and 'objects_on_photos' only",
        ),
        (["--set", "protocol=fancy"], "protocol: expected 'auto'"),
        (
            ["--dataset", "imagefolder", "--data-root", str(root), "--masks", "nope"],
            "expected 'gt'",
        ),
        (
            ["--dataset", "imagefolder", "--data-root", str(root), "--masks", "files:"],
            "empty folder after 'files:'",
        ),
        (
            [
                "--dataset",
                "imagefolder",
                "--data-root",
                str(root),
                "--masks",
                f"files:{root / 'masks'}",
            ],
            "batch_size: 128 is more than the 4 training images",
        ),
    )
    for argv, text in cases:
        assert main([*argv, "--out-dir", str(tmp_path / "o"), "--no-progress"]) == 2, argv
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and err[0].startswith("segaug-compare: error:"), err
        assert text in err[0], (argv, err)
    # every error came before the report folder was made
    assert not (tmp_path / "o").exists()
    capsys.readouterr()
    absent = ["--dataset", "cifar10", "--data-root", str(tmp_path / "absent")]
    assert main([*absent, "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "absent") in err and "--set download=true" in err


def test_plan_and_presets_of_the_transfer_protocol():
    s = CompareSettings(recipes=("thesis",), seeds=(0,), dataset="cifar10")
    assert s.resolved_protocol() == "transfer"
    assert [(r.row, r.kind) for r in plan_runs(s)] == [("simclr", "baseline"), ("thesis", "recipe")]
    assert CompareSettings().resolved_protocol() == "backgrounds"
    study = preset_settings("study")
    study.validate()
    assert study.resolved_protocol() == "transfer" and len(plan_runs(study)) == 24
    # the same preset on a real dataset only swaps the data
    real = preset_settings("study", dataset="cifar10", data_root="/data", masks="classical")
    real.validate()
    es = transfer_settings(real)
    assert es.datasets == ["cifar10"] and es.protocols == ("linear", "knn")
    assert es.dataset_kwargs == {}


def test_the_documented_gpu_grid_is_valid():
    """configs/compare/study_cifar10_gpu.yaml (README) parses into valid transfer settings."""
    from pathlib import Path

    from simclr.compare.cli import _read_grid

    grid = Path(__file__).parents[3] / "configs" / "compare" / "study_cifar10_gpu.yaml"
    s = preset_settings("default", **_read_grid(str(grid)))
    s.validate()
    assert s.resolved_protocol() == "transfer" and s.seeds == (0, 1, 2)
    assert len(plan_runs(s)) == 3 * 6 * 2 * 7  # seeds x methods x batch sizes x rows
    es = transfer_settings(s)
    assert es.max_train is None and es.max_test is None and es.device == "cuda"
    assert es.num_workers == 8 == s.num_workers

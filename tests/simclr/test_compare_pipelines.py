"""The main job's code path (segaug-compare) runs end to end at a tiny size on CPU."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from simclr.compare import CompareSettings, compare_pipelines, main


def test_compare_pipelines_end_to_end_tiny(tmp_path):
    settings = CompareSettings(
        pipelines=("simclr", "thesis"),
        seeds=(0, 1),
        num_samples=64,
        epochs=1,
        batch_size=32,
        probe_train=60,
        probe_eval=40,
        out_dir=str(tmp_path),
        root=str(tmp_path / "data"),
    )
    out = compare_pipelines(settings, progress=False)
    report = json.loads((out / "report.json").read_text())
    assert set(report["pipelines"]) == {"simclr", "thesis"}
    for entry in report["pipelines"].values():
        assert entry["n_seeds"] == 2
        for split in ("test", "test_biased"):
            acc = entry["linear"][split]
            assert len(acc["values"]) == 2 and 0.0 <= acc["mean"] <= 1.0
        gaps = entry["gap"]["values"]
        lin = entry["linear"]
        assert gaps == pytest.approx(
            [
                b - t
                for b, t in zip(lin["test_biased"]["values"], lin["test"]["values"], strict=True)
            ]
        )
    for entry in report["pipelines"].values():
        for key in ("shape_info", "bg_info"):
            assert 0.0 <= entry[key]["mean"] <= 1.0 and len(entry[key]["values"]) == 2
    assert report["pipelines"]["simclr"]["uses_masks"] is False
    assert 0.0 <= report["pipelines"]["thesis"]["fallback_rate"] < 0.5  # gt masks rarely fall back
    assert set(report["floors"]) == {"raw pixels 16x16", "random init encoder"}
    md = (out / "report.md").read_text()
    assert "| simclr | 2 |" in md and "| thesis | 2 |" in md and "global" in md
    assert "bg info" in md
    for png in ("loss.png", "accuracy.png", "fallback.png"):
        with Image.open(out / png) as im:
            assert im.format == "PNG"
    assert len(json.loads((out / "runs.json").read_text())) == 4


def test_compare_rejects_bad_settings_before_training(tmp_path, capsys):
    assert main(["--pipelines", "fancy", "--out-dir", str(tmp_path)]) == 2
    assert "unknown pipeline 'fancy'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        CompareSettings(batch_size=1).validate()
    assert not any(tmp_path.iterdir())


def test_probe_train_and_val_are_disjoint_on_real_datasets(tmp_path):
    import numpy as np

    from simclr.compare import _eval_splits

    rng = np.random.default_rng(0)
    for split, per_class in (("train", 80), ("val", 5)):
        for c in range(3):
            folder = tmp_path / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
                    folder / f"{i}.png"
                )
    s = CompareSettings(dataset="imagefolder", root=str(tmp_path), probe_train=30, probe_eval=10)
    splits = _eval_splits(s)
    train_idx, val_idx = set(splits["train"].indices), set(splits["val"].indices)
    assert len(train_idx) == 30 and len(val_idx) == 200
    assert not train_idx & val_idx
    assert len(splits["test"]) == 10 and set(splits) == {"train", "val", "test"}
    with pytest.raises(ValueError, match="exceeds the 240 training images"):
        _eval_splits(CompareSettings(dataset="imagefolder", root=str(tmp_path), probe_train=100))

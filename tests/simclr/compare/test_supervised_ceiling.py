"""benchmarks/supervised_ceiling.py: the study's backbone trained with labels, probed as the study.

The labelled rows must really learn (a labelled encoder fits its own training objects far
above chance), the ``random`` training set must have backgrounds independent of the class,
and the script's table must carry the study's stored rows beside the labelled ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from simclr.compare.cli import main
from tests.helpers.compare_testutils import TINY_COMPARE_FLAGS

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "supervised_ceiling.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

import supervised_ceiling  # noqa: E402


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ceiling")
    assert main([*TINY_COMPARE_FLAGS, "--out-dir", str(out)]) == 0
    (folder,) = out.glob("compare-*")
    return folder


def test_the_table_carries_the_stored_rows_and_the_labelled_ones(study, tmp_path) -> None:
    out = tmp_path / "ceiling.json"
    done = _run(str(study), "--seeds", "0", "--epochs", "1", "--images", "128",
                "--sets", "random", "gray", "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "machine:" in done.stdout and "labelled, random" in done.stdout
    result = json.loads(out.read_text())
    assert result["machine"]["cores"] >= 1
    rows = [(r["row"], r["kind"], r["seed"]) for r in result["rows"]]
    assert rows == [("objects alone", "anchor", 0), ("simclr", "baseline", 0),
                    ("thesis", "recipe", 0), ("labelled, random", "labelled", 0),
                    ("labelled, gray", "labelled", 0)]  # fmt: skip
    stored = {
        json.loads(p.read_text())["row"]: json.loads(p.read_text())
        for p in study.glob("runs/*/result.json")
    }
    assert result["rows"][1]["object_info"] == stored["simclr"]["object_info"]
    for r in result["rows"][2:]:
        assert 0.0 <= r["object_info"] <= 1.0 and 0.0 <= r["object_info_neutral"] <= 1.0
    # the summary row of the recipe is the study's own numbers, decomposed
    thesis = next(t for t in result["summary"] if t["row"] == "thesis")
    expected = stored["thesis"]["object_info_neutral"] - stored["thesis"]["object_info"]
    assert thesis["lost"] == pytest.approx(expected, abs=1e-12)
    assert "gap closed" in done.stdout and "thesis" in done.stdout


def _row(name: str, kind: str, on_bg: float, on_gray: float | None) -> dict:
    return {"row": name, "kind": kind, "object_info": on_bg, "object_info_neutral": on_gray}


def test_gap_table_decomposes_each_row_against_the_studys_gap() -> None:
    rows = [
        _row("objects alone", "anchor", 0.29, 0.44), _row("objects alone", "anchor", 0.31, 0.46),
        _row("simclr", "baseline", 0.30, 0.43), _row("simclr", "baseline", 0.32, 0.43),
        _row("swap", "recipe", 0.33, 0.40), _row("swap", "recipe", 0.35, 0.46),
        _row("labelled, random", "labelled", 0.42, 0.52),
    ]  # fmt: skip
    table = {t["row"]: t for t in supervised_ceiling.gap_table(rows)}
    assert list(table) == ["objects alone", "simclr", "swap", "labelled, random"]
    # gap: anchor on gray 0.45 - baseline on the backgrounds 0.31 = 0.14
    assert table["swap"]["gap_closed"] == pytest.approx(0.03 / 0.14)
    assert table["labelled, random"]["gap_closed"] == pytest.approx(0.11 / 0.14)
    assert table["swap"]["lost"] == pytest.approx(0.09)
    assert table["swap"]["kept"] == pytest.approx(0.34 / 0.43)  # of the means, not per seed
    assert table["swap"]["seeds"] == 2
    assert table["objects alone"]["gap_closed"] is None  # the ends of the gap close nothing
    assert table["simclr"]["gap_closed"] is None


def test_gap_table_leaves_the_gap_out_where_it_is_not_one() -> None:
    two_methods = [
        _row("simclr / objects alone", "anchor", 0.30, 0.45),
        _row("byol / objects alone", "anchor", 0.30, 0.40),
        _row("simclr / simclr", "baseline", 0.30, 0.43),
        _row("simclr / swap", "recipe", 0.33, 0.43),
    ]
    table = supervised_ceiling.gap_table(two_methods)
    assert [t["gap_closed"] for t in table] == [None] * 4
    no_gray = [_row("objects alone", "anchor", 0.30, None), _row("simclr", "baseline", 0.3, 0.4),
               _row("swap", "recipe", 0.33, None)]  # fmt: skip
    table = supervised_ceiling.gap_table(no_gray)
    assert table[2]["lost"] is None and table[2]["kept"] is None
    assert table[2]["gap_closed"] is None
    no_gap = [_row("objects alone", "anchor", 0.30, 0.30), _row("simclr", "baseline", 0.31, 0.4),
              _row("swap", "recipe", 0.33, 0.4)]  # fmt: skip
    assert supervised_ceiling.gap_table(no_gap)[2]["gap_closed"] is None  # anchor below


def test_stored_runs_put_anchors_and_baselines_first(tmp_path) -> None:
    runs = [
        ("background_fill-seed0", "recipe", 0),
        ("simclr-seed0", "baseline", 0),
        ("objects-alone-seed0", "anchor", 0),
        ("objects-alone-seed1", "anchor", 1),
    ]
    for name, kind, seed in runs:
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "result.json").write_text(
            json.dumps({"row": name[:-6], "kind": kind, "seed": seed})
        )
    kinds = [r["kind"] for _, r in supervised_ceiling.stored_runs(tmp_path, [0])]
    assert kinds == ["anchor", "baseline", "recipe"]
    (tmp_path / "runs" / "simclr-seed0" / "result.json").unlink()
    (tmp_path / "runs" / "objects-alone-seed0" / "result.json").unlink()
    with pytest.raises(ValueError, match="no stored anchor or baseline run of seeds"):
        supervised_ceiling.stored_runs(tmp_path, [0])  # a recipe run alone cannot serve


def test_a_labelled_encoder_fits_its_training_objects(study) -> None:
    from simclr.compare.backgrounds import split_images
    from simclr.compare.runner import study_settings
    from simclr.evaluate.features import extract_tensor_features, load_encoder

    s = study_settings(study)
    enc = load_encoder(next(study.glob("runs/objects-alone-seed0")))
    mean, std = enc.mean_std
    x, y = split_images(s, "train", 256, neutral=True)
    encoder = supervised_ceiling.train_supervised(enc.config, mean, std, x, y, 10, 15, seed=0)
    feats = extract_tensor_features(encoder, x, mean, std)
    # a nearest-class-mean read-out on the training images themselves: 10 classes, chance 10%
    centres = torch.stack([feats[y == k].mean(0) for k in range(10)])
    accuracy = (torch.cdist(feats, centres).argmin(1) == y).float().mean().item()
    assert accuracy > 0.5, accuracy


def test_the_random_set_has_backgrounds_independent_of_the_class(study) -> None:
    from segaug.data import build_dataset
    from simclr.compare.plan import rendered_data_options
    from simclr.compare.runner import study_settings

    s = study_settings(study)
    n = 2000
    shares = {}
    for name, settings in (
        ("biased", s),
        ("random", supervised_ceiling.random_background_settings(s)),
    ):
        data = build_dataset(s.dataset, None, split="train", size=s.image_size, num_samples=n,
                             **rendered_data_options(settings))  # fmt: skip
        families = torch.as_tensor(data.background_families)
        labels = torch.as_tensor(data.targets)
        shares[name] = (families == labels).float().mean().item()
    assert abs(shares["biased"] - s.bias) < 0.04, shares  # the study's bias (0.7)
    assert abs(shares["random"] - 0.1) < 0.03, shares  # 10 families: chance


def test_bad_arguments_are_one_line(tmp_path) -> None:
    done = _run(str(tmp_path))
    assert done.returncode == 2 and "not a segaug-compare folder" in done.stderr
    done = _run(str(tmp_path), "--epochs", "0")
    assert done.returncode == 2 and "--epochs >= 1" in done.stderr

"""Seed 002's classifier comparison (issue 11 item 4): MLP vs linear on four feature sets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers.eval_testutils import save_untrained_checkpoint
from helpers.numerics import assert_close

import simclr.evaluate.classifiers as classifiers
from simclr.evaluate.classifiers import (
    ClassifierSettings,
    classifier_comparison,
    fit_mlp,
    pca_project,
    tsne_joint,
)
from simclr.evaluate.cli import main
from simclr.evaluate.plots import tsne_2d

FAST = ClassifierSettings(
    mlp_hidden=32, mlp_epochs=60, mlp_lr=1e-2, mlp_batch_size=32, pca_components=3,
    l2_grid=(1e-3, 1e-1), max_iter=100, tsne_perplexity=5.0,
)  # fmt: skip


def _rings(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two concentric rings: separable by radius only, not by any line."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    radius = torch.where(y == 0, 1.0, 3.0) + 0.2 * torch.randn(n, generator=g)
    angle = 2 * math.pi * torch.rand(n, generator=g)
    x = torch.stack([radius * angle.cos(), radius * angle.sin()], 1)
    return x, y


def test_mlp_beats_the_linear_probe_when_classes_are_not_linearly_separable() -> None:
    x_tr, y_tr = _rings(200, seed=0)
    x_te, y_te = _rings(100, seed=1)
    val = torch.arange(200) % 5 == 0
    out = classifier_comparison(
        y_tr, y_te, val, 2, (x_tr, x_te), features=("embeddings",), settings=FAST
    )
    row = out["table"]["embeddings"]
    assert row["mlp"] >= 0.95
    assert row["linear"] <= 0.7  # a line through two rings is near chance
    assert out["protocol"]["train_size"] == 200 and out["protocol"]["val_size"] == 40


def test_mlp_is_seeded_and_leaves_the_global_rng_alone() -> None:
    x, y = _rings(40, seed=2)
    state = torch.random.get_rng_state()
    a = fit_mlp(x, y, 2, hidden=8, epochs=3, seed=5).predict(x)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = fit_mlp(x, y, 2, hidden=8, epochs=3, seed=5).predict(x)
    assert torch.equal(a, b)
    hidden = fit_mlp(x, y, 2, hidden=8, epochs=1).model[0].out_features
    assert hidden == 8


def test_pca_keeps_the_stated_components_and_is_fitted_on_train_only() -> None:
    from sklearn.decomposition import PCA

    g = torch.Generator().manual_seed(0)
    train = torch.randn(60, 12, generator=g) * torch.linspace(3, 0.1, 12)
    test = torch.randn(15, 12, generator=g) + 5.0  # shifted: would move a joint fit
    tr, te, info = pca_project(train, test, 4)
    assert tr.shape == (60, 4) and te.shape == (15, 4) and info["components"] == 4
    ref = PCA(4).fit(train.double().numpy())
    expected_te = ref.transform(test.double().numpy())
    signs = np.sign((te.double().numpy() * expected_te).sum(0))  # components' signs are free
    # pca_project returns float32 (computed in float64): compare at float32 tolerance
    assert_close(te * torch.from_numpy(signs).float(), torch.from_numpy(expected_te).float())
    assert_close(
        torch.tensor(info["explained_variance"], dtype=torch.float64),
        torch.tensor(ref.explained_variance_ratio_.sum(), dtype=torch.float64),
    )
    # changing the test split changes nothing about the training projection
    tr2, _, _ = pca_project(train, test * 10, 4)
    assert torch.equal(tr, tr2)
    # capped by the dimension (and the training size)
    assert pca_project(train, test, 50)[2] == {
        "components": 12,
        "requested": 50,
        "explained_variance": pytest.approx(1.0),
    }
    assert pca_project(train[:5], test, 50)[0].shape == (5, 5)


def test_tsne_embeds_train_and_test_together_and_only_train_labels_are_used(
    monkeypatch,
) -> None:
    x_tr, y_tr = _rings(30, seed=3)
    x_te, y_te = _rings(12, seed=4)
    a, b = tsne_joint(x_tr, x_te, seed=0, perplexity=5.0)
    joint = torch.from_numpy(tsne_2d(torch.cat([x_tr, x_te]), 0, 5.0)).float()
    assert_close(torch.cat([a, b]).double(), joint.double())

    tsne_inputs: list[int] = []
    fitted_labels: list[torch.Tensor] = []
    real_tsne, real_mlp, real_linear = (
        classifiers.tsne_2d,
        classifiers.fit_mlp,
        (classifiers.linear_probe),
    )

    def spy_tsne(features, seed=0, perplexity=30.0):
        tsne_inputs.append(features.shape[0])
        return real_tsne(features, seed, perplexity)

    def spy_mlp(features, labels, *args, **kwargs):
        fitted_labels.append(labels)
        return real_mlp(features, labels, *args, **kwargs)

    def spy_linear(train, val, test, *args, **kwargs):
        fitted_labels.extend([train[1], val[1]])
        return real_linear(train, val, test, *args, **kwargs)

    monkeypatch.setattr(classifiers, "tsne_2d", spy_tsne)
    monkeypatch.setattr(classifiers, "fit_mlp", spy_mlp)
    monkeypatch.setattr(classifiers, "linear_probe", spy_linear)
    val = torch.arange(30) % 3 == 0
    out = classifier_comparison(y_tr, y_te, val, 2, (x_tr, x_te), features=("tsne",),
                                settings=FAST)  # fmt: skip
    assert tsne_inputs == [42]  # one run over train + test, no labels passed
    train_rows = sum(int(t.shape[0]) for t in fitted_labels)
    assert train_rows == 2 * 30  # the MLP's 30, the linear probe's 20 + 10 validation
    assert all(t.shape[0] != 12 for t in fitted_labels)
    assert out["features"]["tsne"]["dim"] == 2
    assert (
        "together" in out["protocol"]["tsne"]
        and "only training labels" in (out["protocol"]["tsne"])
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"probes": ("svm",)}, r"probes = \['svm'\]: expected a non-empty subset"),
        ({"features": ()}, r"features = \[\]: expected a non-empty subset"),
        ({"features": ("raw",)}, r"raw = None: expected \(train, test\) raw-pixel"),
        ({"val_mask": torch.zeros(10, dtype=torch.bool)}, "val_mask must mark some"),
        ({"val_mask": torch.ones(3, dtype=torch.bool)}, r"val_mask must be a bool tensor"),
        ({"settings": ClassifierSettings(mlp_hidden=0)}, r"mlp_hidden = 0: expected"),
    ],
)
def test_bad_comparison_input_raises_naming_the_argument(kwargs, match) -> None:
    x, y = torch.randn(10, 3), torch.arange(10) % 2
    args = {"val_mask": torch.arange(10) % 2 == 0, "features": ("embeddings",), **kwargs}
    val_mask = args.pop("val_mask")
    with pytest.raises(ValueError, match=match):
        classifier_comparison(y, y, val_mask, 2, (x, x), **args)


def test_bad_mlp_and_pca_input() -> None:
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        fit_mlp(torch.randn(4, 2), torch.zeros(3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        fit_mlp(torch.randn(4, 2), torch.tensor([0, 1, 2, 0]), 2)
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
        fit_mlp(torch.randn(4, 2), torch.tensor([0, 1, 1, 0]), 2, epochs=0)
    with pytest.raises(ValueError, match="n_components must be an int >= 1, got 0"):
        pca_project(torch.randn(4, 2), torch.randn(2, 2), 0)
    with pytest.raises(ValueError, match="train and test must be"):
        pca_project(torch.randn(4, 2), torch.randn(2, 3), 1)


# ------------------------------------------------------------------ simclr-eval


def _eval_args(run, out) -> list[str]:
    return [
        str(run), "--datasets", "synthetic", "--out", str(out),
        "--dataset-opt", "synthetic.num_samples=40", "synthetic.size=16",
        "--protocols", "linear", "--floors", "--plots", "--l2-grid", "1e-2",
        "--max-iter", "20", "--no-progress", "--device", "cpu", "--seed", "3",
    ]  # fmt: skip


def test_cli_compares_classifiers_end_to_end(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    save_untrained_checkpoint(run)
    out = tmp_path / "eval"
    argv = _eval_args(run, out) + [
        "--probes", "linear", "mlp", "--features", "raw", "embeddings", "pca", "tsne",
        "--mlp-epochs", "3", "--mlp-hidden", "16", "--pca-components", "5",
    ]  # fmt: skip
    assert main(argv) == 0
    assert "classifier_mlp_tsne" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    ds = report["datasets"]["synthetic"]
    cmp = ds["classifiers"]
    assert list(cmp["table"]) == ["raw", "embeddings", "pca", "tsne"]
    assert all(list(row) == ["linear", "mlp"] for row in cmp["table"].values())
    assert cmp["features"]["raw"]["dim"] == 16 * 16 * 3
    assert cmp["features"]["pca"]["dim"] == 5 and cmp["features"]["tsne"]["dim"] == 2
    p = cmp["protocol"]
    assert p["mlp_hidden"] == 16 and p["mlp_epochs"] == 3 and p["seed"] == 3
    assert p["val_source"] == "official 'val' split"
    assert p["train_size"] == 80 and p["val_size"] == 40 and p["test_size"] == 40
    for f, row in cmp["table"].items():
        for probe, v in row.items():
            assert 0.0 <= v <= 1.0 and ds["summary"][f"classifier_{probe}_{f}"] == v
    md = (out / "report.md").read_text()
    assert "| features | linear | mlp |" in md and "| tsne (2-d) |" in md
    assert "embedded together" in md and "one hidden layer of 16 units" in md


def test_cli_probes_alone_default_to_all_features_and_none_means_no_comparison(
    tmp_path,
) -> None:
    from simclr.evaluate.cli import build_eval_parser, settings_from_args

    parser = build_eval_parser()
    s = settings_from_args(parser.parse_args(["x", "--probes", "mlp"]))
    assert s.probes == ("mlp",) and s.features == ("raw", "embeddings", "pca", "tsne")
    s = settings_from_args(parser.parse_args(["x", "--features", "pca"]))
    assert s.probes == ("linear", "mlp") and s.features == ("pca",)
    assert settings_from_args(parser.parse_args(["x"])).probes == ()


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--probes", "svm"], "probes = ('svm',): expected names among ['linear', 'mlp']"),
        (["--features", "umap"], "features = ('umap',): expected names among"),
        (["--probes"], "--probes: got no value; expected one or more of"),
        (["--features"], "--features: got no value"),
        (["--probes", "mlp", "--pca-components", "0"], "pca_components = 0: expected"),
        (["--probes", "mlp", "--mlp-epochs", "0"], "mlp_epochs = 0: expected"),
    ],
)
def test_cli_bad_comparison_flags_give_one_line_and_status_2(tmp_path, capsys, flags, match):
    assert main([str(tmp_path), "--no-progress", *flags]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("simclr-eval: error: ")
    assert match in err[0]


def test_held_out_validation_rows_where_there_is_no_official_val(tmp_path) -> None:
    """imagefolder has no official val split: the comparison holds out train rows."""
    from PIL import Image

    from simclr.evaluate.features import RawPixels
    from simclr.evaluate.suite import EvalSettings, evaluate_dataset

    rng = np.random.default_rng(0)
    for split, n in (("train", 10), ("test", 4)):
        for c, base in (("dark", 40), ("light", 200)):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(base + rng.integers(-30, 30, (8, 8, 3)), 0, 255)
                Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / split / c / f"{i}.png")
    s = EvalSettings(
        datasets=["imagefolder"], data_root=str(tmp_path), image_size=8, protocols=(),
        floors=(), plots=(), probes=("linear", "mlp"), features=("raw", "embeddings", "pca"),
        mlp_epochs=20, pca_components=2, l2_grid=(1e-2,), max_iter=50, progress=False,
        device="cpu",
    )  # fmt: skip
    s.validate()
    report = evaluate_dataset("imagefolder", RawPixels(2), "raw2", s)
    p = report["classifiers"]["protocol"]
    assert p["train_size"] == 20 and p["val_size"] == 2 and p["test_size"] == 8
    assert "held out" in p["val_source"]
    assert report["classifiers"]["table"]["embeddings"]["mlp"] == 1.0  # dark vs light

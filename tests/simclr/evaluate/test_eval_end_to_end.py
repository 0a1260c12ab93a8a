"""The whole suite on SyntheticShapes with a checkpoint from a 1-step tiny training run."""

import json

import pytest
from helpers.eval_testutils import save_untrained_checkpoint, tiny_run_config

from simclr.evaluate import EvalSettings, evaluate_checkpoint, load_encoder
from simclr.evaluate.cli import main
from simclr.train import train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    cfg = tiny_run_config(run, "train.epochs=1", "augment.recipe=thesis")  # 2 steps
    train(cfg)
    return run


def test_cli_end_to_end(trained_run, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = [
        str(trained_run), "--datasets", "synthetic", "--out", str(out),
        "--dataset-opt", "synthetic.num_samples=60", "synthetic.size=16",
        "--protocols", "linear", "knn", "finetune", "--fractions", "0.5", "1.0",
        "--finetune-epochs", "1", "--finetune-batch-size", "16",
        "--l2-grid", "1e-3", "1", "--max-iter", "50", "--knn-k", "5", "200",
        "--plots", "confusion", "pca", "tsne", "--no-progress", "--method", "simclr",
    ]  # fmt: skip
    assert main(argv) == 0
    assert "synthetic (top1): linear" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    run = report["run"]
    assert run["pipeline"] == "simclr/resnet18 (thesis)" and run["seed"] == 0
    assert len(run["checkpoint_sha256"]) == 64
    assert 0.0 <= run["mask_fallback_rate"] <= 1.0  # read from the run's epochs.csv
    ds = report["datasets"]["synthetic"]
    assert ds["splits"]["val_source"] == "official 'val' split"
    assert ds["splits"]["train"] == ds["splits"]["val"] == ds["splits"]["test"] == 60
    assert ds["mask_fallback_rate"] == run["mask_fallback_rate"]
    assert set(ds["linear"]) == {"pretrained", "random_encoder", "raw_pixels"}
    assert ds["features"]["raw_pixels"]["dim"] == 3 * 16 * 16
    lin = ds["linear"]["pretrained"]
    assert lin["protocol"]["l2_selected"] in (1e-3, 1.0) and len(lin["test"]["per_class"]) == 10
    expected = {
        "linear", "knn_k5", "knn_k200", "linear_test_biased", "finetune_50pct",
        "finetune_100pct", "linear_raw_pixels", "linear_random_encoder", "knn_k5_raw_pixels",
    }  # fmt: skip
    assert expected <= set(ds["summary"])
    assert all(0.0 <= v <= 1.0 for v in ds["summary"].values())
    assert ds["finetune"]["50pct"]["protocol"]["labelled_samples"] == 30
    pngs = sorted(p.name for p in (out / "synthetic").glob("*.png"))
    assert pngs == ["confusion_linear.png", "test_embedding_pca.png", "test_embedding_tsne.png"]
    md = (out / "report.md").read_text()
    for phrase in ("Linear probe", "λ chosen on the validation split", "k ∈ {5, 200}",
                   "T = 0.1", "Fine-tuning", "resize shorter side to 16 (bicubic)",
                   "Per-class results", "| circle |", "Floors"):  # fmt: skip
        assert phrase in md, phrase
    # compare on the produced report
    assert main(["compare", str(out), "--out", str(tmp_path / "cmp")]) == 0
    assert "simclr/resnet18 (thesis)" in (tmp_path / "cmp" / "compare.md").read_text()


def test_re_evaluation_hits_the_cache(trained_run, tmp_path):
    s = EvalSettings(
        datasets=["synthetic"], dataset_kwargs={"synthetic": {"num_samples": 30, "size": 16}},
        protocols=("knn",), floors=("raw_pixels",), plots=(), knn_ks=(3,), progress=False,
    )  # fmt: skip
    first = evaluate_checkpoint(trained_run, s, tmp_path / "e")
    assert first["cache"]["hits"] == 0 and first["cache"]["misses"] == 4
    # a second evaluation into the same folder is refused unless it overwrites the report;
    # the feature cache there is kept and hit
    before = (tmp_path / "e" / "report.json").read_bytes()
    with pytest.raises(ValueError, match=r"holds a report \(report.json\); replace it with"):
        evaluate_checkpoint(trained_run, s, tmp_path / "e")
    assert (tmp_path / "e" / "report.json").read_bytes() == before
    second = evaluate_checkpoint(trained_run, s, tmp_path / "e", overwrite=True)
    assert second["cache"] == {**first["cache"], "hits": 4, "misses": 0}
    assert second["datasets"]["synthetic"]["summary"] == first["datasets"]["synthetic"]["summary"]


def test_checkpoint_from_another_method_or_backbone(tmp_path):
    save_untrained_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="method: .* pretrained with 'simclr', expected 'mae'"):
        load_encoder(tmp_path, method="mae")
    with pytest.raises(
        ValueError, match="backbone: .* has backbone 'resnet18', expected 'resnet50'"
    ):
        load_encoder(tmp_path, backbone="resnet50")
    assert main([str(tmp_path), "--backbone", "vit_tiny", "--no-progress"]) == 2
    with pytest.raises(ValueError, match="^checkpoint: no checkpoint at .*nope") as err:
        load_encoder(tmp_path / "nope")
    assert "resume" not in str(err.value)  # simclr-eval resumes nothing


def test_missing_dataset_surfaces_the_registry_message(tmp_path, capsys):
    save_untrained_checkpoint(tmp_path / "run")
    s = EvalSettings(datasets=["cifar10"], data_root=str(tmp_path / "data"), progress=False)
    with pytest.raises(
        ValueError, match=r"datasets: dataset 'cifar10' was not found.*download=True"
    ):
        evaluate_checkpoint(tmp_path / "run", s)
    assert main([str(tmp_path / "run"), "--datasets", "cifar10", "--data-root",
                 str(tmp_path / "data"), "--no-progress"]) == 2  # fmt: skip
    assert "cifar-10-batches-py" in capsys.readouterr().err


def test_bad_settings_name_argument_and_expectation():
    with pytest.raises(ValueError, match="finetune_fractions|label fraction must be in"):
        EvalSettings(finetune_fractions=(0.0,)).validate()
    with pytest.raises(ValueError, match=r"protocols = \('probe',\): expected a subset of"):
        EvalSettings(protocols=("probe",)).validate()
    with pytest.raises(ValueError, match="dataset"):
        EvalSettings(datasets=["imagenet21k"]).validate()
    assert main(["x", "--fractions", "1.5", "--no-progress"]) == 2


def test_encoders_accept_another_evaluation_size(tmp_path):
    import torch

    save_untrained_checkpoint(tmp_path / "cnn")  # ResNet pretrained at 16 px
    enc = load_encoder(tmp_path / "cnn", image_size=32)
    assert enc.encoder(torch.rand(2, 3, 32, 32)).shape == (2, enc.feature_dim)
    vit = [
        "method.name=mae", "model.backbone=vit_tiny", "model.patch_size=4", "model.depth=1",
        "method.params={decoder_depth: 1, decoder_dim: 32, decoder_heads: 2}",
    ]  # fmt: skip
    save_untrained_checkpoint(tmp_path / "vit", *vit)
    loaded = load_encoder(tmp_path / "vit", method="mae", image_size=32)  # pos-embed rebuilt
    assert loaded.encoder(torch.rand(2, 3, 32, 32)).shape == (2, 192)
    with pytest.raises(ValueError, match="image_size = 30: expected a multiple of the ViT patch"):
        load_encoder(tmp_path / "vit", image_size=30)

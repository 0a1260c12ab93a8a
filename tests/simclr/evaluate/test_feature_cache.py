"""The feature cache: a hit does not run the model; a changed checkpoint is a miss."""

import torch
from helpers.eval_testutils import CountingEncoder, save_untrained_checkpoint

from segaug.data import build_dataset
from simclr.evaluate.features import (
    FeatureCache,
    Preprocess,
    extract_features,
    file_hash,
    load_encoder,
)
from simclr.evaluate.suite import EvalSettings, evaluate_dataset


def test_second_call_is_a_hit_without_forward_calls(tmp_path):
    ds = build_dataset("synthetic", split="test", num_samples=12, size=16)
    enc = CountingEncoder()
    cache = FeatureCache(tmp_path)
    parts = {"encoder": "abc", "dataset": "synthetic", "split": "test", "pre": 16}

    def compute():
        return extract_features(enc, ds, Preprocess(16), batch_size=5, progress=False)

    f1, y1 = cache.get_or_compute(parts, compute)
    calls = enc.calls
    assert calls == 3  # ceil(12 / 5)
    f2, y2 = cache.get_or_compute(parts, compute)
    assert enc.calls == calls and cache.hits == 1 and cache.misses == 1
    assert torch.equal(f1, f2) and torch.equal(y1, y2)
    cache.get_or_compute({**parts, "pre": 32}, compute)  # other preprocessing -> miss
    assert enc.calls == 2 * calls
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporaries


def test_evaluate_dataset_reuses_cached_features(tmp_path):
    settings = EvalSettings(
        datasets=["synthetic"],
        dataset_kwargs={"synthetic": {"num_samples": 30, "size": 16}},
        image_size=16,
        protocols=("knn",),
        floors=(),
        plots=(),
        knn_ks=(3,),
        cache_dir=str(tmp_path / "cache"),
        progress=False,
    )
    enc = CountingEncoder()
    first = evaluate_dataset("synthetic", enc, "enc-v1", settings)
    calls = enc.calls
    assert calls > 0
    second = evaluate_dataset("synthetic", enc, "enc-v1", settings)
    assert enc.calls == calls
    assert second["summary"] == first["summary"]
    evaluate_dataset("synthetic", enc, "enc-v2", settings)  # new identity -> recomputed
    assert enc.calls == 2 * calls


def test_changed_checkpoint_changes_the_cache_key(tmp_path):
    run = tmp_path / "run"
    path = save_untrained_checkpoint(run, seed=0)
    h1 = load_encoder(run).checkpoint_hash
    assert h1 == file_hash(path)
    save_untrained_checkpoint(run, seed=1)  # same config, other weights
    h2 = load_encoder(run).checkpoint_hash
    assert h1 != h2
    cache = FeatureCache(tmp_path / "c")
    assert cache.path({"encoder": h1}) != cache.path({"encoder": h2})

"""InputCache: one decode of a split for many encoders, with the same features."""

from __future__ import annotations

import torch
from torch import nn

from segaug.data import build_dataset
from simclr.evaluate.features import InputCache, Preprocess, RawPixels, extract_features
from simclr.evaluate.suite import EvalSettings, evaluate_dataset


class _Counting(torch.utils.data.Dataset):
    def __init__(self, base):
        self.base, self.reads = base, 0

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.reads += 1
        return self.base[i]


def _data(n=40):
    return _Counting(build_dataset("synthetic", split="test", size=16, num_samples=n))


def test_cached_inputs_give_the_streamed_features_and_are_read_once():
    ds, pre = _data(), Preprocess(16)
    torch.manual_seed(0)
    encoders = [nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()) for _ in range(3)]
    cache = InputCache()
    for enc in encoders:
        got = cache.extract(enc, ds, pre, {"split": "test"}, batch_size=16, progress=False)
        want = extract_features(enc, ds, pre, batch_size=16, progress=False)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    # 3 streamed reference passes + exactly one decode for the cache
    assert ds.reads == 4 * len(ds) and cache.hits == 2
    assert cache.used_bytes == len(ds) * 3 * 16 * 16 * 4


def test_a_split_over_the_budget_is_streamed_and_not_kept():
    ds, pre = _data(), Preprocess(16)
    cache = InputCache(max_bytes=len(ds) * 3 * 16 * 16 * 4 - 1)
    a = cache.extract(RawPixels(4), ds, pre, {"split": "test"}, progress=False)
    b = cache.extract(RawPixels(4), ds, pre, {"split": "test"}, progress=False)
    assert torch.equal(a[0], b[0]) and cache.used_bytes == 0 and cache.hits == 0
    assert ds.reads == 2 * len(ds)


def test_evaluate_dataset_is_unchanged_by_the_input_cache():
    s = EvalSettings(
        image_size=16, dataset_kwargs={"synthetic": {"num_samples": 60, "size": 16}},
        protocols=("linear", "knn"), floors=(), plots=(), l2_grid=(1e-3, 1e-2),
        max_iter=50, progress=False, device="cpu",
    )  # fmt: skip
    enc = RawPixels(4)
    plain = evaluate_dataset("synthetic", enc, "raw4", s)
    cache = InputCache()
    first = evaluate_dataset("synthetic", enc, "raw4", s, inputs=cache)
    second = evaluate_dataset("synthetic", RawPixels(2), "raw2", s, inputs=cache)
    assert first["summary"] == plain["summary"]
    assert cache.hits == 4  # train, val, test and test_biased decoded once for both
    assert second["features"]["pretrained"]["dim"] == 12


def test_other_preprocessing_or_subset_is_a_miss():
    """The key holds the preprocessing (mean/std, size) and the subset, never the encoder."""
    s = EvalSettings(
        image_size=16, dataset_kwargs={"synthetic": {"num_samples": 60, "size": 16}},
        protocols=("knn",), floors=(), plots=(), progress=False, device="cpu",
    )  # fmt: skip
    cache = InputCache()
    evaluate_dataset("synthetic", RawPixels(4), "a", s, inputs=cache)
    assert cache.hits == 0
    evaluate_dataset(
        "synthetic", RawPixels(4), "a", s, inputs=cache, mean_std=([0.1] * 3, [0.2] * 3)
    )
    assert cache.hits == 0  # other normalisation: decoded again
    capped = EvalSettings(**{**s.__dict__, "max_train": 30})
    evaluate_dataset("synthetic", RawPixels(4), "a", capped, inputs=cache)
    assert cache.hits == 1  # (kNN only: train and test) test reused; capped train is new
    ds, pre = _data(), Preprocess(16)
    cache.extract(RawPixels(4), ds, pre, {"split": "x"}, progress=False)
    cache.extract(RawPixels(4), ds, Preprocess(8), {"split": "x"}, progress=False)
    assert ds.reads == 2 * len(ds)  # same parts, other preprocessing: not confused

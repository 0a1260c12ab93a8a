"""Label-fraction subsets (class-balanced, seeded, validated) and a tiny fine-tuning run."""

import math

import pytest
import torch

from segaug.data import build_dataset
from simclr.evaluate.features import Preprocess
from simclr.evaluate.finetune import FinetuneSettings, finetune, label_subset

LABELS = [c for c in range(5) for _ in range(100)]  # 5 classes x 100


@pytest.mark.parametrize("fraction,per_class", [(0.01, 1), (0.1, 10), (0.5, 50)])
def test_subsets_are_class_balanced(fraction, per_class):
    idx = label_subset(LABELS, fraction, seed=0)
    counts = torch.bincount(torch.tensor([LABELS[i] for i in idx]), minlength=5)
    assert counts.tolist() == [per_class] * 5
    assert len(set(idx)) == len(idx) and idx == sorted(idx)


def test_subsets_are_deterministic_by_seed():
    a, b = label_subset(LABELS, 0.1, seed=3), label_subset(LABELS, 0.1, seed=3)
    assert a == b
    assert label_subset(LABELS, 0.1, seed=4) != a
    assert label_subset(torch.tensor(LABELS), 0.1, seed=3) == a


def test_full_fraction_keeps_everything():
    assert label_subset(LABELS, 1.0) == list(range(len(LABELS)))


def test_imbalanced_dataset_gets_equal_counts_capped_by_class_size():
    labels = [0] * 200 + [1] * 10 + [2] * 90
    idx = label_subset(labels, 0.1, seed=0)  # 0.1 * 300 / 3 = 10 per class
    assert torch.bincount(torch.tensor([labels[i] for i in idx])).tolist() == [10, 10, 10]


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, math.nan, True, "0.1", None])
def test_bad_fractions_raise(bad):
    with pytest.raises(ValueError, match=r"label fraction must be"):
        label_subset(LABELS, bad)


def test_empty_class_raises():
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] have no samples"):
        label_subset([0, 0, 1, 1, 3, 3], 0.5, num_classes=4)


def test_fraction_too_small_for_one_per_class_raises():
    with pytest.raises(ValueError, match="0 labelled samples per class; expected fraction >="):
        label_subset(LABELS, 0.001)


def test_tiny_finetune_runs_and_states_its_protocol():
    train = build_dataset("synthetic", split="train", num_samples=40, size=16)
    test = build_dataset("synthetic", split="test", num_samples=20, size=16)
    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten())  # fmt: skip
    before = [p.clone() for p in enc.parameters()]
    settings = FinetuneSettings(epochs=2, batch_size=8, seed=1)
    res = finetune(enc, 4, train, test, 10, Preprocess(16), 0.5, settings, progress=False)
    p = res["protocol"]
    assert p["labelled_samples"] == 20 and p["per_class_min"] == p["per_class_max"] == 2
    assert p["epochs"] == 2 and p["lr"] == pytest.approx(0.05 * 8 / 256)
    assert res["test"]["num_samples"] == 20 and 0.0 <= res["test"]["top1"] <= 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, enc.parameters(), strict=True))
    with pytest.raises(ValueError, match="label fraction must be in"):
        finetune(enc, 4, train, test, 10, Preprocess(16), 2.0, settings, progress=False)

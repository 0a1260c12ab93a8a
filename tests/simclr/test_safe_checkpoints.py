"""Every file the project writes with torch.save loads with weights_only=True.

Training checkpoints (``last.pt`` mid-epoch and at an epoch end, ``epoch_XXXX.pt``),
feature-cache entries and segmenter weights files; a file that needs a full unpickle is
refused with an error naming the file, by the library and by the console scripts.
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import pytest
import torch
from helpers.simclr_testutils import tiny_config

from segaug.io import UnsafeCheckpointError, load_torch_file
from segaug.masks.base import load_state_dict
from simclr import checkpoint as ckpt_io
from simclr.evaluate.cli import main as eval_main
from simclr.evaluate.features import FeatureCache
from simclr.train import main as train_main
from simclr.train import train


def _plain(obj, where="checkpoint"):
    """Assert ``obj`` holds only tensors and plain containers (what weights_only allows)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, (str, int)), (where, k)
            _plain(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _plain(v, f"{where}[{i}]")
    else:
        assert obj is None or isinstance(obj, (torch.Tensor, str, int, float, bool)), (
            where,
            type(obj),
        )


def test_training_checkpoints_load_with_weights_only(tmp_path):
    # epoch 1 ends (last.pt + epoch_0001.pt), then a mid-epoch stop (last.pt with meters)
    cfg = tiny_config(tmp_path, "train.epochs=2", "train.max_steps=3")
    train(cfg)
    files = sorted(tmp_path.glob("*.pt"))
    assert [f.name for f in files] == ["epoch_0001.pt", "last.pt"]
    for f in files:
        state = torch.load(f, weights_only=True)
        _plain(state, f.name)
        assert {"model", "optimizer", "scheduler", "rng", "config", "step"} <= set(state)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["step"] == 3 and last["batch_in_epoch"] == 1 and last["meters"]["steps"] == 1
    assert isinstance(last["rng"][0]["numpy"]["keys"], torch.Tensor)
    # the library loader reads it the same way
    assert ckpt_io.load_checkpoint(tmp_path)["step"] == 3


def test_rng_state_survives_a_weights_only_round_trip(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's state
    state = ckpt_io.capture_rng(torch.device("cpu"))
    expected = (torch.rand(3), np.random.standard_normal(3), [random.random() for _ in range(3)])
    ckpt_io.atomic_save({"rng": [state]}, tmp_path / "r.pt")
    loaded = torch.load(tmp_path / "r.pt", weights_only=True)["rng"][0]
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    ckpt_io.restore_rng(loaded, torch.device("cpu"))
    got = (torch.rand(3), np.random.standard_normal(3), [random.random() for _ in range(3)])
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1])
    assert got[2] == expected[2]


def test_open_format_for_extra_method_state(tmp_path):
    payload = {
        "model": {"w": torch.ones(2)},
        "config": {"method": {"name": "byol"}},
        "step": 1,
        "method_state": {"teacher": {"w": torch.zeros(2)}, "queue": torch.ones(4, 2), "m": 0.99},
    }
    ckpt_io.atomic_save(payload, tmp_path / "last.pt")
    got = ckpt_io.load_checkpoint(tmp_path)
    assert got["method_state"]["m"] == 0.99
    assert torch.equal(got["method_state"]["queue"], torch.ones(4, 2))


def test_feature_cache_entries_load_with_weights_only(tmp_path):
    cache = FeatureCache(tmp_path)
    feats, labels = torch.randn(5, 3), torch.arange(5)
    cache.get_or_compute({"encoder": "x", "split": "train"}, lambda: (feats, labels))
    (entry,) = list(tmp_path.glob("*.pt"))
    blob = torch.load(entry, weights_only=True)
    _plain(blob, entry.name)
    assert torch.equal(blob["features"], feats) and torch.equal(blob["labels"], labels)


def test_segmenter_weights_load_with_weights_only(tmp_path):
    net = torch.nn.Conv2d(3, 2, 1)
    torch.save(net.state_dict(), tmp_path / "plain.pth")
    torch.save({"state_dict": net.state_dict(), "epoch": 3}, tmp_path / "wrapped.pth")
    for name in ("plain.pth", "wrapped.pth"):
        torch.load(tmp_path / name, weights_only=True)
        sd = load_state_dict(str(tmp_path / name))
        assert torch.equal(sd["weight"], net.weight.detach())


def _unsafe_file(path):
    torch.save({"model": {}, "config": argparse.Namespace(lr=1.0), "step": 0}, path)
    return path


def test_a_file_that_needs_unpickling_is_refused_by_name(tmp_path):
    bad = _unsafe_file(tmp_path / "last.pt")
    with pytest.raises(UnsafeCheckpointError, match=r"refusing to load .*last\.pt.*Namespace"):
        load_torch_file(bad)
    with pytest.raises(UnsafeCheckpointError, match=r"^resume: refusing to load .*last\.pt"):
        ckpt_io.load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match=r"refusing to load .*last\.pt"):
        load_state_dict(str(bad))
    np.save(tmp_path / "arr.npy", np.zeros(2))
    torch.save({"w": np.zeros(2)}, tmp_path / "numpy.pt")
    with pytest.raises(UnsafeCheckpointError, match=r"numpy\.pt"):
        load_torch_file(tmp_path / "numpy.pt")


def test_corrupted_file_is_a_clear_value_error(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"^resume: cannot read checkpoint .*last\.pt"):
        ckpt_io.load_checkpoint(tmp_path)


def test_console_scripts_refuse_unsafe_checkpoints_in_one_line(tmp_path, capsys):
    _unsafe_file(tmp_path / "last.pt")
    assert eval_main([str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simclr-eval: error: checkpoint: refusing")
    assert "last.pt" in err[0]
    assert train_main(["--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simclr-train: error: resume: refusing")


def test_an_old_checkpoint_you_trust_can_be_upgraded(tmp_path, capsys):
    train(tiny_config(tmp_path, "train.epochs=1"))
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    state["rng"][0]["numpy"] = np.random.get_state()  # the format before safe loading
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(UnsafeCheckpointError, match="numpy.*--upgrade"):
        ckpt_io.load_checkpoint(tmp_path)
    assert ckpt_io.main(["--upgrade", str(tmp_path)]) == 0
    assert "upgraded" in capsys.readouterr().out
    upgraded = torch.load(tmp_path / "last.pt", weights_only=True)
    assert upgraded["step"] == state["step"]
    assert np.array_equal(upgraded["rng"][0]["numpy"]["keys"].numpy(), state["rng"][0]["numpy"][1])
    train(tiny_config(tmp_path, "train.epochs=1"), resume=tmp_path)  # loads and restores RNG

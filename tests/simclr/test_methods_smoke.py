"""SimCLR and MAE train briefly on the synthetic dataset; MAE's mask-guided masking.

Every method's loss falling on a fixed batch is tested in ``test_ssl_methods.py``.
"""

import math

import pytest
import torch
from helpers.simclr_testutils import tiny_config, tiny_mae_config

from simclr.methods import METHODS, build_method
from simclr.models import build_backbone
from simclr.trainer import train


def test_registry_lists_methods():
    assert {"simclr", "mae"} <= set(METHODS.names())
    with pytest.raises(ValueError, match="simclr"):
        METHODS.get("byol_typo")


@pytest.mark.parametrize("which", ["simclr", "mae", "mae_guided"])
def test_short_run_on_synthetic(tmp_path, which):
    if which == "simclr":
        cfg = tiny_config(tmp_path, "train.plots=true")
    else:
        extra = ["method.params.mask_guided=true"] if which == "mae_guided" else []
        cfg = tiny_mae_config(tmp_path, *extra)
    result = train(cfg)
    assert result.step == 4 and result.epoch == 2
    assert all(math.isfinite(row["loss"]) for row in result.epochs)
    assert 0.0 <= result.epochs[-1]["fallback_rate"] <= 1.0
    assert 0.0 <= result.epochs[-1]["online_probe_acc"] <= 1.0
    for name in ("last.pt", "epoch_0001.pt", "epoch_0002.pt", "metrics.csv", "epochs.csv"):
        assert (tmp_path / name).exists(), name
    if which == "simclr":
        assert (tmp_path / "loss.png").exists() and (tmp_path / "lr.png").exists()


def test_mask_guided_masking_prefers_background():
    backbone = build_backbone("vit_tiny", 16, patch_size=4, depth=1)
    mae = build_method("mae", backbone, {"mask_guided": True, "background_weight": 8.0})
    mask = torch.zeros(64, 1, 16, 16)
    mask[:, :, :8] = 1.0  # top half foreground
    weights = mae.patch_weights(mask)
    assert torch.allclose(weights[:, :8], torch.ones(64, 8))  # foreground patches: weight 1
    assert torch.allclose(weights[:, 8:], torch.full((64, 8), 8.0))
    from simclr.methods.mae import choose_masked

    torch.manual_seed(0)
    order = choose_masked(64, 16, 12, weights, torch.device("cpu"))
    masked = order[:, 4:]
    bg_share = (masked >= 8).float().mean().item()
    assert bg_share > 0.6  # uniform masking would give 0.5
    # background_weight=1 is MAE's uniform masking
    uniform = build_method("mae", backbone, {"mask_guided": True, "background_weight": 1.0})
    assert torch.allclose(uniform.patch_weights(mask), torch.ones(64, 16))

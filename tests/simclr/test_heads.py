"""Projection heads with GroupNorm: no degenerate groups on narrow heads."""

from __future__ import annotations

import torch

from simclr.models.heads import MIN_GROUP_WIDTH, MLP, group_count, make_norm1d


def test_group_count_divides_and_keeps_groups_wide():
    for dim in range(1, 4097):
        g = group_count(dim)
        assert dim % g == 0 and 1 <= g <= 32, dim
        assert g == 1 or dim // g >= MIN_GROUP_WIDTH, dim
    # the widest heads keep the usual 32 groups
    assert group_count(2048) == group_count(4096) == 32


def test_groupnorm_head_matches_a_per_group_reference():
    torch.manual_seed(0)
    x = torch.randn(5, 128, dtype=torch.float64)
    norm = make_norm1d("group", 128, affine=False).double()
    g = norm.num_groups
    assert g == 16
    ref = x.view(5, g, -1)
    ref = (ref - ref.mean(-1, keepdim=True)) / torch.sqrt(
        ref.var(-1, unbiased=False, keepdim=True) + norm.eps
    )
    torch.testing.assert_close(norm(x), ref.view(5, 128), rtol=1e-12, atol=1e-12)


def test_narrow_groupnorm_heads_do_not_collapse():
    """A 32-wide hidden layer used to get 32 groups of one feature: all zeros after the
    norm, so every input gave the same output."""
    torch.manual_seed(0)
    for width in (8, 16, 32, 64):
        head = MLP([16, width, 8], norm="group")
        out = head(torch.randn(64, 16))
        assert out.std(dim=0).min() > 1e-3, width  # outputs depend on the input
        hidden = head.net[:3](torch.randn(64, 16))  # Linear -> GroupNorm -> ReLU
        assert (hidden > 0).float().mean() > 0.2, width  # about half the units fire

"""Backgrounds-challenge sets are built from the masks as stated; the statistics are right."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segaug.data.synthetic import NEUTRAL_GRAY, ShapeStyle, SyntheticShapes
from simclr.evaluate.background import background_challenge, bg_gap, composite, half_split_probe
from simclr.evaluate.stats import gap_closed, mean_std, paired_difference, pooled_half_width


def _synthetic_test_set(n=60):
    ds = SyntheticShapes("test_biased", size=32, num_samples=n, bias=0.7)
    idx = np.arange(n)
    images, masks, labels = ds.get_batch(idx)
    bgs = ds.get_backgrounds(idx)

    def chw(a):
        return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()

    return (
        chw(images),
        torch.from_numpy(masks)[:, None],
        chw(bgs),
        torch.from_numpy(labels),
        torch.from_numpy(ds.background_families),
    )


def _find_donor(pool: torch.Tensor, picture: torch.Tensor, keep: torch.Tensor) -> list[int]:
    """Rows of ``pool`` equal to ``picture`` wherever ``keep`` is set."""
    return [j for j in range(pool.shape[0]) if torch.equal(pool[j][keep], picture[keep])]


def test_each_variant_takes_inside_from_the_object_and_outside_from_the_stated_background():
    images, masks, bgs, labels, fams = _synthetic_test_set()
    sets = background_challenge(images, masks, bgs, labels, fams, seed=3)
    inside = masks.bool().expand_as(images)
    assert torch.equal(sets["original"], images)
    assert torch.equal(sets["only_bg"], bgs)
    assert torch.equal(sets["only_fg"][inside], images[inside])
    assert (sets["only_fg"][~inside] == 128).all()
    for name in ("mixed_same", "mixed_rand"):
        x = sets[name]
        assert torch.equal(x[inside], images[inside]), name
        donor_fams = []
        for i in range(x.shape[0]):
            out = ~inside[i]
            donors = _find_donor(bgs, x[i], out)
            donors = [j for j in donors if j != i]
            assert donors, (name, i)  # outside the mask: exactly another image's background
            donor_fams.append({int(fams[j]) for j in donors})
        if name == "mixed_same":  # the background family the object's class owns
            assert all(int(labels[i]) in f for i, f in enumerate(donor_fams))
    # Mixed-Rand draws the family uniformly: far fewer matches than Mixed-Same
    same = sum(int(labels[i]) == int(fams[i]) for i in range(len(labels)))
    assert same > 0


def test_mixed_rand_families_are_uniform_even_from_a_biased_pool():
    n = 2000
    labels = torch.arange(n) % 10
    fams = torch.where(
        torch.rand(n, generator=torch.Generator().manual_seed(0)) < 0.9, labels, (labels + 1) % 10
    )
    images = torch.arange(n).view(n, 1, 1, 1).expand(n, 3, 2, 2).float()
    bgs = -images - 1  # background of row j is recognisable as -(j + 1)
    masks = torch.zeros(n, 1, 2, 2)
    sets = background_challenge(images, masks, bgs, labels, fams, neutral=0.5, seed=0)
    donors = (-sets["mixed_rand"][:, 0, 0, 0] - 1).long()
    counts = torch.bincount(fams[donors], minlength=10).float() / n
    assert (counts - 0.1).abs().max() < 0.03
    assert (donors != torch.arange(n)).all()
    same = (-sets["mixed_same"][:, 0, 0, 0] - 1).long()
    assert torch.equal(fams[same], labels)


def test_challenge_input_errors():
    x = torch.zeros(4, 3, 4, 4)
    with pytest.raises(ValueError, match="labels must have shape"):
        background_challenge(x, torch.zeros(4, 1, 4, 4), x, torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="no other image has background family 1"):
        background_challenge(
            x, torch.zeros(4, 1, 4, 4), x, torch.tensor([0, 1, 0, 0]), torch.tensor([0, 0, 0, 0])
        )
    with pytest.raises(ValueError, match="masks must be"):
        composite(x, torch.zeros(4, 4, 4), x)


def test_neutral_and_textured_styles_draw_the_same_objects():
    style = dict(coverage=(0.2, 0.5), small_fraction=0.0, object_colour="gray")
    tex = SyntheticShapes("test", size=32, num_samples=12, style=ShapeStyle(**style))
    neu = SyntheticShapes(
        "test", size=32, num_samples=12, style=ShapeStyle(**style, background="neutral")
    )
    for i in range(12):
        m = tex.get_mask(i).astype(bool)
        assert np.array_equal(m, neu.get_mask(i).astype(bool))
        a, b = np.asarray(tex[i][0]), np.asarray(neu[i][0])
        assert np.array_equal(a[m], b[m])  # same object pixels (noise included)
        assert np.abs(b[~m].astype(int) - NEUTRAL_GRAY).max() <= 15  # gray + faint noise
        bg = tex.get_background(i)
        assert np.array_equal(bg[~m], a[~m])  # the background render equals the image outside
        assert 0.2 * 0.8 <= m.mean() <= 0.5 * 1.2
        obj = a[m].astype(int)  # gray objects: channels agree up to the pixel noise
        assert np.abs(obj - obj.mean(axis=1, keepdims=True)).mean() < 6


def test_paired_statistics_on_hand_made_numbers():
    d = paired_difference([0.50, 0.52, 0.54], [0.40, 0.41, 0.45])
    assert d.values == pytest.approx((0.10, 0.11, 0.09))
    assert d.mean == pytest.approx(0.10) and d.std == pytest.approx(0.01)
    half = 4.302652729911275 * 0.01 / math.sqrt(3)  # t(0.975, 2)
    assert (d.low, d.high) == pytest.approx((0.10 - half, 0.10 + half))
    assert d.beyond_noise
    noisy = paired_difference([0.5, 0.4, 0.6], [0.45, 0.5, 0.5])
    assert noisy.low < 0 < noisy.high and not noisy.beyond_noise
    one = paired_difference([0.3], [0.2])
    assert math.isnan(one.low) and not one.beyond_noise
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    with pytest.raises(ValueError, match="paired per seed"):
        paired_difference([0.1, 0.2], [0.1])


def test_gap_closed_and_bg_gap_on_hand_made_numbers():
    assert gap_closed(recipe=0.30, baseline=0.20, anchor=0.60) == pytest.approx(0.25)
    assert gap_closed(recipe=0.60, baseline=0.20, anchor=0.60) == pytest.approx(1.0)
    assert gap_closed(recipe=0.10, baseline=0.20, anchor=0.60) == pytest.approx(-0.25)
    assert math.isnan(gap_closed(recipe=0.3, baseline=0.5, anchor=0.4))
    assert bg_gap({"mixed_same": 0.8, "mixed_rand": 0.55}) == pytest.approx(0.25)


def test_half_split_probe_fits_on_one_half_and_scores_the_other():
    x = torch.tensor([[0.0], [1.0], [0.0], [1.0], [1.0], [0.0], [0.0], [1.0]])
    y = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    seen = {}

    def fit(xf, yf, k):
        seen["n"], seen["k"] = xf.shape[0], k
        return lambda f: (f[:, 0] > 0.5).long()

    # second half: x = 1,0,0,1 ; y = 0,1,0,1 -> predictions 1,0,0,1 -> 2 of 4 right
    assert half_split_probe(x, y, fit) == pytest.approx(0.5)
    assert seen == {"n": 4, "k": 2}


def test_pooled_half_width_against_a_direct_computation():
    from scipy import stats

    rows = [[0.01, 0.04, 0.02], [0.20, 0.26, 0.23], [0.5]]  # the 1-seed row is left out
    half, df = pooled_half_width(rows)
    a, b = np.array(rows[0]), np.array(rows[1])
    pooled_var = (((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / 4
    expected = stats.t.ppf(0.975, 4) * math.sqrt(pooled_var / 3)
    assert df == 4 and half == pytest.approx(expected, rel=1e-12)
    # a single row reduces to that row's own paired t interval
    alone = paired_difference(rows[1], [0.0, 0.0, 0.0])
    assert pooled_half_width([rows[1]])[0] == pytest.approx(alone.high - alone.mean, rel=1e-12)
    assert math.isnan(pooled_half_width([[0.3]])[0]) and pooled_half_width([])[1] == 0

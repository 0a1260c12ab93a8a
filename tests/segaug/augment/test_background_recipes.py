"""Recipes that target background reliance: Fill, independent draws, swaps; all replayable."""

from __future__ import annotations

import pytest
import torch

from segaug import Fill, RegionAugment, recipes
from segaug.augment.ops import ColorJitter


def _masks(n=6, size=32):
    m = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    m[:, :, 8:24, 8:24] = 1  # coverage 0.25
    return m


@pytest.mark.parametrize("mode", ["flat", "noise", "texture"])
def test_fill_replaces_the_background_and_leaves_the_object(photos, mode):
    x = photos[:, :, :32, :32].float() / 255
    m = _masks(4)
    aug = RegionAugment(
        foreground=[], background=[Fill(modes=(mode,), p=1.0)], fallback=[], geometric=False
    )
    out = aug(x, m)
    inside = m.bool().expand_as(x)
    assert torch.equal(out.images[inside], x[inside])  # object bit-identical
    bg = out.images.masked_fill(inside, float("nan"))
    assert not torch.allclose(torch.nan_to_num(bg), torch.nan_to_num(x.masked_fill(inside, 0)))
    outside = ~m[:, 0].bool()
    # variance over the background pixels, per sample and channel, the largest channel
    per_sample_var = torch.stack([out.images[i][:, outside[i]].var(dim=1).max() for i in range(4)])
    if mode == "flat":
        assert (per_sample_var < 1e-10).all()  # one colour per sample
    elif mode == "noise":
        assert (per_sample_var > 0.04).all()  # uniform noise: variance ~ 1/12
        step = (out.images[..., 1:] - out.images[..., :-1]).abs()
        bg_pairs = outside[:, None, :, 1:] & outside[:, None, :, :-1]
        assert step[bg_pairs.expand_as(step)].mean() > 0.2
    else:  # smooth blobs: varied, but neighbouring pixels nearly agree (unlike noise)
        assert (per_sample_var > 1e-3).all()
        step = (out.images[..., 1:] - out.images[..., :-1]).abs()
        bg_pairs = outside[:, None, :, 1:] & outside[:, None, :, :-1]
        assert step[bg_pairs.expand_as(step)].mean() < 0.06
    assert out.images.min() >= 0 and out.images.max() <= 1


def test_fill_probability_modes_and_errors():
    op = Fill(p=0.3)
    torch.manual_seed(0)
    p = op.draw(4000, (16, 16))
    assert abs(p["fire"].float().mean() - 0.3) < 0.03
    assert sorted(p["mode"].unique().tolist()) == [0, 1, 2]
    assert p["noise"].shape == (4000, 3, 16, 16) and p["noise"].dtype == torch.uint8
    assert Fill(noise_cells=8).draw(2, (224, 224))["noise"].shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match="modes must be a non-empty subset"):
        Fill(modes=("plaid",))
    with pytest.raises(ValueError, match="p must be a probability"):
        Fill(p=1.5)


def test_independent_recipe_draws_object_and_background_separately():
    aug = recipes.independent(output_size=32)
    torch.manual_seed(0)
    params = aug(torch.rand(64, 3, 32, 32), _masks(64)).params
    fg = params.foreground[0]  # ColorJitter draws of the object
    bg = params.background[0]  # and of the background
    assert not torch.equal(fg["brightness"], bg["brightness"])
    assert abs(torch.corrcoef(torch.stack([fg["brightness"], bg["brightness"]]))[0, 1]) < 0.4
    assert isinstance(aug.foreground[0], ColorJitter) and isinstance(aug.background[0], ColorJitter)


@pytest.mark.parametrize("name", ["independent", "independent_swap", "background_fill"])
def test_background_recipes_replay_exactly_and_keep_masks_aligned(name):
    aug = recipes.build(name, output_size=24)
    x = torch.rand(6, 3, 32, 32)
    m = _masks(6)
    torch.manual_seed(3)
    a = aug(x, m)
    b = aug(x, m, params=a.params)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert a.masks.shape == (6, 1, 24, 24) and not a.fallback.any()


def test_swap_gives_the_two_views_different_backgrounds():
    aug = recipes.independent_swap(output_size=32, p=1.0, crop_scale=(1.0, 1.0))
    aug.geometric.flip_p = 0.0
    for ops in (aug.foreground, aug.background):
        for op in ops:
            op.p = 0.0  # isolate the swap
    x = torch.arange(4).view(4, 1, 1, 1).expand(4, 3, 32, 32).float() / 4
    m = _masks(4)
    torch.manual_seed(0)
    v1, v2 = aug.pair(x, m)
    outside = ~m.bool().expand_as(x)
    for v in (v1, v2):
        donors = v.params.swap["donor"]
        assert (donors != torch.arange(4)).all()
        for i in range(4):
            assert torch.allclose(v.images[i][outside[i]], x[donors[i]][outside[i]])
            assert torch.equal(v.images[i][~outside[i]], x[i][~outside[i]])


def test_every_recipe_accepts_crop_scale():
    for name in recipes.names():
        aug = recipes.build(name, output_size=16, crop_scale=(0.3, 0.9))
        assert aug.geometric.scale == (0.3, 0.9), name


def test_background_fill_combines_with_swap_and_object_centred_crops():
    x = torch.arange(4).view(4, 1, 1, 1).expand(4, 3, 32, 32).float() / 4
    m = _masks(4)
    inside = m.bool().expand_as(x)

    def isolated(**kw):  # only the swap and the fill act: no jitter, no crop, no flip
        aug = recipes.background_fill(output_size=32, crop_scale=(1.0, 1.0), **kw)
        aug.geometric.flip_p = 0.0
        for op in [*aug.foreground, *aug.background[:-1]]:
            op.p = 0.0
        return aug

    torch.manual_seed(0)
    swapped = isolated(p=0.0, swap=1.0)(x, m)  # the swap alone: a foreign real background
    donors = swapped.params.swap["donor"]
    assert (donors != torch.arange(4)).all()
    for i in range(4):
        assert torch.equal(swapped.images[i][~inside[i]], x[donors[i]][~inside[i]])
        assert torch.equal(swapped.images[i][inside[i]], x[i][inside[i]])
    filled = isolated(p=1.0, swap=1.0, modes=("flat",))(x, m)  # the fill comes after the swap
    for i in range(4):
        bg = filled.images[i][~inside[i]].view(3, -1)
        assert (bg == bg[:, :1]).all() and torch.equal(filled.images[i][inside[i]], x[i][inside[i]])
        assert not torch.equal(bg[:, 0], x[donors[i], :, 0, 0])
    # object-centred crops: every small crop still shows the object
    small = torch.zeros(64, 1, 64, 64, dtype=torch.uint8)
    small[:, :, 40:52, 6:18] = 1  # 3.5% of the image, off centre
    aug = recipes.background_fill(
        output_size=16, crop_scale=(0.08, 0.1), coverage=(0.0, 1.0), object_centered=True
    )
    assert aug.geometric.object_centered
    out = aug(torch.rand(64, 3, 64, 64), small)
    assert (out.masks.flatten(1).sum(1) > 0).all()


# ------------------------------------------------- the donor's own object taken out
def _two_colour_batch(n=4, size=32):
    """Image i: background colour i/n everywhere, its object (a square at a row-specific
    place) in colour 1 - i/n; the masks mark the squares."""
    x = torch.empty(n, 3, size, size)
    m = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    for i in range(n):
        x[i] = i / n
        top = 2 + 5 * i
        x[i, :, top : top + 10, top : top + 10] = 1 - i / n
        m[i, :, top : top + 10, top : top + 10] = 1
    return x, m


def test_swap_donor_background_shows_the_donors_background_without_its_object():
    x, m = _two_colour_batch()
    aug = RegionAugment(
        foreground=[], background=[], fallback=[], geometric=False,
        background_swap=1.0, swap_donor="background", coverage=(0.0, 1.0),
    )  # fmt: skip
    torch.manual_seed(0)
    out = aug(x, m)
    donors = out.params.swap["donor"]
    assert (donors != torch.arange(4)).all()
    own = m.bool().expand_as(x)
    for i in range(4):
        # the own object keeps its pixels; everywhere else the donor's flat background,
        # also where the donor's object was (a constant background is filled exactly)
        assert torch.equal(out.images[i][own[i]], x[i][own[i]])
        bg = out.images[i][~own[i]]
        assert torch.allclose(bg, torch.full_like(bg, donors[i].item() / 4), atol=1e-6)
    # "image" (the default) keeps the donor's object in the swapped view
    torch.manual_seed(0)
    whole = RegionAugment(
        foreground=[], background=[], fallback=[], geometric=False,
        background_swap=1.0, coverage=(0.0, 1.0),
    )(x, m)  # fmt: skip
    assert torch.equal(whole.params.swap["donor"], donors)
    assert torch.equal(whole.images, torch.where(own, x, x[donors]))


def test_swap_donor_background_is_replayed_and_hidden_by_a_fill_of_every_background():
    x, m = _two_colour_batch(6)
    for p in (0.0, 1.0):
        torch.manual_seed(1)
        image = recipes.background_fill(output_size=24, p=p, swap=1.0, swap_donor="image")(x, m)
        torch.manual_seed(1)
        clean = recipes.background_fill(output_size=24, p=p, swap=1.0, swap_donor="background")
        out = clean(x, m)
        again = clean(x, m, params=out.params)
        assert torch.equal(out.images, again.images)
        # a fill of every background makes the donor's object irrelevant: same pixels
        assert torch.equal(out.images, image.images) == (p == 1.0)


def test_independent_swap_passes_swap_donor_and_refuses_an_unknown_one():
    default = recipes.independent_swap(output_size=16)  # the measured best: p 0.8, one object
    assert default.background_swap == 0.8 and default.swap_donor == "background"
    assert recipes.independent_swap(output_size=16, swap_donor="image").swap_donor == "image"
    assert recipes.background_fill(output_size=16, swap=0.5).swap_donor == "background"
    assert RegionAugment(output_size=16, background_swap=0.5).swap_donor == "image"
    with pytest.raises(ValueError, match="swap_donor must be one of"):
        RegionAugment(output_size=16, background_swap=0.5, swap_donor="inpaint")


def test_shared_donor_gives_every_swapped_view_of_a_batch_one_background():
    x, m = _two_colour_batch(6)
    own = m.bool().expand_as(x)
    drawn = set()
    for donor_mode in ("image", "background"):
        aug = RegionAugment(
            foreground=[], background=[], fallback=[], geometric=False, coverage=(0.0, 1.0),
            background_swap=1.0, swap_donor=donor_mode, shared_donor=True,
        )  # fmt: skip
        for seed in range(5):
            torch.manual_seed(seed)
            out = aug(x, m)
            donors = out.params.swap["donor"]
            shared = torch.mode(donors).values.item()
            drawn.add(shared)
            assert (donors != torch.arange(6)).all()  # no sample keeps its own background
            assert (donors == shared).sum() == 5 and donors[shared] == (shared + 1) % 6
            for i in range(6):
                assert torch.equal(out.images[i][own[i]], x[i][own[i]])
                if donor_mode == "image":  # the donor's view, own object and all
                    assert torch.equal(out.images[i][~own[i]], x[donors[i]][~own[i]])
                else:  # the donor's flat background, its object filled in
                    bg = out.images[i][~own[i]]
                    assert torch.allclose(bg, torch.full_like(bg, donors[i].item() / 6), atol=1e-6)
            assert torch.equal(aug(x, m, params=out.params).images, out.images)  # replayed
    assert len(drawn) > 2  # the shared donor is drawn anew each call
    for n, expected in ((2, [1, 0]), (1, [0])):  # the smallest batches: never the own row
        torch.manual_seed(0)
        small = aug(x[:n], m[:n])
        assert small.params.swap["donor"].tolist() == expected
        assert small.params.swap["fire"].all() == (n > 1)
    assert torch.equal(small.images, x[:1])  # a batch of one has nothing to swap with
    # the recipes pass it on; per-sample donors stay the default
    assert recipes.independent_swap(output_size=16, shared_donor=True).shared_donor
    assert recipes.background_fill(output_size=16, swap=1.0, shared_donor=True).shared_donor
    assert not recipes.independent_swap(output_size=16).shared_donor
    with pytest.raises(ValueError, match="shared_donor must be True or False, got 'yes'"):
        RegionAugment(output_size=16, background_swap=0.5, shared_donor="yes")


@pytest.mark.parametrize("shared_donor", [False, True])
def test_swap_donor_background_fills_each_donor_as_fill_holes_does(shared_donor):
    from segaug.augment.ops import fill_holes

    torch.manual_seed(0)
    x = torch.rand(16, 3, 24, 24)  # textured: the fill differs from donor to donor
    m = torch.zeros(16, 1, 24, 24)
    for i in range(16):
        m[i, :, i % 8 : i % 8 + 10, 4 + i % 5 : 14 + i % 5] = 1
    aug = RegionAugment(
        foreground=[], background=[], fallback=[], geometric=False, coverage=(0.0, 1.0),
        background_swap=1.0, swap_donor="background", shared_donor=shared_donor,
    )  # fmt: skip
    out = aug(x, m)
    donors = out.params.swap["donor"]
    assert len(set(donors.tolist())) < 16  # donors repeat: each is filled once, used often
    known = 1 - torch.nn.functional.max_pool2d(m[donors], 3, stride=1, padding=1)
    expected = torch.where(m.bool(), x, fill_holes(x[donors], known))
    assert torch.equal(out.images, expected)

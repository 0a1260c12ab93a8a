"""The seed-004 transform sets as recipes: lightly_baseline, orthogonality, lorot, dcl."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers.numerics import assert_close

from segaug import RegionAugment, recipes
from segaug.augment.geometry import (
    GeometrySequence,
    LocalRotation,
    RandomRotation,
    RandomVerticalFlip,
    RegionShuffle,
)
from segaug.augment.ops import ColorJitter, GaussianBlur, RandomGrayscale

SETS = ["lightly_baseline", "orthogonality", "lorot", "dcl"]


def _geometry_only(aug: RegionAugment) -> RegionAugment:
    return RegionAugment(foreground=[], background=[], fallback=[], geometric=aug.geometric)


@pytest.mark.parametrize("name", SETS)
def test_painted_object_stays_under_its_mask(photos, name):
    x = photos.float() / 255
    m = torch.zeros(4, 1, 64, 64)
    m[:, :, 14:50, 8:40] = 1
    for c, v in enumerate((0.0, 1.0, 0.0)):
        x[:, c][m[:, 0] == 1] = v
    # A permutation moves pixels of the object's blended edge into the object, so the
    # region ops get crops that keep the pixel grid (the crop + permutation composition
    # itself is checked against the sequential ops in test_geometry.py).
    local = name in ("lorot", "dcl")
    size, scale = (64, (1.0, 1.0)) if local else (48, (0.4, 1.0))
    aug = _geometry_only(recipes.build(name, output_size=size, crop_scale=scale))
    torch.manual_seed(2)
    for _ in range(4):
        out = aug(x, m)
        mo = out.masks
        assert set(torch.unique(mo).tolist()) <= {0.0, 1.0} and mo.sum() > 0
        inner = -F.max_pool2d(-F.pad(mo, (2, 2, 2, 2)), 5, 1)
        green = (out.images[:, 1] > 0.9) & (out.images[:, 0] < 0.1) & (out.images[:, 2] < 0.1)
        assert green[inner[:, 0] == 1].all()
        assert not green[F.max_pool2d(mo, 5, 1, 2)[:, 0] == 0].any()


@pytest.mark.parametrize("name", SETS)
def test_parameters_are_per_sample_and_replay_exactly(photos, center_masks, name):
    aug = recipes.build(name, output_size=32)
    torch.manual_seed(0)
    v1, v2 = aug.pair(photos, center_masks)
    r1, r2 = aug.pair(photos, center_masks, params=(v1.params, v2.params))
    for v, r in ((v1, r1), (v2, r2)):
        assert torch.equal(v.images, r.images) and torch.equal(v.masks, r.masks)
    assert not torch.equal(v1.images, v2.images)
    # Per-sample draws: the set-specific op's parameters differ across a batch.
    big = torch.rand(16, 3, 32, 32)
    p = aug.geometric.split(aug(big, torch.ones(16, 1, 32, 32)).params.geometry)[1]
    key = {"lightly_baseline": "fire", "orthogonality": "flip", "lorot": "box", "dcl": "src"}
    values = p[key[name]].flatten(1) if p[key[name]].ndim > 1 else p[key[name]][:, None]
    assert len({tuple(row.tolist()) for row in values}) > 1


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("lightly_baseline", {"rotation_p": 0.0}),
        ("lorot", {"p": 0.0}),
        ("lorot", {"turns": (0,)}),
        ("dcl", {"k": 0}),
        ("dcl", {"p": 0.0}),
    ],
)
def test_identity_settings_leave_pixels_unchanged(photos, center_masks, name, kwargs):
    aug = recipes.build(name, output_size=64, crop_scale=(1.0, 1.0), **kwargs)
    aug.geometric.ops[0].flip_p = 0.0  # the crop is the whole image, unflipped
    x = photos.float() / 255
    out = _geometry_only(aug)(x, center_masks)
    assert torch.equal(out.images, x) and torch.equal(out.masks, center_masks.float())


def test_orthogonality_flips_both_ways():
    aug = recipes.orthogonality(output_size=16, crop_scale=(1.0, 1.0))
    assert isinstance(aug.geometric, GeometrySequence)
    crop, vflip = aug.geometric.ops
    assert crop.flip_p == 0.5 and isinstance(vflip, RandomVerticalFlip) and vflip.p == 0.5
    x = torch.rand(64, 3, 16, 16, dtype=torch.float64)
    m = (torch.rand(64, 1, 16, 16) > 0.5).double()
    torch.manual_seed(0)
    out = _geometry_only(aug)(x, m)
    p = aug.geometric.split(out.params.geometry)
    h, v = p[0]["flip"], p[1]["flip"]
    assert {(bool(a), bool(b)) for a, b in zip(h, v, strict=True)} == {
        (False, False),
        (False, True),
        (True, False),
        (True, True),
    }
    for i in range(64):
        ref, ref_m = x[i], m[i]
        if h[i]:
            ref, ref_m = ref.flip(-1), ref_m.flip(-1)
        if v[i]:
            ref, ref_m = ref.flip(-2), ref_m.flip(-2)
        assert_close(out.images[i], ref)
        assert torch.equal(out.masks[i], ref_m)


def test_lightly_baseline_has_lightly_defaults():
    aug = recipes.lightly_baseline(output_size=96)
    assert not aug.region and len(aug.foreground) == len(aug.background) == 0
    cj, gray, blur = aug.fallback
    assert isinstance(cj, ColorJitter) and cj.p == 0.8
    assert cj.brightness == pytest.approx((0.2, 1.8)) and cj.hue == pytest.approx((-0.2, 0.2))
    assert isinstance(gray, RandomGrayscale) and gray.p == 0.2
    assert isinstance(blur, GaussianBlur) and blur.p == 0.5 and blur.sigma == (0.1, 2.0)
    crop, rot = aug.geometric.ops
    assert crop.scale == (0.08, 1.0) and crop.flip_p == 0.5
    assert isinstance(rot, RandomRotation) and rot.turns == (1,) and rot.p == 0.5
    assert recipes.lightly_baseline(output_size=32).fallback[-1].__class__ is RandomGrayscale


def test_lorot_rotates_only_inside_the_chosen_square():
    aug = recipes.lorot(output_size=32, crop_scale=(1.0, 1.0))
    aug.geometric.ops[0].flip_p = 0.0
    op = aug.geometric.ops[1]
    assert isinstance(op, LocalRotation) and op.size == (0.25, 0.5)
    torch.manual_seed(4)
    x = torch.rand(12, 3, 32, 32, dtype=torch.float64)
    m = (torch.rand(12, 1, 32, 32) > 0.5).double()
    out = _geometry_only(aug)(x, m)
    p = aug.geometric.split(out.params.geometry)[1]
    assert len(set(p["k"].tolist())) > 1 and set(p["k"].tolist()) <= {1, 2, 3}
    for i in range(12):
        x0, y0, s = p["box"][i].tolist()
        assert 8 <= s <= 16
        k = int(p["k"][i])
        ref, ref_m = x[i].clone(), m[i].clone()
        ref[:, y0 : y0 + s, x0 : x0 + s] = torch.rot90(x[i, :, y0 : y0 + s, x0 : x0 + s], k, (1, 2))
        ref_m[:, y0 : y0 + s, x0 : x0 + s] = torch.rot90(
            m[i, :, y0 : y0 + s, x0 : x0 + s], k, (1, 2)
        )
        assert_close(out.images[i], ref)
        assert torch.equal(out.masks[i], ref_m)
        outside = torch.ones(32, 32, dtype=torch.bool)
        outside[y0 : y0 + s, x0 : x0 + s] = False
        assert_close(out.images[i][:, outside], x[i][:, outside])


def test_dcl_permutes_whole_cells_within_the_displacement_bound():
    aug = recipes.dcl(output_size=30, crop_scale=(1.0, 1.0))  # 7 x 4 px cells + 2 px rest
    aug.geometric.ops[0].flip_p = 0.0
    op = aug.geometric.ops[1]
    assert isinstance(op, RegionShuffle) and (op.grid, op.k) == (7, 2)
    n, g, c = 8, 7, 4
    x = torch.arange(n * 3 * 30 * 30, dtype=torch.float64).reshape(n, 3, 30, 30) / (n * 2700)
    m = (torch.rand(n, 1, 30, 30) > 0.5).double()
    torch.manual_seed(1)
    out = _geometry_only(aug)(x, m)
    src = aug.geometric.split(out.params.geometry)[1]["src"]
    ident = op.identity_cells(n)
    assert (src - ident).abs().max() <= 2 * op.k - 1  # DCL: |sigma(i) - i| < 2k
    assert (src != ident).any(dim=(1, 2, 3)).all()  # every sample shuffled...
    assert len({tuple(s.flatten().tolist()) for s in src}) == n  # ...in its own way
    for i in range(n):
        cells = src[i].reshape(-1, 2)
        assert len({tuple(rc) for rc in cells.tolist()}) == g * g  # a permutation
        for r in range(g):
            for col in range(g):
                sr, sc = src[i, r, col].tolist()
                o = (slice(r * c, r * c + c), slice(col * c, col * c + c))
                s = (slice(sr * c, sr * c + c), slice(sc * c, sc * c + c))
                assert_close(out.images[i][:, o[0], o[1]], x[i][:, s[0], s[1]])
                assert torch.equal(out.masks[i][:, o[0], o[1]], m[i][:, s[0], s[1]])
    assert_close(out.images[..., 28:, :], x[..., 28:, :])  # the rest stays in place
    assert_close(out.images[..., 28:], x[..., 28:])


@pytest.mark.parametrize("name", SETS)
def test_region_variant_uses_the_thesis_ops_with_the_same_geometry(photos, center_masks, name):
    aug = recipes.build(name, output_size=32, region=True)
    assert aug.region and len(aug.foreground) == 1 and isinstance(aug.geometric, GeometrySequence)
    v = aug(photos, center_masks)
    assert not v.fallback.any() and v.images.shape == (4, 3, 32, 32)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: recipes.lorot(size=(0.5, 0.25)), "size must be"),
        (lambda: recipes.dcl(grid=0), "grid must be a positive int"),
        (lambda: recipes.dcl(k=-2), "k must be a non-negative int"),
        (lambda: recipes.lightly_baseline(rotation_p=2.0), "p must be a probability"),
        (lambda: recipes.orthogonality(vertical_flip_p=-1.0), "p must be a probability"),
    ],
)
def test_bad_recipe_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()

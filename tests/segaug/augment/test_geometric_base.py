"""GeometricOp's coin: the base draws it once, subclasses only sample and build a map."""

from __future__ import annotations

from dataclasses import replace

import kornia.augmentation as K
import pytest
import torch
from helpers.numerics import assert_close

from segaug import RegionAugment
from segaug.augment.geometry import (
    GeometricOp,
    KorniaGeometric,
    LocalRotation,
    RandomAffine,
    RandomHorizontalFlip,
    RandomResizedCropFlip,
    RandomRotation,
    RandomVerticalFlip,
    RegionShuffle,
)
from segaug.augment.ops import ColorJitter


class Shift(GeometricOp):
    """Move a sample right by 1-3 px: a whole op is a sampler and a matrix builder."""

    def sample(self, n, size, fg_boxes=None):
        return {"dx": torch.randint(1, 4, (n,))}

    def matrix(self, params, size):
        m = torch.eye(3, dtype=torch.float64).repeat(len(params["dx"]), 1, 1)
        m[:, 0, 2] = params["dx"].double()
        return m


# Ops with a coin; each changes every row it fires on (a non-zero angle, a quarter turn, a
# square of at least 8 px, a shift of at least 1 px), except DCL, whose shuffle may leave
# a sample as it was.
COIN_OPS = {
    "hflip": lambda p: RandomHorizontalFlip(p=p),
    "vflip": lambda p: RandomVerticalFlip(p=p),
    "rotation": lambda p: RandomRotation(degrees=(10.0, 30.0), p=p),
    "quarter_turns": lambda p: RandomRotation(turns=(1, 2, 3), p=p),
    "affine": lambda p: RandomAffine(degrees=(5.0, 20.0), translate=(0.1, 0.1), shear=8, p=p),
    "lorot": lambda p: LocalRotation(p=p),
    "dcl": lambda p: RegionShuffle(grid=4, k=2, p=p),
    "shift": lambda p: Shift(p=p),
}


def _bare(geometric) -> RegionAugment:
    return RegionAugment(foreground=[], background=[], fallback=[], geometric=geometric)


def _batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.rand(n, 3, 32, 32)
    m = (torch.rand(n, 1, 32, 32) > 0.5).float()
    return x, m


@pytest.mark.parametrize("name", list(COIN_OPS))
def test_p0_leaves_images_and_masks_untouched_and_no_parameter_reaches_them(name):
    op = COIN_OPS[name](0.0)
    x, m = _batch()
    params = op.draw(6, (32, 32))
    assert not op.fires(params).any()
    assert not op.moves(params, (32, 32)).any()
    fired = op.fired_matrix(params, (32, 32))
    if fired is not None:  # a matrix op: the engine composes the identity on every row
        assert torch.equal(fired, torch.eye(3, dtype=torch.float64).expand(6, 3, 3))
    y, ym = op.apply(x, m, params)
    assert torch.equal(y, x) and torch.equal(ym, m)
    out = _bare(op)(x, m)
    assert torch.equal(out.images, x) and torch.equal(out.masks, m)


@pytest.mark.parametrize("name", list(COIN_OPS))
def test_p1_fires_on_every_row(name):
    op = COIN_OPS[name](1.0)
    x, m = _batch()
    torch.manual_seed(1)
    params = op.draw(6, (32, 32))
    assert op.fires(params).all()
    assert torch.equal(op.moves(params, (32, 32)), op.changes(params, (32, 32)))
    if name != "dcl":
        assert op.moves(params, (32, 32)).all()
        y, _ = op.apply(x, m, params)
        assert all(not torch.equal(y[i], x[i]) for i in range(6))


@pytest.mark.parametrize("name", list(COIN_OPS))
def test_the_coin_is_one_draw_after_the_ops_own_parameters(name):
    # The order the geometric ops always drew in: the parameters for every row, then the
    # coin; so seeded runs keep their numbers.
    op = COIN_OPS[name](0.5)
    torch.manual_seed(3)
    params = op.draw(8, (32, 32))
    after = torch.rand(3)
    torch.manual_seed(3)
    expected = op.sample(8, (32, 32))
    expected[op.fire_key] = torch.rand(8) < 0.5
    assert list(params) == list(expected)
    assert all(torch.equal(params[k], expected[k]) for k in expected)
    assert torch.equal(torch.rand(3), after)


def test_a_custom_op_with_only_a_sampler_and_a_matrix_runs_through_region_augment():
    x, m = _batch(8)
    aug = _bare(Shift(p=0.5))
    torch.manual_seed(2)
    out = aug(x, m)
    p = out.params.geometry
    assert sorted(p) == ["dx", "fire"]
    fire = p["fire"]
    assert fire.any() and not fire.all()
    for i in range(8):
        if not fire[i]:
            assert torch.equal(out.images[i], x[i]) and torch.equal(out.masks[i], m[i])
            continue
        dx = int(p["dx"][i])
        assert_close(out.images[i][..., dx:], x[i][..., :-dx])
        assert torch.equal(out.masks[i][..., dx:], m[i][..., :-dx])
        assert (out.images[i][..., :dx] == 0).all() and (out.masks[i][..., :dx] == 0).all()
    replay = aug(x, m, params=out.params)
    assert torch.equal(replay.images, out.images) and torch.equal(replay.masks, out.masks)


def test_a_custom_op_composes_with_the_crop_and_the_photometric_ops():
    x, m = _batch(4)
    crop = RandomResizedCropFlip(16, scale=(0.5, 1.0))
    aug = RegionAugment(geometric=[crop, Shift()])
    torch.manual_seed(4)
    v1, v2 = aug.pair(x, m)
    assert v1.images.shape == v2.images.shape == (4, 3, 16, 16)
    assert v1.params.geometry["1.fire"].all()
    r1, r2 = aug.pair(x, m, params=(v1.params, v2.params))
    assert torch.equal(r1.images, v1.images) and torch.equal(r2.masks, v2.masks)
    # Where the shift does not fire, the view is the crop's alone.
    g = v1.params.geometry
    unshifted = replace(v1.params, geometry={**g, "1.fire": torch.zeros(4, dtype=torch.bool)})
    crop_only = replace(v1.params, geometry={"boxes": g["0.boxes"], "flip": g["0.flip"]})
    a = aug(x, m, params=unshifted)
    b = RegionAugment(geometric=crop)(x, m, params=crop_only)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert not torch.equal(a.masks, v1.masks)


def test_ops_without_a_coin_of_their_own_fire_on_every_row():
    crop = RandomResizedCropFlip(16)
    params = crop.draw(5, (32, 32))
    assert sorted(params) == ["boxes", "flip"] and crop.fires(params).all() and crop.p == 1.0
    kornia_op = KorniaGeometric(K.RandomAffine(10.0, p=0.3))
    assert kornia_op.p == 0.3 and "fire" in kornia_op.draw(5, (32, 32))
    flip = RandomVerticalFlip(p=0.5)  # the flips record their coin as their flip
    assert list(flip.draw(5, (32, 32))) == ["flip"]


def test_both_bases_validate_p_and_record_fire_alike():
    for make in (Shift, ColorJitter):
        with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 1.5"):
            make(p=1.5)
        with pytest.raises(ValueError, match="p must be a probability"):
            make(p=True)
    torch.manual_seed(5)
    geometric, photometric = Shift(p=0.25).draw(4, (8, 8)), ColorJitter(p=0.25).draw(4, (8, 8))
    assert geometric["fire"].dtype == photometric["fire"].dtype == torch.bool

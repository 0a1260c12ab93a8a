"""Geometric ops as a protocol: alignment, one composed resampling, kornia, identity, errors."""

from __future__ import annotations

import kornia.augmentation as K
import pytest
import torch
import torch.nn.functional as F
from helpers.numerics import assert_close

from segaug import RegionAugment
from segaug.augment.geometry import (
    GeometrySequence,
    KorniaGeometric,
    LocalRotation,
    RandomAffine,
    RandomHorizontalFlip,
    RandomResizedCropFlip,
    RandomRotation,
    RandomVerticalFlip,
    RegionShuffle,
)

OPS = {
    "crop_flip": lambda: RandomResizedCropFlip(48, scale=(0.3, 1.0)),
    "hflip": lambda: RandomHorizontalFlip(p=1.0),
    "vflip": lambda: RandomVerticalFlip(p=1.0),
    "rotation": lambda: RandomRotation(degrees=40),
    "quarter_turns": lambda: RandomRotation(turns=(1, 2, 3)),
    "affine": lambda: RandomAffine(degrees=20, translate=(0.1, 0.1), scale=(0.8, 1.2), shear=8),
    "kornia_affine": lambda: K.RandomAffine(25, (0.1, 0.1), (0.9, 1.1), 5, p=1.0),
    "kornia_perspective": lambda: K.RandomPerspective(0.4, p=1.0),
    "lorot": lambda: LocalRotation(),
    "dcl": lambda: RegionShuffle(grid=4, k=2),
    "crop_rot_vflip": lambda: [
        RandomResizedCropFlip(48, scale=(0.3, 1.0)),
        RandomRotation(degrees=30),
        RandomVerticalFlip(),
    ],
    "rot_lorot_crop_dcl": lambda: [
        RandomRotation(turns=(1,)),
        LocalRotation(),
        RandomResizedCropFlip(48, scale=(0.5, 1.0)),
        RegionShuffle(grid=6, k=1),
    ],
}


def _bare(geometric) -> RegionAugment:
    return RegionAugment(foreground=[], background=[], fallback=[], geometric=geometric)


def _painted(photos):
    # A pure-green object on real photos (none of them has saturated green there).
    x = photos.float() / 255
    m = torch.zeros(4, 1, 64, 64)
    m[:, :, 20:44, 10:30] = 1
    for c, v in enumerate((0.0, 1.0, 0.0)):
        x[:, c][m[:, 0] == 1] = v
    return x, m


@pytest.mark.parametrize("name", list(OPS))
def test_painted_object_stays_under_its_mask(photos, name):
    x, m = _painted(photos)
    aug = _bare(OPS[name]())
    torch.manual_seed(5)
    for _ in range(4):
        out = aug(x, m)
        mo = out.masks
        assert set(torch.unique(mo).tolist()) <= {0.0, 1.0}
        assert mo.sum() > 0
        # Stay clear of interpolation at the edge (nearest vs bilinear, rotated edges).
        inner = -F.max_pool2d(-F.pad(mo, (2, 2, 2, 2)), 5, 1)  # (the frame counts as out)
        green = (out.images[:, 1] > 0.9) & (out.images[:, 0] < 0.1) & (out.images[:, 2] < 0.1)
        assert green[inner[:, 0] == 1].all(), name
        outer = F.max_pool2d(mo, 5, 1, 2)
        assert not green[outer[:, 0] == 0].any(), name


def _sequential(seq: GeometrySequence, x, m, params):
    for op, p in zip(seq.ops, seq.split(params), strict=True):
        x, m = op.apply(x, m, p)
    return x, m


def test_one_resampling_equals_the_ops_one_after_another_for_pixel_permutations():
    # After the crop every op maps pixel centres to pixel centres, so applying the ops one
    # by one interpolates once too: the single composed resampling must agree exactly.
    seq = GeometrySequence(
        [
            RandomResizedCropFlip(24, scale=(0.3, 1.0)),
            RandomVerticalFlip(),
            RandomRotation(turns=(0, 1, 2, 3)),
            RegionShuffle(grid=4, k=2),
            LocalRotation(),
        ]
    )
    torch.manual_seed(0)
    x = torch.rand(6, 3, 40, 40, dtype=torch.float64)
    m = (torch.rand(6, 1, 40, 40) > 0.5).double()
    params = seq.draw(6, (40, 40))
    # 30 px boxes onto 24 px: no source point falls half-way between two pixels, where
    # nearest sampling would break the tie by rounding noise.
    params["0.boxes"][:, 2:] = 30
    params["0.boxes"][:, :2] = params["0.boxes"][:, :2].clamp(max=10)
    y, ym = seq.apply(x, m, params)
    z, zm = _sequential(seq, x, m, params)
    assert_close(y, z)
    assert torch.equal(ym, zm)
    assert seq.moves(params, (40, 40)).all()


def test_one_resampling_matches_sequential_ops_within_interpolation():
    # Smooth image: resampling twice (sequential) differs from once (composed) only by
    # interpolation, compared where both read inside the image.
    seq = GeometrySequence(
        [
            RandomAffine(degrees=20, translate=(0.05, 0.05), scale=(0.9, 1.1)),
            RandomResizedCropFlip(48, scale=(0.4, 0.8)),
            RandomRotation(degrees=25),
        ]
    )
    torch.manual_seed(1)
    x = F.interpolate(torch.rand(4, 3, 8, 8, dtype=torch.float64), size=64, mode="bicubic")
    x = x.clamp(0, 1)
    ones = torch.ones(4, 1, 64, 64, dtype=torch.float64)
    params = seq.draw(4, (64, 64))
    y, ym = seq.apply(x, ones, params)
    z, zm = _sequential(seq, x, ones, params)
    both = (-F.max_pool2d(-(ym * zm), 5, 1, 2)).bool()
    both[..., :2, :] = both[..., -2:, :] = False  # the sequential ops clamp at each border
    both[..., :2] = both[..., -2:] = False
    both = both.expand_as(y)
    assert both.float().mean() > 0.3
    diff = (y - z)[both].abs()
    assert diff.mean() < 0.01 and diff.max() < 0.08
    # ... and the composition is not trivially the identity
    assert (y - F.interpolate(x, size=48, mode="bilinear")).abs().mean() > 0.02


@pytest.mark.parametrize(
    "module",
    [
        K.RandomAffine(20, (0.1, 0.1), (0.9, 1.1), 5, p=0.7),
        K.RandomRotation(35.0, p=1.0),
        K.RandomPerspective(0.4, p=1.0),
        K.RandomVerticalFlip(p=0.5),
        K.RandomResizedCrop((24, 24), scale=(0.3, 1.0)),
    ],
    ids=["affine", "rotation", "perspective", "vflip", "resized_crop"],
)
def test_kornia_adapter_matches_kornia_output(module):
    torch.manual_seed(0)
    x = torch.rand(5, 3, 32, 32)
    op = KorniaGeometric(module)
    torch.manual_seed(7)
    params = op.draw(5, (32, 32))
    torch.manual_seed(7)
    ref = module(x)  # the same sampler on the same generator state
    assert_close(params["matrix"].float(), module.transform_matrix)
    y, _ = op.apply(x, torch.ones(5, 1, 32, 32), params)
    assert y.shape == ref.shape
    # kornia pads with zeros, the engine clamps within the image: compare wherever the
    # bilinear footprint lies inside the image (source between the outer pixel centres).
    grid = op.grid(params, (32, 32), x.device, x.dtype)
    inside = (grid.abs() <= 1 - 1 / 32).all(dim=-1)[:, None].expand_as(y)
    assert inside.float().mean() > 0.5
    assert_close(y[inside], ref[inside], scale=1.0)
    outside = (grid.abs() > 1).any(dim=-1)[:, None].expand_as(y)
    assert (y[outside] == 0).all()


@pytest.mark.parametrize(
    "geometric",
    [
        [],
        False,
        [RandomResizedCropFlip(32, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0)],
        [RandomRotation(degrees=0.0), RandomVerticalFlip(p=0.0)],
        [RegionShuffle(grid=4, k=0), LocalRotation(p=0.0), LocalRotation(turns=(0,))],
        [RandomAffine(degrees=0.0, p=1.0), K.RandomAffine(30.0, p=0.0)],
    ],
    ids=["empty", "false", "full_crop", "zero_rotation", "no_shuffle", "affine_off"],
)
def test_identity_geometry_leaves_pixels_bit_identical(photos, center_masks, geometric):
    x = photos[:, :, :32, :32].float() / 255
    m = center_masks[:, :, :32, :32]
    out = _bare(geometric)(x, m)
    assert torch.equal(out.images, x)
    assert torch.equal(out.masks, m.float())
    assert out.images.data_ptr() != x.data_ptr()


def test_geometry_list_params_are_seeded_inspectable_and_replayable(photos, center_masks):
    aug = _bare([RandomResizedCropFlip(32), RandomRotation(degrees=30), RegionShuffle(grid=4)])
    torch.manual_seed(3)
    v = aug(photos, center_masks)
    torch.manual_seed(3)
    again = aug(photos, center_masks)
    assert torch.equal(v.images, again.images)
    p = v.params.geometry
    assert p["0.boxes"].shape == (4, 4) and p["1.angle"].shape == (4,)
    assert p["2.src"].shape == (4, 4, 4, 2)
    assert len(set(p["1.angle"].tolist())) == 4  # per-sample angles
    replay = aug(photos, center_masks, params=v.params)  # a different generator state
    assert torch.equal(v.images, replay.images) and torch.equal(v.masks, replay.masks)
    assert aug.geometric.split(p)[1]["angle"] is p["1.angle"]


def test_quarter_turns_and_flips_match_torch():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 9, 9, dtype=torch.float64)
    m = (torch.rand(4, 1, 9, 9) > 0.5).double()
    op = RandomRotation(turns=(0, 1, 2, 3))
    p = op.draw(4, (9, 9))
    y, ym = op.apply(x, m, p)
    for i, angle in enumerate(p["angle"].tolist()):
        k = int(angle) // 90
        assert_close(y[i], torch.rot90(x[i], k, dims=(-2, -1)))
        assert torch.equal(ym[i], torch.rot90(m[i], k, dims=(-2, -1)))
    v, vm = RandomVerticalFlip(p=1.0).apply(x, m, {"flip": torch.ones(4, dtype=torch.bool)})
    assert_close(v, x.flip(-2))
    assert torch.equal(vm, m.flip(-2))


def test_rotation_leaves_outside_corners_empty_in_image_and_mask():
    x = torch.ones(1, 3, 32, 32)
    m = torch.ones(1, 1, 32, 32)
    op = RandomRotation(degrees=(45.0, 45.0))
    y, ym = op.apply(x, m, op.draw(1, (32, 32)))
    assert y[0, :, 0, 0].eq(0).all() and ym[0, 0, 0, 0] == 0  # corners come from outside
    assert y[0, :, 16, 16].eq(1).all() and ym[0, 0, 16, 16] == 1


def test_kornia_geometric_modules_are_accepted_directly_and_in_lists(photos, center_masks):
    aug = _bare([K.RandomHorizontalFlip(p=1.0), RandomVerticalFlip(p=1.0)])
    out = aug(photos, center_masks)
    assert_close(out.images, (photos.float() / 255).flip(-1).flip(-2))
    assert isinstance(_bare(K.RandomRotation(10.0)).geometric, KorniaGeometric)


def test_local_crop_of_a_geometry_list_keeps_the_other_ops():
    from simclr.methods import ViewSpec
    from simclr.train import build_local_augment

    aug = RegionAugment(
        geometric=[RandomResizedCropFlip(16, scale=(0.3, 0.9)), RandomVerticalFlip(p=0.3)]
    )
    local = build_local_augment(aug, ViewSpec(local_views=1, local_size=8), 16)
    crop, flip = local.geometric.ops
    assert crop.output_size == (8, 8) and isinstance(flip, RandomVerticalFlip) and flip.p == 0.3
    assert aug.geometric.output_size == (16, 16) and aug.geometric.scale == (0.3, 0.9)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: _bare([RandomVerticalFlip(), "rotate"]), r"geometric\[1\] must be"),
        (lambda: _bare({"op": RandomVerticalFlip()}), "geometric must be"),
        (lambda: _bare([K.ColorJitter(0.1)]), r"geometric\[0\]: module must be"),
        (
            lambda: _bare([RandomVerticalFlip(), RandomResizedCropFlip(8, object_centered=True)]),
            r"geometric\[1\] is object-centred",
        ),
        (
            lambda: RegionAugment(geometric=[RandomResizedCropFlip(16)], output_size=32),
            "output_size=32 conflicts",
        ),
        (lambda: RandomRotation(), "give exactly one of degrees and turns"),
        (lambda: RandomRotation(degrees=(10, -10)), "degrees must be"),
        (lambda: RandomRotation(turns=()), "turns must be"),
        (lambda: RandomVerticalFlip(p=1.5), "p must be a probability"),
        (lambda: RandomAffine(translate=(2.0, 0.0)), "translate must be"),
        (lambda: RandomAffine(scale=(0.0, 1.0)), "scale must be"),
        (lambda: LocalRotation(size=(0.6, 0.5)), "size must be"),
        (lambda: RegionShuffle(grid=0), "grid must be a positive int, got 0"),
        (lambda: RegionShuffle(k=-1), "k must be a non-negative int, got -1"),
        (lambda: RegionShuffle(grid=8).draw(2, (4, 4)), "grid=8"),
        (lambda: KorniaGeometric(K.ColorJitter(0.1)), "module must be a kornia geometric"),
        (lambda: RandomResizedCropFlip(0), "output_size must be"),
    ],
)
def test_bad_geometry_input_raises_value_error_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_geometry_list_on_cuda_matches_cpu(photos, center_masks):
    aug = _bare(
        [
            RandomResizedCropFlip(48, scale=(0.3, 1.0)),
            RandomRotation(degrees=30),
            K.RandomAffine(10.0, p=0.5),
            LocalRotation(),
            RegionShuffle(grid=4),
        ]
    )
    torch.manual_seed(11)
    cpu = aug(photos, center_masks)
    cuda = aug(photos.cuda(), center_masks.cuda(), params=cpu.params)
    assert cuda.images.device.type == "cuda"
    assert_close(cuda.images.cpu(), cpu.images, factor=10)  # CUDA kernels round differently
    assert (cuda.masks.cpu() != cpu.masks).float().mean() < 0.01  # nearest: rare ties

"""RegionAugment: region invariants, fallback, alignment, dtypes, determinism, replay, errors."""

from __future__ import annotations

import pytest
import torch
from helpers.numerics import assert_close
from torchvision import tv_tensors

from segaug import AugmentedBatch, ColorJitter, GaussianBlur, RandomGrayscale, RegionAugment
from segaug.augment.geometry import RandomResizedCropFlip


def _identity_geometry(**kwargs) -> RegionAugment:
    return RegionAugment(geometric=False, **kwargs)


def _strong_jitter() -> ColorJitter:
    return ColorJitter(0.8, 0.8, 0.8, 0.2, p=1.0)


# ----------------------------------------------------------------- region invariants
def test_foreground_only_transform_leaves_background_bit_identical(photos, center_masks, device):
    x = photos.to(device).float() / 255
    m = center_masks.to(device)
    aug = _identity_geometry(foreground=[_strong_jitter()], background=[], fallback=[])
    out = aug(x, m)
    bg = (m == 0).expand_as(x)
    fg = (m == 1).expand_as(x)
    assert torch.equal(out.images[bg], x[bg])
    # and the foreground really changed
    assert (out.images[fg] - x[fg]).abs().max() > 0.05
    assert not out.fallback.any()


def test_background_only_transform_leaves_foreground_bit_identical(photos, center_masks, device):
    x = photos.to(device).float() / 255
    m = center_masks.to(device)
    aug = _identity_geometry(
        foreground=[], background=[GaussianBlur(p=1.0), RandomGrayscale(p=1.0)], fallback=[]
    )
    out = aug(x, m)
    fg = (m == 1).expand_as(x)
    bg = (m == 0).expand_as(x)
    assert torch.equal(out.images[fg], x[fg])
    # background is gray: the three channels agree
    o = out.images
    assert torch.allclose(o[:, 0][bg[:, 0]], o[:, 1][bg[:, 1]], atol=1e-6)
    assert not torch.allclose(x[bg], o[bg])


@pytest.mark.parametrize("wrap", [lambda t: t, tv_tensors.Image], ids=["tensor", "tv_image"])
def test_input_tensor_is_not_modified(photos, center_masks, wrap):
    x = wrap(photos.float() / 255)
    before = x.clone()
    # p=0.5: ops fire on some rows only, which are written back in place
    aug = _identity_geometry(
        foreground=[ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.5)], background=[RandomGrayscale(p=0.5)]
    )
    torch.manual_seed(0)
    for _ in range(3):
        aug(x, center_masks)
        aug.pair(x, center_masks)
    assert torch.equal(x.as_subclass(torch.Tensor), before.as_subclass(torch.Tensor))


# ----------------------------------------------------------------- fallback
def test_exactly_out_of_range_samples_fall_back_and_get_the_fallback_pipeline(photos):
    x = photos.float() / 255
    m = torch.zeros(4, 1, 64, 64)
    m[0, :, :2, :] = 1  # 2 rows of 64: coverage 0.03125 < 0.05 -> fallback
    m[1, :, 16:48, 16:48] = 1  # 0.25 -> region
    m[2] = 1
    m[2, :, :3, :] = 0  # 61/64 = 0.953 > 0.90 -> fallback
    m[3, :, :, :32] = 1  # 0.5 -> region
    aug = _identity_geometry(
        foreground=[], background=[], fallback=[RandomGrayscale(p=1.0)], coverage=(0.05, 0.90)
    )
    out = aug(x, m)
    assert out.fallback.tolist() == [True, False, True, False]
    assert torch.allclose(out.coverage, m.mean(dim=(1, 2, 3)))
    for i in (0, 2):  # fallback rows: grayscale everywhere
        assert torch.allclose(out.images[i, 0], out.images[i, 2], atol=1e-6)
    for i in (1, 3):  # region rows with no region ops: untouched
        assert torch.equal(out.images[i], x[i])


def test_coverage_thresholds_are_inclusive():
    x = torch.rand(3, 3, 20, 20)
    m = torch.zeros(3, 1, 20, 20)
    m[0].view(-1)[:20] = 1  # exactly 0.05
    m[1].view(-1)[:360] = 1  # exactly 0.90
    m[2].view(-1)[:361] = 1  # just above 0.90
    out = _identity_geometry(foreground=[], background=[], fallback=[])(x, m)
    assert out.fallback.tolist() == [False, False, True]


def test_mixed_batch_each_row_gets_its_own_pipeline(photos, center_masks):
    # float64: the blur over a row subset reduces in another order than over the batch
    x = photos.double() / 255
    m = center_masks.clone()
    m[1] = 0  # empty mask -> fallback
    aug = _identity_geometry(
        foreground=[_strong_jitter()],
        background=[RandomGrayscale(p=1.0)],
        fallback=[GaussianBlur(p=1.0)],
    )
    torch.manual_seed(0)
    out = aug(x, m)
    assert out.fallback.tolist() == [False, True, False, False]
    # The same rows run alone give the same result as inside the mixed batch.
    torch.manual_seed(0)
    params = aug(x, m).params
    for rows in ([0, 2, 3], [1]):
        sub = aug(x[rows], m[rows])
        sub_params = sub.params
        replayed = aug(x[rows], m[rows], params=_select(params, rows, sub_params))
        assert_close(replayed.images, out.images[rows], msg=f"rows {rows}")


def _select(params, rows, like):
    """Restrict AugmentParams to some rows (test helper for the mixed-batch check)."""
    import copy

    p = copy.deepcopy(like)
    idx = torch.tensor(rows)
    for name in ("foreground", "background", "fallback"):
        setattr(p, name, [{k: v[idx] for k, v in d.items()} for d in getattr(params, name)])
    return p


# ----------------------------------------------------------------- geometry and alignment
def test_mask_stays_aligned_with_object_after_crop_and_flip(photos):
    # Paint a pure-green square on real photos (none of them has saturated green there)
    x = photos.float() / 255
    m = torch.zeros(4, 1, 64, 64)
    m[:, :, 20:44, 10:30] = 1
    x[:, 0][m[:, 0] == 1] = 0.0
    x[:, 1][m[:, 0] == 1] = 1.0
    x[:, 2][m[:, 0] == 1] = 0.0
    aug = RegionAugment(
        foreground=[],
        background=[],
        fallback=[],
        geometric=RandomResizedCropFlip(48, scale=(0.3, 1.0), flip_p=0.5),
    )
    torch.manual_seed(3)
    for _ in range(5):
        out = aug(x, m)
        mo = out.masks
        assert set(torch.unique(mo).tolist()) <= {0.0, 1.0}
        # Erode the transformed mask by one pixel to stay clear of interpolation at edges.
        inner = -torch.nn.functional.max_pool2d(-mo, 3, 1, 1)
        green = (out.images[:, 1] > 0.9) & (out.images[:, 0] < 0.1) & (out.images[:, 2] < 0.1)
        assert green[inner[:, 0] == 1].all()
        # Outside the dilated mask there is no pure green.
        outer = torch.nn.functional.max_pool2d(mo, 3, 1, 1)
        assert not green[outer[:, 0] == 0].any()


def test_flip_mirrors_image_and_mask():
    x = torch.rand(2, 3, 16, 16)
    m = torch.zeros(2, 1, 16, 16)
    m[:, :, 4:12, 0:5] = 1
    geo = RandomResizedCropFlip(16, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=1.0)
    aug = RegionAugment(foreground=[], background=[], fallback=[], geometric=geo)
    out = aug(x, m)
    assert torch.equal(out.masks, m.flip(-1))
    assert torch.allclose(out.images, x.flip(-1), atol=1e-6)


def test_geometry_boxes_respect_scale_and_bounds():
    geo = RandomResizedCropFlip(32, scale=(0.2, 0.6))
    torch.manual_seed(0)
    p = geo.draw(500, (40, 50))
    x0, y0, w, h = p["boxes"].unbind(1)
    assert (x0 >= 0).all() and (y0 >= 0).all()
    assert (x0 + w <= 50).all() and (y0 + h <= 40).all()
    area = (w * h).float() / (40 * 50)
    assert area.min() >= 0.2 - 0.02 and area.max() <= 0.6 + 0.02
    ratio = w.float() / h.float()
    assert ratio.min() >= 3 / 4 - 0.1 and ratio.max() <= 4 / 3 + 0.1
    assert 0.4 < p["flip"].float().mean() < 0.6


# ----------------------------------------------------------------- dtypes and soft masks
def test_uint8_and_float_inputs_agree(photos, center_masks):
    aug = RegionAugment(output_size=48)
    torch.manual_seed(7)
    a = aug(photos, center_masks)
    torch.manual_seed(7)
    b = aug(photos.float() / 255, center_masks.bool())
    assert a.images.dtype == torch.float32
    assert_close(a.images, b.images)
    assert torch.equal(a.masks, b.masks)


def test_mask_encodings_agree(photos, center_masks):
    aug = RegionAugment(output_size=48)
    outs = []
    for m in (
        center_masks,
        center_masks * 255,
        center_masks.bool(),
        center_masks.float(),
        center_masks[:, 0],
        tv_tensors.Mask(center_masks),
    ):
        torch.manual_seed(1)
        outs.append(aug(photos, m))
    for o in outs[1:]:
        assert_close(o.images, outs[0].images)
        assert torch.equal(o.masks, outs[0].masks)


def test_float64_images_keep_their_dtype(photos, center_masks, dtype):
    out = RegionAugment(output_size=32)(photos.to(dtype) / 255, center_masks)
    assert out.images.dtype == dtype and out.masks.dtype == dtype


def test_soft_masks_blend():
    x = torch.rand(2, 3, 16, 16)
    m = torch.full((2, 1, 16, 16), 0.25)
    aug = _identity_geometry(foreground=[RandomGrayscale(p=1.0)], background=[], fallback=[])
    out = aug(x, m)
    gray = (0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None].expand_as(x)
    assert_close(out.images, 0.25 * gray + 0.75 * x)


def test_feather_softens_only_the_edge(photos, center_masks):
    x = photos.float() / 255
    aug = _identity_geometry(
        foreground=[RandomGrayscale(p=1.0)], background=[], fallback=[], feather=1.5
    )
    out = aug(x, center_masks)
    hard = _identity_geometry(foreground=[RandomGrayscale(p=1.0)], background=[], fallback=[])(
        x, center_masks
    )
    diff = (out.images - hard.images).abs().amax(dim=(0, 1))
    assert diff[32, 32] < 1e-6 and diff[2, 2] < 1e-6  # far from the edge: unchanged
    assert diff[16, 32] > 1e-3  # on the edge: blended
    assert torch.equal(out.masks, hard.masks)  # returned masks stay hard


# ----------------------------------------------------------------- randomness
def test_seeded_calls_are_reproducible(photos, center_masks):
    aug = RegionAugment(output_size=32)
    torch.manual_seed(123)
    a1, a2 = aug.pair(photos, center_masks)
    torch.manual_seed(123)
    b1, b2 = aug.pair(photos, center_masks)
    assert torch.equal(a1.images, b1.images) and torch.equal(a2.images, b2.images)
    assert not torch.equal(a1.images, a2.images)  # two views differ


def test_params_replay_reproduces_the_call(photos, center_masks):
    aug = RegionAugment(output_size=32, background_swap=0.5)
    v = aug(photos, center_masks)
    again = aug(photos, center_masks, params=v.params)
    assert torch.equal(v.images, again.images)
    v1, v2 = aug.pair(photos, center_masks)
    r1, r2 = aug.pair(photos, center_masks, params=(v1.params, v2.params))
    assert torch.equal(v1.images, r1.images) and torch.equal(v2.images, r2.images)


def test_params_are_inspectable(photos, center_masks):
    aug = RegionAugment(output_size=32)
    p = aug(photos, center_masks).params
    assert p.geometry["boxes"].shape == (4, 4)
    assert p.foreground[0]["brightness"].shape == (4,)
    assert p.background[0]["sigma"].shape == (4,)
    assert p.foreground[0]["fire"].dtype == torch.bool


def test_kornia_modules_are_accepted_and_replayed(photos, center_masks):
    import kornia.augmentation as K

    x = photos.float() / 255
    aug = _identity_geometry(
        foreground=[K.RandomSolarize(0.1, 0.1, p=1.0)], background=[], fallback=[]
    )
    out = aug(x, center_masks)
    bg = (center_masks == 0).expand_as(x)
    assert torch.equal(out.images[bg], x[bg])
    assert not torch.equal(out.images, x)
    again = aug(x, center_masks, params=out.params)
    assert torch.equal(out.images, again.images)


def test_background_swap_takes_background_from_the_donor(photos, center_masks):
    x = photos.float() / 255
    aug = _identity_geometry(foreground=[], background=[], fallback=[], background_swap=1.0)
    out = aug(x, center_masks)
    donor = out.params.swap["donor"]
    assert (donor != torch.arange(4)).all()
    fg = center_masks.bool().expand_as(x)
    expected = torch.where(fg, x, x[donor])
    assert torch.equal(out.images, expected)


def test_object_centered_crops_keep_the_object():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 64, 64)
    m = torch.zeros(64, 1, 64, 64)
    m[:, :, 2:10, 2:10] = 1  # small object in a corner (coverage 0.0156 -> widen threshold)
    geo_plain = RandomResizedCropFlip(32, scale=(0.08, 0.2))
    geo_obj = RandomResizedCropFlip(32, scale=(0.08, 0.2), object_centered=True)
    kw = dict(foreground=[], background=[], fallback=[], coverage=(0.01, 0.9))
    plain = RegionAugment(geometric=geo_plain, **kw)(x, m)
    obj = RegionAugment(geometric=geo_obj, **kw)(x, m)
    has_plain = (plain.masks.sum(dim=(1, 2, 3)) > 0).float().mean()
    has_obj = (obj.masks.sum(dim=(1, 2, 3)) > 0).float().mean()
    assert has_obj == 1.0
    assert has_plain < 0.6


def test_global_only_baseline_ignores_masks(photos, center_masks):
    from segaug import recipes

    aug = recipes.simclr(output_size=32)
    torch.manual_seed(5)
    a = aug(photos, center_masks)
    torch.manual_seed(5)
    b = aug(photos, torch.zeros_like(center_masks))
    assert a.fallback.all()
    assert torch.equal(a.images, b.images)


# ----------------------------------------------------------------- bad input
GOOD_X = torch.rand(2, 3, 8, 8)
GOOD_M = torch.ones(2, 1, 8, 8)


@pytest.mark.parametrize(
    ("images", "masks", "match"),
    [
        (torch.rand(2, 4, 8, 8), GOOD_M, "images must have shape"),
        (torch.rand(3, 8, 8), GOOD_M, "images must have shape"),
        (torch.rand(0, 3, 8, 8), torch.ones(0, 1, 8, 8), "empty batch"),
        (GOOD_X, torch.ones(3, 1, 8, 8), "batch size 3 but images has 2"),
        (GOOD_X, torch.ones(2, 1, 9, 8), "spatial size"),
        (GOOD_X, torch.ones(2, 2, 8, 8), "masks must have shape"),
        (torch.full((2, 3, 8, 8), float("nan")), GOOD_M, "NaN or inf"),
        (torch.full((2, 3, 8, 8), float("inf")), GOOD_M, "NaN or inf"),
        (GOOD_X * 255, GOOD_M, r"must lie in \[0, 1\]"),
        (GOOD_X - 0.5, GOOD_M, r"must lie in \[0, 1\]"),
        (GOOD_X.long(), GOOD_M, "uint8 or floating point"),
        (GOOD_X, GOOD_M * 2, r"float masks must be finite and lie in \[0, 1\]"),
        (GOOD_X, torch.full((2, 1, 8, 8), float("nan")), "float masks"),
        (GOOD_X, (GOOD_M * 7).to(torch.uint8), r"\{0, 1\} or \{0, 255\}"),
        (GOOD_X.numpy(), GOOD_M, "images must be a torch.Tensor"),
        (GOOD_X, GOOD_M.numpy(), "masks must be a torch.Tensor"),
    ],
)
def test_bad_input_raises_value_error(images, masks, match):
    with pytest.raises(ValueError, match=match):
        RegionAugment(output_size=8)(images, masks)


def test_masks_on_another_device_raise():
    if torch.cuda.is_available():
        m = GOOD_M.cuda()
    else:
        m = GOOD_M.to("meta")
    with pytest.raises(ValueError, match="masks is on"):
        RegionAugment(output_size=8)(GOOD_X, m)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"coverage": (0.9, 0.1)}, "coverage"),
        ({"feather": -1}, "feather"),
        ({"background_swap": 2}, "background_swap"),
        ({"geometric": "yes"}, "geometric"),
        ({"foreground": torch.nn.Identity()}, "foreground must be a sequence"),
        ({"background": [torch.nn.Identity()]}, r"background\[0\]"),
        ({"geometric": RandomResizedCropFlip(16), "output_size": 32}, "conflicts"),
        ({"output_size": 0}, "output_size"),
    ],
)
def test_bad_configuration_raises_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RegionAugment(**kwargs)


def test_replay_with_mismatched_params_raises(photos, center_masks):
    aug = RegionAugment(output_size=32)
    p = aug(photos, center_masks).params
    with pytest.raises(ValueError, match="params were drawn for batch size 4"):
        aug(photos[:2], center_masks[:2], params=p)


# ----------------------------------------------------------------- devices
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(photos, center_masks):
    aug = RegionAugment(output_size=48)
    torch.manual_seed(11)
    cpu = aug(photos, center_masks)
    cuda = aug(photos.cuda(), center_masks.cuda(), params=cpu.params)
    assert isinstance(cuda, AugmentedBatch)
    assert cuda.images.device.type == "cuda"
    assert_close(cuda.images.cpu(), cpu.images, factor=10)  # CUDA kernels round differently
    assert torch.equal(cuda.fallback.cpu(), cpu.fallback)


def test_branchless_mode_gives_the_same_output(photos, center_masks):
    rows = RegionAugment(output_size=48)
    blend = RegionAugment(output_size=48, select_rows=False)
    m = center_masks.clone()
    m[2] = 0  # one fallback sample
    x = photos.double() / 255  # float64: the two modes convolve different row sets
    for _ in range(3):
        a = rows(x, m)
        b = blend(x, m, params=a.params)
        assert_close(a.images, b.images)


@pytest.mark.slow
def test_compiled_kernels_match_eager(photos, center_masks):
    eager = RegionAugment(output_size=48)
    compiled = RegionAugment(output_size=48).compile_kernels()
    m = center_masks.clone()
    m[1] = 0
    for _ in range(2):  # second call: different subset sizes, no recompilation errors
        a = eager(photos, m)
        b = compiled(photos, m, params=a.params)
        assert_close(a.images, b.images, factor=10)  # inductor fuses, so more rounding


def test_module_moves_like_any_nn_module(photos, center_masks):
    aug = RegionAugment(output_size=32)
    assert aug.to("cpu") is aug
    aug.to(torch.float64).float()
    if torch.cuda.is_available():
        aug.cuda()
    assert aug(photos, center_masks).images.shape == (4, 3, 32, 32)

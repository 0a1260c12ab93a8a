"""Photometric ops agree with torchvision's and kornia's reference implementations."""

from __future__ import annotations

import kornia.augmentation as K
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from helpers.numerics import assert_close

from segaug import ColorJitter, GaussianBlur, RandomGrayscale
from segaug.augment.ops import as_op


def _tv_jitter(img, b, c, s, h, order):
    steps = [
        lambda t: TF.adjust_brightness(t, b),
        lambda t: TF.adjust_contrast(t, c),
        lambda t: TF.adjust_saturation(t, s),
        lambda t: TF.adjust_hue(t, h),
    ]
    for i in order:
        img = steps[i](img)
    return img


def test_color_jitter_matches_torchvision_per_image(photos):
    x = photos.float() / 255
    op = ColorJitter(0.8, 0.8, 0.8, 0.2, p=1.0)
    torch.manual_seed(0)
    params = op.draw(4, (64, 64))
    out = op.apply(x.clone(), {k: v for k, v in params.items() if k != "fire"})
    assert len({tuple(o.tolist()) for o in params["order"]}) > 1  # per-sample order
    for i in range(4):
        ref = _tv_jitter(
            x[i],
            float(params["brightness"][i]),
            float(params["contrast"][i]),
            float(params["saturation"][i]),
            float(params["hue"][i]),
            params["order"][i].tolist(),
        )
        assert torch.allclose(out[i], ref, atol=2e-3), (out[i] - ref).abs().max()


def test_color_jitter_matches_kornia_color_jitter(photos):
    x = photos.float() / 255
    kaug = K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0)
    torch.manual_seed(1)
    kout = kaug(x)
    kp = kaug._params
    op = ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0)
    order = kp["order"].view(1, 4).expand(4, 4)
    ours = op.apply(
        x.clone(),
        {
            "brightness": kp["brightness_factor"],
            "contrast": kp["contrast_factor"],
            "saturation": kp["saturation_factor"],
            "hue": kp["hue_factor"],
            "order": order,
        },
    )
    assert_close(ours, kout)


def test_color_jitter_ranges_and_probability():
    op = ColorJitter(0.4, (0.5, 0.9), 0.0, 0.1, p=0.8)
    torch.manual_seed(0)
    p = op.draw(10000, (8, 8))
    assert 0.6 <= p["brightness"].min() and p["brightness"].max() <= 1.4
    assert 0.5 <= p["contrast"].min() and p["contrast"].max() <= 0.9
    assert (p["saturation"] == 1.0).all()
    assert p["hue"].abs().max() <= 0.1
    assert abs(p["fire"].float().mean() - 0.8) < 0.02
    assert sorted(p["order"][0].tolist()) == [0, 1, 2, 3]


def test_grayscale_matches_torchvision(photos):
    x = photos.float() / 255
    op = RandomGrayscale(p=1.0)
    ref = TF.rgb_to_grayscale(x, num_output_channels=3)
    assert_close(op.apply(x.clone(), {}), ref)


@pytest.mark.parametrize("size", [32, 64, 224])
def test_blur_kernel_is_ten_percent_of_the_side_and_odd(size):
    k = GaussianBlur().kernel_for((size, size))
    assert k % 2 == 1 and k >= 3 and abs(k - 0.1 * size) <= 1


def test_blur_matches_torchvision(photos):
    x = photos.float() / 255
    op = GaussianBlur(p=1.0)
    sigma = torch.tensor([0.3, 0.9, 1.5, 2.0])
    out = op.apply(x.clone(), {"sigma": sigma})
    k = op.kernel_for((64, 64))
    for i in range(4):
        ref = TF.gaussian_blur(x[i], [k, k], [float(sigma[i])] * 2)
        assert_close(out[i], ref)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: ColorJitter(brightness=-0.1), "brightness"),
        (lambda: ColorJitter(hue=0.7), "hue"),
        (lambda: ColorJitter(contrast=(2.0, 1.0)), "contrast"),
        (lambda: ColorJitter(p=1.5), "p must be a probability"),
        (lambda: RandomGrayscale(p=-0.1), "p must be a probability"),
        (lambda: GaussianBlur(sigma=(0.0, 1.0)), "sigma"),
        (lambda: GaussianBlur(kernel_size=4), "kernel_size"),
        (lambda: GaussianBlur(kernel_fraction=0), "kernel_fraction"),
        (lambda: as_op(K.RandomHorizontalFlip(), "foreground[0]"), "intensity augmentation"),
        (lambda: as_op("blur", "background[1]"), r"background\[1\]"),
    ],
)
def test_bad_op_arguments_raise(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


@pytest.mark.parametrize("kind", ["random", "ties", "gray", "saturated"])
def test_fused_hue_matches_torchvision_and_kornia(kind):
    import math

    import kornia

    from segaug.augment.ops import _hue

    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 3, 17, 19, generator=g)
    if kind == "ties":
        x = (x * 4).round() / 4
    elif kind == "gray":
        x = x[:, :1].expand(-1, 3, -1, -1).contiguous()
    elif kind == "saturated":
        x = (x > 0.5).float()
    f = torch.linspace(-0.5, 0.5, 12)
    out = _hue(x, f)
    ref = torch.stack([TF.adjust_hue(x[i], float(f[i])) for i in range(12)])
    assert_close(out, ref)
    assert_close(out, kornia.enhance.adjust_hue(x, f * 2 * math.pi))


# ----------------------------------------------------------------- fill_holes
def test_fill_holes_keeps_known_pixels_and_fills_with_their_colours():
    from segaug.augment.ops import fill_holes

    torch.manual_seed(0)
    x = torch.rand(3, 3, 21, 34)  # odd and unequal sides
    known = (torch.rand(3, 1, 21, 34) > 0.7).float()
    y = fill_holes(x, known)
    kept = known.bool().expand_as(x)
    assert torch.equal(y[kept], x[kept])
    # a hole gets a convex blend of known colours: within their range, per image and channel
    for i in range(3):
        for c in range(3):
            seen = x[i, c][known[i, 0].bool()]
            assert y[i, c].min() >= seen.min() - 1e-6 and y[i, c].max() <= seen.max() + 1e-6
    # a constant known colour fills any hole exactly; no known pixel at all gives gray
    flat = torch.full((2, 3, 16, 16), 0.3)
    hole = torch.ones(2, 1, 16, 16)
    hole[:, :, 2:15, 1:12] = 0
    assert torch.allclose(fill_holes(flat, hole), flat, atol=1e-6)
    assert torch.allclose(fill_holes(x, torch.zeros(3, 1, 21, 34)), torch.full_like(x, 0.5))
    assert torch.equal(fill_holes(x, torch.ones(3, 1, 21, 34)), x)


def test_fill_holes_blends_a_two_colour_edge_smoothly_and_checks_shapes():
    from segaug.augment.ops import fill_holes

    x = torch.zeros(1, 1, 32, 32)
    x[..., 16:] = 1.0
    known = torch.ones(1, 1, 32, 32)
    known[..., 8:24, 8:24] = 0
    row = fill_holes(x, known)[0, 0, 16, 8:24]
    assert (row[1:] >= row[:-1]).all() and row[0] < 0.5 < row[-1]  # dark to light
    with pytest.raises(ValueError, match="known"):
        fill_holes(x, known[:, :, :16])
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        fill_holes(x, known.expand(1, 3, 32, 32))

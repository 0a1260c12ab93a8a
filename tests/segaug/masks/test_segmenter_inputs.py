"""Segmenters check their images as RegionAugment does: uint8 or float in [0, 1], finite.

A segmenter takes the same batches as :class:`segaug.RegionAugment` (``uint8`` in
``[0, 255]`` or float in ``[0, 1]``, one check for both, :func:`segaug.images.float_images`)
and refuses NaN, inf and out-of-range floats with one ``ValueError`` that names the
argument, what it got and what it expects (they used to pass NaN silently and refuse
``uint8``).
"""

from __future__ import annotations

import pytest
import torch

from segaug import RegionAugment
from segaug.masks import ClassicalSegmenter, create_segmenter


@pytest.mark.parametrize("method", ["grabcut", "saliency"])
def test_uint8_images_give_exactly_the_masks_of_the_float_images(photos, method) -> None:
    seg = create_segmenter("classical", method=method)
    from_uint8 = seg(photos)
    from_float = seg(photos.float() / 255)
    assert from_uint8.dtype == torch.float32 and from_uint8.shape == (4, 1, 64, 64)
    assert 0 < float(from_uint8.mean()) < 1  # real masks, not all one value
    assert torch.equal(from_uint8, from_float)


def test_nan_images_are_refused_with_what_was_got_and_what_is_expected(photos) -> None:
    x = photos.float() / 255
    x[0, 1, 3, 4] = float("nan")
    x[2, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError) as info:
        ClassicalSegmenter()(x)
    assert str(info.value) == (
        f"images contains NaN or inf (1 NaN, 1 inf of {x.numel()} values); expected finite "
        "float values in [0, 1] or uint8 in [0, 255]"
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.full((1, 3, 8, 8), float("nan")), "images contains NaN or inf (192 NaN, 0 inf"),
        (torch.full((1, 3, 8, 8), -float("inf")), "images contains NaN or inf (0 NaN, 192 inf"),
        (torch.full((1, 3, 8, 8), 2.0), "float images must lie in [0, 1], got values in [2, 2]"),
        (torch.full((1, 3, 8, 8), -0.5), "got values in [-0.5, -0.5] (pass uint8 images"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.int32), "got dtype torch.int32; expected uint8 in"),
        (torch.rand(3, 8, 8), "got (3, 8, 8) (one image: add the batch dimension, images[None])"),
    ],
)
def test_segmenters_and_region_augment_refuse_the_same_images_alike(bad, message) -> None:
    with pytest.raises(ValueError) as seg_err:
        ClassicalSegmenter()(bad)
    with pytest.raises(ValueError) as aug_err:
        RegionAugment(output_size=8)(bad, torch.ones(1, 1, 8, 8))
    assert message in str(seg_err.value)
    assert str(seg_err.value) == str(aug_err.value)


def test_a_rounding_slack_is_still_accepted() -> None:
    x = torch.rand(1, 3, 16, 16).clamp(0.1, 0.9)
    x[0, 0, 0, 0] = 1.0005  # a bicubic resize's overshoot
    assert ClassicalSegmenter()(x).shape == (1, 1, 16, 16)

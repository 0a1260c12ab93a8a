"""RegionAugment.with_crop: a copy with a new crop; every other op and setting stays."""

from __future__ import annotations

import pytest
import torch

from segaug import RegionAugment
from segaug.augment.geometry import (
    GeometrySequence,
    RandomResizedCropFlip,
    RandomRotation,
    RandomVerticalFlip,
)
from segaug.augment.ops import ColorJitter, GaussianBlur


def test_with_crop_replaces_only_the_crop_and_keeps_its_settings():
    aug = RegionAugment(
        foreground=[ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8)],
        background=[GaussianBlur(sigma=(0.1, 2.0), p=0.5)],
        geometric=RandomResizedCropFlip(
            32, scale=(0.2, 1.0), ratio=(0.5, 2.0), flip_p=0.25, object_centered=True
        ),
        coverage=(0.1, 0.8),
        feather=1.5,
        background_swap=0.2,
    )
    local = aug.with_crop(8, scale=(0.05, 0.14))
    crop = local.geometric
    assert isinstance(crop, RandomResizedCropFlip)
    assert crop.output_size == (8, 8) and crop.scale == (0.05, 0.14)
    assert (crop.ratio, crop.flip_p, crop.object_centered) == ((0.5, 2.0), 0.25, True)
    assert [type(op) for op in local.foreground] == [ColorJitter]
    assert [type(op) for op in local.background] == [GaussianBlur]
    assert [type(op) for op in local.fallback] == [type(op) for op in aug.fallback]
    assert (local.coverage, local.feather, local.background_swap, local.region) == (
        (0.1, 0.8),
        1.5,
        0.2,
        True,
    )
    # the original is untouched and shares no module with the copy
    assert aug.geometric.output_size == (32, 32) and aug.geometric.scale == (0.2, 1.0)
    assert local.foreground[0] is not aug.foreground[0]
    images, masks = torch.rand(4, 3, 32, 32), torch.zeros(4, 1, 32, 32)
    masks[:, :, 8:24, 8:24] = 1
    assert local(images, masks).images.shape == (4, 3, 8, 8)


def test_with_crop_keeps_the_other_ops_of_a_geometry_sequence():
    aug = RegionAugment(
        geometric=[RandomResizedCropFlip(16, flip_p=0.1), RandomVerticalFlip(p=0.3)]
    )
    local = aug.with_crop((8, 6), scale=(0.1, 0.2))
    assert isinstance(local.geometric, GeometrySequence)
    crop, flip = local.geometric.ops
    assert crop.output_size == (8, 6) and crop.scale == (0.1, 0.2) and crop.flip_p == 0.1
    assert isinstance(flip, RandomVerticalFlip) and flip.p == 0.3
    assert aug.geometric.output_size == (16, 16)


def test_with_crop_adds_a_crop_first_where_there_is_none():
    assert RegionAugment(geometric=False).with_crop(8, (0.1, 0.2)).geometric.output_size == (8, 8)
    rotated = RegionAugment(geometric=RandomRotation(degrees=10.0)).with_crop(8, (0.1, 0.2))
    crop, rotation = rotated.geometric.ops
    assert isinstance(crop, RandomResizedCropFlip) and isinstance(rotation, RandomRotation)
    assert (crop.ratio, crop.flip_p) == (RandomResizedCropFlip(8).ratio, 0.5)


def test_with_crop_rejects_a_bad_scale():
    with pytest.raises(ValueError, match="scale"):
        RegionAugment(output_size=16).with_crop(8, scale=(0.5, 0.1))

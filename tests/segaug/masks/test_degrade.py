"""degrade_masks: the target IoU is reached, every error kind occurs, nothing else changes."""

from __future__ import annotations

import numpy as np
import pytest

from segaug.data.synthetic import SyntheticShapes
from segaug.masks.degrade import DegradedMasks, degrade_masks, mask_iou


@pytest.fixture(scope="module")
def exact() -> dict[int, np.ndarray]:
    return {size: SyntheticShapes("train", size=size, num_samples=300).masks for size in (32, 64)}


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("target", [0.9, 0.75, 0.6, 0.45])
def test_mean_iou_reaches_the_target_within_003(exact, size, target) -> None:
    masks = exact[size]
    out = degrade_masks(masks, target, seed=1)
    assert out.shape == masks.shape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1}
    iou = mask_iou(out, masks)
    assert abs(float(np.nanmean(iou)) - target) < 0.03
    # the errors vary between masks, as a segmenter's do
    assert float(np.nanstd(iou)) > 0.02


def test_errors_grow_and_shrink_shift_drop_and_add(exact) -> None:
    masks = exact[64]
    out = degrade_masks(masks, 0.6, seed=0)
    fg, got = masks > 0, out > 0
    grew = (got & ~fg).any(axis=(1, 2))
    lost = (fg & ~got).any(axis=(1, 2))
    assert grew.mean() > 0.3 and lost.mean() > 0.3  # both kinds of pixel errors occur
    # coverage is not pushed one way: mean coverage stays within 20% of the exact one
    assert abs(got.mean() / fg.mean() - 1) < 0.2


def test_seeded_and_reproducible(exact) -> None:
    masks = exact[32]
    a, b = degrade_masks(masks, 0.75, seed=3), degrade_masks(masks, 0.75, seed=3)
    c = degrade_masks(masks, 0.75, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_empty_masks_stay_empty_and_iou_one_is_a_copy() -> None:
    masks = np.zeros((6, 24, 24), np.uint8)
    masks[1:, 6:18, 4:20] = 1
    out = degrade_masks(masks, 0.7)
    assert not out[0].any()
    assert np.isnan(mask_iou(out, masks)[0])
    assert np.array_equal(degrade_masks(masks, 1.0), masks)


def test_mask_iou_against_a_hand_count() -> None:
    a = np.zeros((2, 5, 5), np.uint8)
    b = np.zeros((2, 5, 5), np.uint8)
    a[0, :2, :2] = 1  # 4 px
    b[0, 1:3, :2] = 1  # 4 px, 2 shared
    b[1, 0, 0] = 1  # a is empty there
    assert mask_iou(a, b).tolist() == [2 / 6, 0.0]


@pytest.mark.parametrize(
    ("masks", "target", "match"),
    [
        (np.zeros((4, 4), np.uint8), 0.5, "masks: expected an"),
        (np.ones((2, 4, 4), np.uint8), 1.5, "target_iou: expected a float in"),
        (np.ones((2, 4, 4), np.uint8), 0.0, "target_iou"),
        (np.zeros((2, 4, 4), np.uint8), 0.5, "every mask is empty"),
    ],
)
def test_bad_arguments_are_one_clear_error(masks, target, match) -> None:
    with pytest.raises(ValueError, match=match):
        degrade_masks(masks, target)


def test_source_serves_the_degraded_masks_by_index(exact) -> None:
    masks = exact[32][:50]
    source = DegradedMasks(masks, 0.75, seed=2)
    assert np.array_equal(source.lookup(7, "00000007"), degrade_masks(masks, 0.75, 2)[7])
    assert abs(source.iou - 0.75) < 0.03
    assert source.config_id != DegradedMasks(masks, 0.6, seed=2).config_id

"""SyntheticShapes: determinism, disjoint splits, exact masks, balance and the bias protocol."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from segaug.data.synthetic import BACKGROUND_FAMILIES, SHAPE_CLASSES, SyntheticShapes, _render

NUM_CLASSES = len(SHAPE_CLASSES)


def _hashes(images: np.ndarray) -> set[str]:
    return {hashlib.sha1(x.tobytes()).hexdigest() for x in images}


@pytest.fixture(scope="module")
def test_batch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return SyntheticShapes("test", num_samples=300).get_batch(np.arange(300))


def test_at_least_as_many_families_as_classes() -> None:
    assert NUM_CLASSES >= 10
    assert len(BACKGROUND_FAMILIES) >= NUM_CLASSES
    assert SyntheticShapes.classes == list(SHAPE_CLASSES)


def test_item_types_and_shapes() -> None:
    ds = SyntheticShapes("train", size=48, num_samples=12)
    image, label = ds[5]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (48, 48)
    assert isinstance(label, int) and label == ds.targets[5]
    mask = ds.get_mask(5)
    assert mask.dtype == np.uint8 and mask.shape == (48, 48)
    assert set(np.unique(mask)) <= {0, 1}
    images, masks, labels = ds.get_batch([0, 5, -1])
    assert images.shape == (3, 48, 48, 3) and images.dtype == np.uint8
    assert masks.shape == (3, 48, 48) and labels.dtype == np.int64
    assert labels.tolist() == [ds[0][1], ds[5][1], ds[11][1]]
    assert len(ds) == 12 and ds.images.shape == (12, 48, 48, 3) and ds.masks.shape == (12, 48, 48)


def test_default_sizes() -> None:
    assert len(SyntheticShapes("train")) == 5000
    assert len(SyntheticShapes("test")) == 1000
    assert len(SyntheticShapes("test_biased")) == 1000


def test_deterministic_and_independent_of_access_order() -> None:
    a = SyntheticShapes("train", num_samples=40, seed=3)
    b = SyntheticShapes("train", num_samples=40, seed=3)
    one_by_one = np.stack([np.asarray(b[i][0]) for i in range(39, -1, -1)][::-1])
    np.testing.assert_array_equal(a.images, one_by_one)
    np.testing.assert_array_equal(a.masks, np.stack([b.get_mask(i) for i in range(40)]))
    # Sample i does not depend on the dataset length (each has its own generator).
    longer = SyntheticShapes("train", num_samples=400, seed=3)
    np.testing.assert_array_equal(longer.get_batch(np.arange(40))[0], a.images)
    # Materialised arrays and on-the-fly generation agree.
    np.testing.assert_array_equal(np.asarray(a[7][0]), b.get_batch([7])[0][0])
    other_seed = SyntheticShapes("train", num_samples=40, seed=4)
    assert not _hashes(other_seed.images) & _hashes(a.images)


def test_splits_are_disjoint() -> None:
    seen: dict[str, set[str]] = {}
    for split in ("train", "val", "test", "test_biased"):
        seen[split] = _hashes(SyntheticShapes(split, num_samples=150).images)
        assert len(seen[split]) == 150  # no duplicates inside a split either
    names = list(seen)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert not seen[first] & seen[second], (first, second)


def test_mask_is_exactly_the_object(test_batch) -> None:
    images, masks, _ = test_batch
    for image, mask in zip(images.astype(np.float32), masks.astype(bool), strict=True):
        colour = np.median(image[mask], axis=0)
        # One colour inside the mask, up to the faint pixel noise (std 3).
        assert image[mask].std(axis=0).max() < 5.0
        # Clear contrast: no background pixel comes near the object colour...
        assert np.linalg.norm(image[~mask] - colour, axis=-1).min() > 40.0
        # ...so the pixels of the object colour are the mask.
        close = np.linalg.norm(image - colour, axis=-1) < 15.0
        assert (close & mask).sum() / (close | mask).sum() > 0.99


def test_coverage_range(test_batch) -> None:
    _, masks, _ = test_batch
    coverage = masks.reshape(len(masks), -1).mean(axis=1)
    assert coverage.min() > 0.005  # every image has an object
    assert coverage.max() < 0.65
    assert np.mean((coverage >= 0.05) & (coverage <= 0.6)) > 0.8
    assert np.mean(coverage < 0.05) > 0.02  # some objects are naturally small


def test_objects_stay_inside_the_image(test_batch) -> None:
    _, masks, _ = test_batch
    border = np.concatenate([masks[:, 0], masks[:, -1], masks[:, :, 0], masks[:, :, -1]], axis=1)
    assert border.sum() == 0


def test_class_balance() -> None:
    ds = SyntheticShapes("train", num_samples=1000)
    counts = np.bincount(ds.targets, minlength=NUM_CLASSES)
    assert counts.tolist() == [100] * NUM_CLASSES


@pytest.mark.parametrize(
    ("split", "bias", "expected"),
    [
        ("train", 0.9, 0.9),
        ("test_biased", 0.9, 0.9),
        ("val", 0.5, 0.5),
        ("test", 0.9, 1.0 / len(BACKGROUND_FAMILIES)),  # bias is ignored in "test"
    ],
)
def test_background_bias(split: str, bias: float, expected: float) -> None:
    ds = SyntheticShapes(split, num_samples=2000, bias=bias)
    families, labels = ds.background_families, ds.targets
    assert abs(np.mean(families == labels) - expected) < 0.03
    # Every family occurs for every class somewhere, except in the fully biased extreme.
    assert len(np.unique(families)) == len(BACKGROUND_FAMILIES)


def test_off_bias_backgrounds_are_spread() -> None:
    ds = SyntheticShapes("train", num_samples=3000, bias=0.5)
    off = ds.background_families[ds.background_families != ds.targets]
    share = np.bincount(off, minlength=len(BACKGROUND_FAMILIES)) / len(off)
    assert share.min() > 0.05  # uniform would be 0.1 each


def test_recorded_family_is_the_drawn_one() -> None:
    ds = SyntheticShapes("train", num_samples=30, seed=1)
    for i in range(30):
        assert _render(1, "train", i, 64, 0.9)[3] == ds.background_families[i]


def test_bias_extremes() -> None:
    always = SyntheticShapes("train", num_samples=200, bias=1.0)
    never = SyntheticShapes("train", num_samples=200, bias=0.0)
    assert np.all(always.background_families == always.targets)
    assert not np.any(never.background_families == never.targets)


def test_disk_cache_round_trip(tmp_path) -> None:
    first = SyntheticShapes("test", num_samples=20, root=tmp_path)
    files = list((tmp_path / "synthetic_shapes").glob("*.npz"))
    assert len(files) == 1
    second = SyntheticShapes("test", num_samples=20, root=tmp_path)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(second.masks, SyntheticShapes("test", num_samples=20).masks)


def test_transform_is_applied() -> None:
    ds = SyntheticShapes("test", num_samples=3, transform=lambda im: np.asarray(im).shape)
    assert ds[0][0] == (64, 64, 3)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"split": "valid"}, "split"),
        ({"size": 8}, "size"),
        ({"size": 64.0}, "size"),
        ({"num_samples": 0}, "num_samples"),
        ({"bias": 1.5}, "bias"),
        ({"seed": -1}, "seed"),
        ({"transform": 3}, "transform"),
    ],
)
def test_invalid_arguments(kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        SyntheticShapes(**kwargs)


def test_index_errors() -> None:
    ds = SyntheticShapes("test", num_samples=5)
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(IndexError):
        ds.get_mask(-6)
    assert ds[-1][1] == ds[4][1]


def test_style_validation_and_cache_names(tmp_path):
    from segaug.data.synthetic import ShapeStyle

    with pytest.raises(ValueError, match="style.coverage"):
        SyntheticShapes("train", style=ShapeStyle(coverage=(0.5, 0.2)))
    with pytest.raises(ValueError, match="style.background"):
        SyntheticShapes("train", style=ShapeStyle(background="black"))
    with pytest.raises(ValueError, match="style.object_colour"):
        SyntheticShapes("train", style=ShapeStyle(object_colour="red"))
    with pytest.raises(ValueError, match="style must be a ShapeStyle"):
        SyntheticShapes("train", style={"coverage": (0.1, 0.2)})
    a = SyntheticShapes("train", size=16, num_samples=4, root=tmp_path)
    b = SyntheticShapes(
        "train", size=16, num_samples=4, root=tmp_path, style=ShapeStyle(background="neutral")
    )
    files = sorted(p.name for p in (tmp_path / "synthetic_shapes").iterdir())
    assert len(files) == 2 and not np.array_equal(a.images, b.images)
    assert "neutral" in repr(b)


def test_in_memory_dataset_matches_the_masked_dataset():
    import torch

    from segaug.data.masked import InMemoryMaskedDataset, MaskedDataset

    base = SyntheticShapes("train", size=16, num_samples=10)
    slow = MaskedDataset(base, masks="gt", size=16)
    fast = InMemoryMaskedDataset(base.images, base.masks, base.targets)
    assert len(fast) == len(slow) == 10
    for i in range(10):
        a, b = slow[i], fast[i]
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    batch = fast.__getitems__([3, 1])
    assert [item[2] for item in batch] == [3, 1] and torch.equal(batch[0][0], fast[3][0])
    with pytest.raises(ValueError, match="images must be uint8"):
        InMemoryMaskedDataset(base.images.astype(np.float32), base.masks, base.targets)
    with pytest.raises(ValueError, match="masks must be"):
        InMemoryMaskedDataset(base.images, base.masks[:5], base.targets)

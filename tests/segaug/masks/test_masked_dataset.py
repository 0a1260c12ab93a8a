"""MaskedDataset / MaskedImageFolder: shapes, joint geometry, sources, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from segaug.data.masked import MaskedDataset, MaskedImageFolder, resize_pair
from segaug.data.synthetic import SyntheticShapes
from segaug.masks import ClassicalSegmenter, MaskCache, MissingMaskError
from segaug.masks.precompute import precompute_masks


@pytest.fixture(scope="module")
def shapes() -> SyntheticShapes:
    return SyntheticShapes("test", size=64, num_samples=6)


def _check_item(item, size: int) -> None:
    image, mask, label = item
    assert image.shape == (3, size, size) and image.dtype == torch.uint8
    assert mask.shape == (1, size, size) and mask.dtype == torch.uint8
    assert set(mask.unique().tolist()) <= {0, 1}
    assert isinstance(label, int)


def test_gt_masks_native_size_are_exact(shapes: SyntheticShapes) -> None:
    ds = MaskedDataset(shapes, masks="gt", size=64)
    assert len(ds) == 6
    for i in range(len(ds)):
        image, mask, label = ds[i]
        _check_item((image, mask, label), 64)
        assert np.array_equal(mask[0].numpy(), shapes.get_mask(i))
        assert np.array_equal(image.permute(1, 2, 0).numpy(), np.asarray(shapes[i][0]))
        assert label == shapes[i][1]


def test_cache_masks_match_gt(shapes: SyntheticShapes, tmp_path: Path) -> None:
    precompute_masks(shapes, tmp_path / "c", "gt", size=64, progress=False)
    from_cache = MaskedDataset(shapes, masks=tmp_path / "c", size=32)
    from_gt = MaskedDataset(shapes, masks="gt", size=32)
    for i in range(len(shapes)):
        a, b = from_cache[i], from_gt[i]
        assert torch.equal(a[0], b[0])
        assert torch.equal(a[1], b[1]) and a[2] == b[2]


def test_joint_geometry_non_square() -> None:
    # A 60x40 image (W x H) whose left third is red; the mask marks the same region and is
    # stored at half resolution. After resize + centre crop the two must still agree.
    image = torch.zeros(3, 40, 60, dtype=torch.uint8)
    image[0, :, :20] = 255
    mask = torch.zeros(1, 20, 30, dtype=torch.uint8)
    mask[0, :, :10] = 1
    img, m = resize_pair(image, mask, 16)
    assert img.shape == (3, 16, 16) and m.shape == (1, 16, 16)
    red = img[0] > 127
    assert (red == m[0].bool()).float().mean() > 0.93  # only the blended boundary column
    assert m[0, :, :3].all() and not m[0, :, 6:].any()


def test_on_the_fly_segmenter(shapes: SyntheticShapes) -> None:
    ds = MaskedDataset(shapes, masks=ClassicalSegmenter(), size=48)
    _check_item(ds[0], 48)
    assert ds[0][1].sum() > 0


def test_missing_cache_entries_fail_early(shapes: SyntheticShapes, tmp_path: Path) -> None:
    with MaskCache(tmp_path).writer("cfg") as w:
        w.add("00000000", "h", np.ones((8, 8), np.uint8))
    with pytest.raises(MissingMaskError) as info:
        MaskedDataset(shapes, masks=MaskCache(tmp_path), size=32)
    assert "'00000001'" in str(info.value) and "segaug-precompute-masks" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"masks": "gt", "size": 4}, "size"),
        ({"masks": 123}, "masks"),
        ({"masks": "/nonexistent/cache"}, "masks"),
        ({"masks": "gt", "keys": ["a"]}, "keys"),
    ],
)
def test_bad_arguments(shapes: SyntheticShapes, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MaskedDataset(shapes, **kwargs)


def test_image_folder_with_cache_and_workers(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for i in range(4):
        img = (rng.random((40 + 8 * i, 56, 3)) * 80).astype(np.uint8)
        img[10:30, 15:40] = (230, 200, 20)
        (root / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / f"class{i % 2}" / f"{i}.png")
    with pytest.raises(MissingMaskError, match="class0/0.png"):
        MaskedImageFolder(root, masks=MaskCache(tmp_path / "masks"), size=32)
    precompute_masks(root, tmp_path / "masks", size=64, progress=False)
    ds = MaskedImageFolder(root, masks=tmp_path / "masks", size=32)
    assert ds.classes == ["class0", "class1"] and ds.keys[0] == "class0/0.png"
    serial = [ds[i] for i in range(len(ds))]
    for item in serial:
        _check_item(item, 32)
    loader = DataLoader(ds, batch_size=2, num_workers=1)
    images, masks, labels = (torch.cat(x) for x in zip(*loader, strict=True))
    assert torch.equal(images, torch.stack([s[0] for s in serial]))  # nothing random
    assert torch.equal(masks, torch.stack([s[1] for s in serial]))
    assert labels.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="gt"):
        MaskedImageFolder(root, masks="gt")

"""ObjectsOnPhotos: exact alpha masks, unseen test objects and regions, filters, bias.

Every test but the last builds its own tiny folders of RGBA cutouts and photos in
``tmp_path``; the last one reads the Debian folders (``apt-get install openclipart-png
mate-backgrounds``) and fails without them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.photo_testutils import (
    CANVAS,
    CUT,
    LEFT_COLOUR,
    PHOTO_H,
    PHOTO_W,
    RIGHT_COLOUR,
    SOFT,
    colour_of,
    make_folders,
    save_png,
    soft_disc,
    stems,
)
from PIL import Image

from segaug.data import build_dataset, get_dataset_info
from segaug.data.photos import (
    ALPHA_THRESHOLD,
    MIN_OBJECT_SIDE,
    OPENCLIPART_CLASSES,
    ObjectsOnPhotos,
    compact_copy,
    count_objects,
)
from segaug.data.synthetic import NEUTRAL_GRAY


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    return make_folders(tmp_path)


def _make(folders: tuple[Path, Path], split: str = "train", **kwargs) -> ObjectsOnPhotos:
    objects, photos = folders
    kwargs.setdefault("size", 32)
    kwargs.setdefault("num_samples", 30)
    return ObjectsOnPhotos(split, objects=objects, backgrounds=photos, **kwargs)


# ---------------------------------------------------------------------- exact masks
@pytest.mark.parametrize("split", ["train", "test"])
def test_mask_is_the_resized_alpha_and_the_composite_is_exact(folders, split) -> None:
    ds = _make(folders, split, size=SOFT, num_samples=12)
    objects = folders[0]
    for i in range(len(ds)):
        p = ds.get_placement(i)
        mask, background = ds.get_mask(i), ds.get_background(i)
        image = np.asarray(ds[i][0])
        # The mask: the cutout's alpha (cropped to alpha > 0) resized to its box, flipped.
        rgba = np.asarray(Image.open(objects / p.object_file).convert("RGBA"))
        alpha = rgba[..., 3]
        rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
        alpha = alpha[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert alpha.shape == (SOFT, SOFT)  # the store is the source: one resize only
        x, y, w, h = p.object_box
        small = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)
        if p.object_flipped:
            small = small[:, ::-1]
        expected = np.zeros_like(mask)
        expected[y : y + h, x : x + w] = small >= ALPHA_THRESHOLD
        np.testing.assert_array_equal(mask, expected)
        assert mask.sum() > 0 and set(np.unique(mask)) <= {0, 1}
        # The composite: the object's colour on the mask, the background elsewhere.
        colour = np.array(rgba[rgba[..., 3] == 255][0, :3], dtype=np.int16)
        on = mask.astype(bool)
        assert np.abs(image[on].astype(np.int16) - colour).max() <= 2
        np.testing.assert_array_equal(image[~on], background[~on])


def test_backgrounds_are_photo_crops_and_neutral_is_gray(folders) -> None:
    ds = _make(folders, "test_biased", num_samples=20)
    gray = _make(folders, "test_biased", num_samples=20, background="neutral")
    images, masks, labels = ds.get_batch(np.arange(20))
    gimages, gmasks, glabels = gray.get_batch(np.arange(20))
    np.testing.assert_array_equal(masks, gmasks)
    np.testing.assert_array_equal(labels, glabels)
    on = masks.astype(bool)
    np.testing.assert_array_equal(images[on], gimages[on])  # the same object pixels
    assert (gimages[~on] == NEUTRAL_GRAY).all()
    assert (gray.get_backgrounds(np.arange(20)) == NEUTRAL_GRAY).all()
    backgrounds = ds.get_backgrounds(np.arange(20))
    for i in range(20):
        np.testing.assert_array_equal(backgrounds[i], ds.get_background(i))
        green = 10 + 30 * ds.get_placement(i).family  # the family's photo, no other
        assert (backgrounds[i][..., 1] == green).all()


# ------------------------------------------------------------------ held-out splits
def test_train_and_test_objects_are_disjoint(folders) -> None:
    train, val = _make(folders, "train"), _make(folders, "val")
    test, biased = _make(folders, "test"), _make(folders, "test_biased")
    assert train.objects == val.objects and test.objects == biased.objects
    for c in range(len(train.classes)):
        assert train.objects[c] and test.objects[c]
        assert not set(train.objects[c]) & set(test.objects[c])
        names = {Path(f).stem for f in test.objects[c]}
        assert names == set(stems("test", 3))
    for ds in (train, val, test, biased):
        for i in range(len(ds)):
            p = ds.get_placement(i)
            assert p.object_file in ds.objects[p.label]
    # By pixels too: every object colour in a test image is a test object's colour.
    test_colours = {colour_of(c, k) for c in range(2) for k in range(4, 7)}
    for ds, allowed in ((test, test_colours), (train, None)):
        images, masks, _ = ds.get_batch(np.arange(len(ds)))
        for image, mask in zip(images, masks, strict=True):
            inner = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
            colour = tuple(int(v) for v in np.median(image[inner], axis=0))
            nearest = min(
                (colour_of(c, k) for c in range(2) for k in range(7)),
                key=lambda t: sum(abs(a - b) for a, b in zip(t, colour, strict=True)),
            )
            assert (nearest in test_colours) == (allowed is not None)


def test_test_crops_come_only_from_the_held_out_region(folders) -> None:
    for split, colour in (("train", LEFT_COLOUR), ("test", RIGHT_COLOUR)):
        ds = _make(folders, split, num_samples=40)
        backgrounds = ds.get_backgrounds(np.arange(40))
        assert (backgrounds[..., 0] == colour[0]).all()
        assert (backgrounds[..., 2] == colour[2]).all()
        for i in range(40):
            left, top, side = ds.get_placement(i).crop_box
            assert top >= 0 and top + side <= PHOTO_H + 1e-6
            if split == "test":
                assert left >= CUT and left + side <= PHOTO_W + 1e-6
            else:
                assert left >= 0 and left + side <= CUT + 1e-6


# -------------------------------------------------------------------------- filters
def test_filters_drop_opaque_tiny_thin_empty_huge_and_duplicate_cutouts(tmp_path) -> None:
    folder = tmp_path / "objects"
    good = soft_disc((200, 60, 60))
    yy, xx = np.mgrid[:CANVAS, :CANVAS]
    centre = (CANVAS - 1) / 2
    d = np.hypot(yy - centre, xx - centre)
    box = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    box[10:100, 20:90] = (90, 90, 200, 255)  # an opaque rectangle with transparent margins
    tiny = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    tiny[d < 20] = (10, 200, 10, 255)  # 40 px across: under MIN_OBJECT_SIDE
    line = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    line[((xx - centre) / 54) ** 2 + ((yy - centre) / 6) ** 2 < 1] = (0, 0, 0, 255)  # 9:1
    ring = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    ring[(d > 47) & (d < 51)] = (0, 0, 0, 255)  # an outline: erosion leaves little
    empty = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    empty[..., 3] = 60  # faint everywhere, opaque nowhere
    for name, cls in ((f"{s}.png", c) for c in ("a", "b") for s in stems("train", 2)):
        save_png(folder / cls / name, good)
    cases = {"box": box, "tiny": tiny, "line": line, "ring": ring, "empty": empty}
    for name, array in cases.items():
        save_png(folder / "a" / f"{name}.png", array)
    save_png(folder / "a" / "small" / f"{stems('train', 1)[0]}.png", good[::2, ::2])  # a copy
    Image.new("1", (5001, 5001)).save(folder / "a" / "huge.png")  # > MAX_SOURCE_PIXELS
    (folder / "a" / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((20, 20, 4), np.uint8)).save(folder / "a" / "icon.png")  # tiny

    counts = count_objects(folder)
    assert counts["a"]["removed"] == {
        "unreadable": 1,
        "huge": 1,
        "duplicate": 1,
        "empty": 1,
        "tiny": 2,
        "opaque": 1,
        "thin": 2,
    }
    assert counts["a"]["files"] == 11 and counts["a"]["train"] + counts["a"]["test"] == 2
    assert counts["b"]["removed"] == dict.fromkeys(counts["b"]["removed"], 0)
    # The dataset keeps the same ones: class "a" has its two good cutouts, both train.
    photos = make_folders(tmp_path / "bg", num_classes=0)[1]
    ds = ObjectsOnPhotos("train", size=32, num_samples=4, objects=folder, backgrounds=photos)
    assert ds.objects[0] == tuple(f"a/{s}.png" for s in sorted(stems("train", 2)))
    assert ds.removed["duplicate"] == 1 and sum(ds.removed.values()) <= 9
    with pytest.raises(ValueError, match="class 'a' has no usable test cutout"):
        ObjectsOnPhotos("test", size=32, num_samples=4, objects=folder, backgrounds=photos)


# ----------------------------------------------------------------------------- bias
def test_bias_follows_the_class_in_training_and_is_uniform_at_test(folders) -> None:
    n = 3000
    for bias, share in ((1.0, 1.0), (0.0, 0.0)):
        fam = _make(folders, "train", num_samples=60, bias=bias).background_families
        labels = np.arange(60) % 2
        assert np.mean(fam == labels) == share
    ds = _make(folders, "train", num_samples=n, bias=0.9)
    fam, labels = ds.background_families, ds.targets
    assert abs(np.mean(fam == labels) - 0.9) < 0.02
    off = fam[fam != labels]
    assert set(np.unique(off)) == {0, 1, 2}  # the other families, the unowned one too
    assert (
        abs(np.mean(_make(folders, "val", num_samples=n).background_families == labels) - 0.9)
        < 0.02
    )
    test = _make(folders, "test", num_samples=n, bias=1.0)  # bias is ignored by "test"
    counts = np.bincount(test.background_families, minlength=3) / n
    assert np.abs(counts - 1 / 3).max() < 0.03
    assert abs(np.mean(test.background_families == labels) - 1 / 3) < 0.03
    # The families the placements report are the ones background_families lists.
    assert [ds.get_placement(i).family for i in range(20)] == fam[:20].tolist()


# ---------------------------------------------------------------------- determinism
def _digest(images: np.ndarray) -> str:
    return hashlib.sha1(images.tobytes()).hexdigest()


def test_deterministic_and_independent_of_access_order(folders) -> None:
    a = _make(folders, "train", num_samples=24, seed=3)
    b = _make(folders, "train", num_samples=24, seed=3)
    one_by_one = np.stack([np.asarray(b[i][0]) for i in range(23, -1, -1)][::-1])
    np.testing.assert_array_equal(a.images, one_by_one)
    np.testing.assert_array_equal(a.masks, np.stack([b.get_mask(i) for i in range(24)]))
    longer = _make(folders, "train", num_samples=240, seed=3)
    np.testing.assert_array_equal(longer.get_batch(np.arange(24))[0], a.images)
    other = _make(folders, "train", num_samples=24, seed=4)
    assert _digest(other.images) != _digest(a.images)
    splits = {
        s: _digest(_make(folders, s, num_samples=24).images)
        for s in ("train", "val", "test", "test_biased")
    }
    assert len(set(splits.values())) == 4
    assert a.targets.tolist() == [i % 2 for i in range(24)]
    assert a.get_batch([-1])[2].tolist() == [1]


def test_objects_vary_in_scale_position_and_flip(folders) -> None:
    ds = _make(folders, "train", size=64, num_samples=200)
    cover = ds.masks.reshape(200, -1).mean(1)
    assert 0.1 < cover.min() and cover.max() < 0.55 and 0.2 < np.median(cover) < 0.45
    places = [ds.get_placement(i) for i in range(200)]
    assert len({p.object_box[:2] for p in places}) > 100
    assert 0.3 < np.mean([p.object_flipped for p in places]) < 0.7
    assert 0.3 < np.mean([p.crop_flipped for p in places]) < 0.7


# ------------------------------------------------------------------- bad arguments
def test_missing_folders_name_the_packages(tmp_path, folders) -> None:
    objects, photos = folders
    install = "apt-get install openclipart-png mate-backgrounds"
    with pytest.raises(FileNotFoundError, match=f"objects: folder .*nowhere.*{install}"):
        ObjectsOnPhotos("test", objects=tmp_path / "nowhere", backgrounds=photos)
    with pytest.raises(FileNotFoundError, match=f"backgrounds: folder .*nowhere.*{install}"):
        ObjectsOnPhotos("test", objects=objects, backgrounds=tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "holdout"}, "split must be one of"),
        ({"size": 8}, "size must be an int in"),
        ({"bias": 1.5}, "bias must be a float"),
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"num_samples": 0}, "num_samples must be a positive int"),
        ({"coverage": (0.5, 0.2)}, "coverage must satisfy"),
        ({"background": "texture"}, "background must be 'photo' or 'neutral'"),
        ({"classes": ["class0", "zebra"]}, "classes: no folder 'zebra'"),
        ({"classes": ["class0"]}, "classes must name at least two"),
    ],
)
def test_bad_arguments_raise_one_clear_error(folders, kwargs, match) -> None:
    objects, photos = folders
    kwargs = {"split": "train", **kwargs}
    with pytest.raises(ValueError, match=match):
        ObjectsOnPhotos(objects=objects, backgrounds=photos, **kwargs)


def test_fewer_photos_than_classes_is_refused(tmp_path) -> None:
    objects, photos = make_folders(tmp_path, num_classes=3, num_photos=2)
    with pytest.raises(ValueError, match="backgrounds: 2 photos .* one per class \\(3\\)"):
        ObjectsOnPhotos("train", objects=objects, backgrounds=photos)


# ------------------------------------------------------------------------- registry
def test_registered_with_masks_and_the_synthetic_splits(folders) -> None:
    info = get_dataset_info("objects_on_photos")
    assert info.has_masks and not info.needs_root and not info.downloadable
    assert info.splits == ("train", "val", "test", "test_biased")
    assert info.extra_test_splits == ("test_biased",) and info.official_val
    assert info.pretrain_options(48, 100) == {"size": 48, "num_samples": 100}
    objects, photos = folders
    ds = build_dataset(
        "objects_on_photos",
        split="test",
        size=32,
        num_samples=4,
        objects=str(objects),
        backgrounds=str(photos),
        coverage=[0.2, 0.4],
    )
    assert isinstance(ds, ObjectsOnPhotos) and ds.coverage == (0.2, 0.4) and len(ds) == 4
    with pytest.raises(ValueError, match="root must be None for 'objects_on_photos'"):
        build_dataset("objects_on_photos", "/data", objects=str(objects), backgrounds=str(photos))


# ---------------------------------------------------------------------- compact copy
def _big_soft_disc(colour: tuple[int, int, int], side: int = 300) -> np.ndarray:
    """A disc ``side - 20`` px across whose alpha falls off over ~8 px at the edge."""
    centre = (side - 1) / 2
    yy, xx = np.mgrid[:side, :side]
    d = np.hypot(yy - centre, xx - centre)
    alpha = np.clip((side / 2 - 14 - d) * 32 + 128, 0, 255).astype(np.uint8)
    return np.dstack([np.full((side, side), c, np.uint8) for c in colour] + [alpha])


def test_compact_copy_keeps_the_objects_placements_and_photos(tmp_path) -> None:
    objects, photos = make_folders(tmp_path / "src")
    colour = (200, 60, 90)
    for c in range(2):  # large cutouts the copy shrinks, on both sides
        for stem in stems("train", 2) + stems("test", 1):
            save_png(objects / f"class{c}" / "big" / f"big_{stem}.png", _big_soft_disc(colour))
    glow = np.zeros((300, 300, 4), np.uint8)
    glow[..., :3], glow[..., 3] = (30, 160, 30), 40  # faint over the whole canvas
    yy, xx = np.mgrid[:300, :300]
    glow[np.hypot(yy - 150, xx - 150) < 35, 3] = 255  # a solid disc 70 px wide: tiny at 80
    save_png(objects / "class0" / f"glow_{stems('train', 1)[0]}.png", glow)
    box = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    box[10:100, 20:90] = (90, 90, 200, 255)  # opaque: the filters leave it out
    save_png(objects / "class1" / "box.png", box)

    dest = tmp_path / "copy"
    made = compact_copy(dest, objects, photos, max_side=80)
    source_counts, copy_counts = count_objects(objects), count_objects(dest / "objects")
    for name in ("class0", "class1"):
        kept = {side: source_counts[name][side] for side in ("train", "test")}
        assert made["objects"][name] == kept
        assert {side: copy_counts[name][side] for side in ("train", "test")} == kept
        assert sum(copy_counts[name]["removed"].values()) == 0  # only kept cutouts travel
    assert made["photos"] == 3 and made["full_size"] == 1 and made["max_side"] == 80
    for photo in photos.iterdir():
        assert (dest / "backgrounds" / photo.name).read_bytes() == photo.read_bytes()
    for png in (dest / "objects").rglob("*.png"):
        size = Image.open(png).size
        if png.name.startswith("glow_"):  # copied at full size: cropped to its alpha only
            assert size == (300, 300)
        else:
            assert max(size) <= 80
    shrunk = np.asarray(Image.open(next((dest / "objects").rglob("big_*.png"))))
    assert shrunk.shape[:2] == (80, 80)
    seen = shrunk[..., 3] >= 32  # no dark fringe: the colour is divided back by the alpha
    assert np.abs(shrunk[seen][:, :3].astype(int) - colour).max() <= 3

    for split in ("train", "test"):
        src = ObjectsOnPhotos(split, size=32, num_samples=40, objects=objects, backgrounds=photos)
        cpy = ObjectsOnPhotos(
            split,
            size=32,
            num_samples=40,
            objects=dest / "objects",
            backgrounds=dest / "backgrounds",
        )
        assert cpy.objects == src.objects and cpy.families == src.families
        for i in range(40):
            a, b = src.get_placement(i), cpy.get_placement(i)
            assert (a.label, a.family, a.object_file, a.crop_box) == (
                b.label, b.family, b.object_file, b.crop_box
            )  # fmt: skip
        (img_a, mask_a, _), (img_b, mask_b, _) = (d.get_batch(np.arange(40)) for d in (src, cpy))
        assert np.abs(img_a.astype(int) - img_b.astype(int)).mean() < 2.0
        both = (mask_a & mask_b).sum() / (mask_a | mask_b).sum()
        assert both > 0.95, both

    assert '"classes": [' in (dest / "compact_copy.json").read_text()
    with pytest.raises(ValueError, match="dest: .* exists and is not an empty folder"):
        compact_copy(dest, objects, photos)
    with pytest.raises(ValueError, match=f"max_side must be an int >= {MIN_OBJECT_SIDE}, got 10"):
        compact_copy(tmp_path / "other", objects, photos, max_side=10)


# ------------------------------------------------------------ the Debian packages
def test_the_debian_folders_give_ten_classes_of_at_least_100_objects() -> None:
    """Needs ``apt-get install openclipart-png mate-backgrounds`` (fails without them)."""
    train = ObjectsOnPhotos("train", size=32, num_samples=40)
    test = ObjectsOnPhotos("test_biased", size=32, num_samples=40)
    assert train.classes == test.classes == list(OPENCLIPART_CLASSES)
    assert len(train.families) == 12 and train.families[0] == "Aqua"
    for c in range(len(train.classes)):
        assert len(train.objects[c]) + len(test.objects[c]) >= 100, train.classes[c]
        assert not set(train.objects[c]) & set(test.objects[c])
    images, masks, labels = test.get_batch(np.arange(40))
    assert images.shape == (40, 32, 32, 3) and labels.tolist() == [i % 10 for i in range(40)]
    cover = masks.reshape(40, -1).mean(1)
    assert 0.05 < cover.min() and cover.max() < 0.6
    on = masks.astype(bool)
    backgrounds = test.get_backgrounds(np.arange(40))
    np.testing.assert_array_equal(images[~on], backgrounds[~on])

"""Dataset registry: names, split mapping and errors, on tiny fake datasets (no network)."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torchvision.datasets as tvd
from PIL import Image

from segaug.data import (
    DATASET_INFO,
    DatasetNotFoundError,
    SyntheticShapes,
    build_dataset,
    get_dataset_info,
    list_datasets,
)
from segaug.data.registry import _per_class_split

EXPECTED_NAMES = {
    "cifar10",
    "cifar100",
    "stl10",
    "flowers102",
    "oxford_iiit_pet",
    "caltech101",
    "sun397",
    "dtd",
    "food101",
    "imagenette",
    "imagefolder",
    "synthetic",
    "objects_on_photos",
}


def _save_image(path: Path, size: int = 8, value: int = 0, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    Image.fromarray(np.full(shape, value, dtype=np.uint8), mode=mode).save(path)


# ------------------------------------------------------------------------ names/info
def test_all_names_registered_with_info() -> None:
    assert set(list_datasets()) == EXPECTED_NAMES
    assert set(DATASET_INFO) == EXPECTED_NAMES
    for name in EXPECTED_NAMES:
        info = get_dataset_info(name)
        assert info.name == name and "train" in info.splits and "test" in info.splits
        assert info.metric in ("top1", "mean_per_class")


def test_metric_conventions() -> None:
    per_class = {n for n in EXPECTED_NAMES if get_dataset_info(n).metric == "mean_per_class"}
    assert per_class == {"flowers102", "oxford_iiit_pet", "caltech101"}
    assert get_dataset_info("cifar10").image_size == 32
    assert get_dataset_info("stl10").num_classes == 10
    assert {n for n in EXPECTED_NAMES if get_dataset_info(n).has_masks} == {
        "oxford_iiit_pet",
        "synthetic",
        "objects_on_photos",
    }


def test_unknown_name_lists_known_names(tmp_path) -> None:
    with pytest.raises(ValueError, match="cifar10.*synthetic"):
        build_dataset("imagenet", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        get_dataset_info("imagenet")


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("cifar10", {"split": "val"}, "split"),
        ("stl10", {"split": "validation"}, "split"),
        ("cifar10", {"download": "yes"}, "download"),
        ("cifar10", {"foo": 1}, "foo"),
        ("dtd", {"partition": 11}, "partition"),
        ("imagenette", {"size": "64px"}, "size"),
        ("caltech101", {"train_per_class": 0}, "train_per_class"),
        ("imagefolder", {"download": True}, "download"),
    ],
)
def test_invalid_arguments(tmp_path, name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_dataset(name, tmp_path, **kwargs)


def test_root_required_except_for_synthetic() -> None:
    with pytest.raises(ValueError, match="root"):
        build_dataset("cifar10", None)
    ds = build_dataset("synthetic", None, split="test_biased", num_samples=10, size=32)
    assert isinstance(ds, SyntheticShapes) and len(ds) == 10 and ds.bias == 0.9


def test_synthetic_through_registry_with_cache(tmp_path) -> None:
    ds = build_dataset("synthetic", tmp_path, split="train", num_samples=10, bias=0.5, seed=2)
    assert (tmp_path / "synthetic_shapes").is_dir() and ds.bias == 0.5
    image, label = ds[1]
    assert image.mode == "RGB" and label == 1 and ds.get_mask(1).shape == (64, 64)


# ------------------------------------------------------------------- missing data
@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES - {"synthetic", "objects_on_photos"}))
def test_missing_dataset_gives_clear_error(tmp_path, name: str) -> None:
    with pytest.raises(DatasetNotFoundError) as excinfo:
        build_dataset(name, tmp_path, split="train", download=False)
    message = str(excinfo.value)
    assert repr(name) in message
    assert str(tmp_path) in message
    if name == "imagefolder":
        assert "cannot be downloaded" in message and "class" in message
    else:
        assert "download=True" in message and "internet" in message
    assert not isinstance(excinfo.value, RuntimeError)
    assert list(tmp_path.iterdir()) == []  # nothing created in the user's folder


def test_failed_download_gives_clear_error(tmp_path, monkeypatch) -> None:
    def offline(self) -> None:
        raise URLError("no network")

    monkeypatch.setattr(tvd.CIFAR10, "download", offline)
    with pytest.raises(DatasetNotFoundError, match="could not be downloaded.*internet") as exc:
        build_dataset("cifar10", tmp_path, download=True)
    assert isinstance(exc.value.__cause__, URLError)


# ---------------------------------------------------------------------- fake CIFAR
def _fake_cifar10(root: Path, per_batch: int = 4) -> dict[str, np.ndarray]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
        written[name] = data
    names = ["airplane", "automobile", "bird", "cat", "deer"]
    names += ["dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names}, f)
    return written


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_cifar10(tmp_path, monkeypatch) -> tuple[Path, dict[str, np.ndarray]]:
    written = _fake_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    train = [[f"data_batch_{k}", _md5(folder / f"data_batch_{k}")] for k in range(1, 6)]
    monkeypatch.setattr(tvd.CIFAR10, "train_list", train)
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", _md5(folder / "test_batch")]])
    meta = dict(tvd.CIFAR10.meta, md5=_md5(folder / "batches.meta"))
    monkeypatch.setattr(tvd.CIFAR10, "meta", meta)
    return tmp_path, written


def test_fake_cifar10_round_trip(fake_cifar10) -> None:
    root, written = fake_cifar10
    train = build_dataset("cifar10", root, split="train")
    test = build_dataset("cifar10", str(root), split="test")
    assert len(train) == 20 and len(test) == 4
    assert train.classes[0] == "airplane" and len(train.classes) == 10
    image, label = test[1]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (32, 32)
    assert isinstance(label, int) and label == test.targets[1] == (5 + 1) % 10
    expected = written["test_batch"][1].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(np.asarray(image), expected)
    assert train.info.num_classes == 10


def test_fake_cifar10_corrupted_file(fake_cifar10) -> None:
    root, _ = fake_cifar10
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DatasetNotFoundError, match="incomplete or corrupted"):
        build_dataset("cifar10", root, split="test")


# --------------------------------------------------------------------- ImageFolder
def test_imagefolder_splits(tmp_path) -> None:
    for split, n in (("train", 3), ("val", 2)):
        for c, cls in enumerate(("cat", "dog")):
            for k in range(n):
                _save_image(tmp_path / split / cls / f"{k}.png", value=10 * c, mode="L")
    train = build_dataset("imagefolder", tmp_path, split="train")
    val = build_dataset("imagefolder", tmp_path, split="val")
    test = build_dataset("imagefolder", tmp_path, split="test")  # no test/: falls back to val/
    assert (len(train), len(val), len(test)) == (6, 4, 4)
    assert train.classes == ["cat", "dog"] and train.targets == [0, 0, 0, 1, 1, 1]
    image, label = val[3]
    assert image.mode == "RGB" and label == 1 and np.asarray(image)[0, 0, 0] == 10


def test_imagefolder_flat_layout(tmp_path) -> None:
    for cls in ("a", "b"):
        _save_image(tmp_path / cls / "0.png")
    assert len(build_dataset("imagefolder", tmp_path, split="train")) == 2
    with pytest.raises(DatasetNotFoundError, match="val"):
        build_dataset("imagefolder", tmp_path, split="val")


# ----------------------------------------------------------------- other fake layouts
def test_fake_oxford_pet_masks_and_split_mapping(tmp_path) -> None:
    base = tmp_path / "oxford-iiit-pet"
    ids = {"trainval": ["Abyssinian_1", "beagle_1", "beagle_2"], "test": ["Abyssinian_2"]}
    for split, names in ids.items():
        lines = [f"{n} {1 if n.startswith('Aby') else 2} 1 1" for n in names]
        (base / "annotations").mkdir(parents=True, exist_ok=True)
        (base / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")
        for n in names:
            _save_image(base / "images" / f"{n}.jpg", size=6)
            trimap = np.full((6, 6), 2, dtype=np.uint8)  # background
            trimap[1:4, 1:4] = 3  # border
            trimap[2, 2] = 1  # pet
            _save_image(base / "annotations" / "trimaps" / f"{n}.png", mode="L", value=0)
            Image.fromarray(trimap, mode="L").save(base / "annotations" / "trimaps" / f"{n}.png")
    train = build_dataset("oxford_iiit_pet", tmp_path, split="train")
    trainval = build_dataset("oxford_iiit_pet", tmp_path, split="trainval")
    test = build_dataset("oxford_iiit_pet", tmp_path, split="test")
    assert len(train) == len(trainval) == 3 and len(test) == 1
    assert train.classes == ["Abyssinian", "Beagle"] and train.targets == [0, 1, 1]
    image, label = train[1]
    assert image.mode == "RGB" and label == 1
    mask = train.get_mask(0)
    assert mask.dtype == np.uint8 and mask.shape == (6, 6)
    expected = np.zeros((6, 6), dtype=np.uint8)
    expected[1:4, 1:4] = 1
    np.testing.assert_array_equal(mask, expected)


def _fake_caltech101(root: Path, sizes: dict[str, int]) -> None:
    folder = root / "caltech101" / "101_ObjectCategories"
    for cls, n in sizes.items():
        for k in range(1, n + 1):
            _save_image(folder / cls / f"image_{k:04d}.jpg", mode="L", value=k)


def test_fake_caltech101_seeded_split(tmp_path) -> None:
    _fake_caltech101(tmp_path, {"BACKGROUND_Google": 2, "ant": 5, "bee": 7})
    train = build_dataset("caltech101", tmp_path, split="train", train_per_class=3)
    test = build_dataset("caltech101", tmp_path, split="test", train_per_class=3)
    assert train.classes == ["ant", "bee"]  # BACKGROUND_Google is not a class
    assert (len(train), len(test)) == (6, 6)
    assert sorted(train.targets) == [0, 0, 0, 1, 1, 1]
    assert not set(train.indices) & set(test.indices)
    again = build_dataset("caltech101", tmp_path, split="train", train_per_class=3)
    assert again.indices == train.indices
    other = build_dataset("caltech101", tmp_path, split="train", train_per_class=3, split_seed=1)
    assert other.indices != train.indices
    assert train[0][0].mode == "RGB"  # grey JPEGs are converted


def test_per_class_split_properties() -> None:
    labels = [0] * 40 + [1] * 35 + [2] * 2
    split = _per_class_split(labels, train_per_class=30, test_per_class=None, seed=0)
    assert not set(split["train"]) & set(split["test"])
    assert sorted(split["train"] + split["test"]) == list(range(len(labels)))
    train_counts = np.bincount(np.asarray(labels)[split["train"]])
    assert train_counts.tolist() == [30, 30, 1]  # a tiny class keeps one test image
    capped = _per_class_split(labels, train_per_class=5, test_per_class=5, seed=0)
    assert np.bincount(np.asarray(labels)[capped["test"]]).tolist() == [5, 5, 1]


def test_fake_dtd_trainval(tmp_path) -> None:
    data = tmp_path / "dtd" / "dtd"
    for split, names in {"train": ["a/1.jpg", "b/1.jpg"], "val": ["a/2.jpg", "b/2.jpg"]}.items():
        (data / "labels").mkdir(parents=True, exist_ok=True)
        (data / "labels" / f"{split}1.txt").write_text("\n".join(names) + "\n")
        for n in names:
            _save_image(data / "images" / n)
    trainval = build_dataset("dtd", tmp_path, split="trainval")
    assert len(trainval) == 4 and trainval.targets == [0, 1, 0, 1]
    assert trainval.classes == ["a", "b"] and trainval[2][1] == 0
    assert len(build_dataset("dtd", tmp_path, split="val")) == 2


def test_fake_imagenette_test_is_val(tmp_path) -> None:
    for split, n in (("train", 2), ("val", 1)):
        for wnid in ("n01440764", "n02102040"):
            for k in range(n):
                _save_image(tmp_path / "imagenette2-160" / split / wnid / f"{k}.JPEG")
    test = build_dataset("imagenette", tmp_path, split="test", size="160px")
    train = build_dataset("imagenette", tmp_path, split="train", size="160px")
    assert (len(train), len(test)) == (4, 2)
    assert test.classes == ["tench", "English springer"] and test.targets == [0, 1]
    with pytest.raises(DatasetNotFoundError, match="imagenette2-320"):
        build_dataset("imagenette", tmp_path, split="train", size="320px")

"""Dataset registry: one call builds any supported dataset with the same split names.

``build_dataset(name, root, split)`` returns a torchvision-style dataset: ``ds[i]`` is
``(PIL RGB image, int label)``, ``len(ds)``, ``ds.classes`` and ``ds.targets``. Our split
names ("train", "val", "test", ...) are mapped to each torchvision class's own
arguments; datasets without an official split (Caltech-101, SUN397) get a deterministic,
seeded, per-class split. A dataset missing from ``root`` raises
:class:`DatasetNotFoundError`, which names the dataset, the expected folder and the fix,
instead of torchvision's bare ``RuntimeError`` or a ``URLError``.

Each dataset is declared once, by :func:`register_dataset`: its factory and, beside it,
its descriptor :class:`DatasetInfo` -- number of classes, the metric its papers report
(top-1 accuracy or mean per-class accuracy, the convention of Kornblith et al. [0] for
Flowers-102, Oxford-IIIT Pet and Caltech-101), a default image size, the splits,
mean/std, the evaluation's validation source and extra test splits, whether it has
ground-truth masks (``get_mask(i)``), and the factory options pretraining derives from
its config. :data:`DATASET_INFO` maps names to descriptors; nothing else in the project
tests a dataset's name, so adding a dataset is one entry in this file.

- [0]: Do Better ImageNet Models Transfer Better? (Kornblith et al.), 2019,
  https://arxiv.org/abs/1805.08974

Example:
    >>> from segaug.data import build_dataset, get_dataset_info
    >>> ds = build_dataset("synthetic", None, split="test", num_samples=8)
    >>> image, label = ds[0]
    >>> image.mode, len(ds), get_dataset_info("flowers102").metric
    ('RGB', 8, 'mean_per_class')
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torchvision.datasets as tvd
from PIL import Image
from torch.utils.data import ConcatDataset, Dataset

from segaug.constants import IMAGENET_STATS
from segaug.data.synthetic import ShapeStyle, SyntheticShapes
from segaug.registry import Registry

__all__ = [
    "DATASETS",
    "DATASET_INFO",
    "DatasetInfo",
    "DatasetNotFoundError",
    "LabeledImageDataset",
    "OxfordPetDataset",
    "build_dataset",
    "get_dataset_info",
    "list_datasets",
    "register_dataset",
]

DATASETS: Registry[Callable[..., Dataset]] = Registry("dataset")
"""Name -> factory ``(root, split, download, transform=None, **kwargs) -> Dataset``."""

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- metadata
@dataclass(frozen=True)
class DatasetInfo:
    """Everything the project knows about a dataset: its descriptor.

    One :class:`DatasetInfo` is declared beside each factory with
    :func:`register_dataset`; the pretraining data, the evaluation suite and the
    normalisation read it instead of testing dataset names.

    Attributes:
        name: Registry name.
        num_classes: Number of classes, ``None`` when it depends on the data (imagefolder).
        metric: "top1" (accuracy) or "mean_per_class" (mean of per-class accuracies).
        image_size: Default side length for training and evaluation at this dataset.
        splits: Split names that :func:`build_dataset` accepts.
        folder: Where the files are expected, relative to ``root`` (for messages).
        has_masks: Whether the dataset offers ground-truth masks via ``get_mask(i)``.
        mean: Per-channel RGB mean in [0, 1] of the training images; ``None``: ImageNet's.
        std: Per-channel RGB standard deviation; ``None``: ImageNet's.
        official_val: The evaluation suite chooses its probe's lambda on the official
            "val" split; ``False``: on a held-out share of each training class.
        extra_test_splits: Further test splits probed with the same classifier
            (synthetic: "test_biased", the background-bias check).
        needs_root: ``False`` for data generated offline: :func:`build_dataset` accepts
            ``root=None`` (``root`` is then an optional cache) and the pipelines pass
            ``None`` unless a root is given explicitly in the dataset's options.
        downloadable: Whether ``download=True`` can fetch it (the not-found message).
        masks_by_path: Images are files under ``root`` and mask caches / mask files are
            keyed by their relative path (imagefolder): pretraining reads it with
            :class:`~segaug.data.masked.MaskedImageFolder`.
        pretrain_kwargs: ``(image_size, num_samples) -> factory keyword arguments``
            used by pretraining (synthetic renders at the training size and honours
            ``data.num_samples``); ``None``: no such options.
        exact_backgrounds: The dataset renders each image from an object with an exact
            mask and a background: it can give every image's background alone
            (``get_backgrounds``) and its objects on flat gray, and its factory takes
            ``bias`` (how often the background family follows the class) and
            ``background="neutral"`` (the same objects, at the same places, on gray).
            ``segaug-compare``'s backgrounds protocol needs it.

    Example:
        >>> info = get_dataset_info("cifar10")
        >>> info.num_classes, info.normalization[0], info.needs_root
        (10, (0.4914, 0.4822, 0.4465), True)
    """

    name: str
    num_classes: int | None
    metric: Literal["top1", "mean_per_class"]
    image_size: int
    splits: tuple[str, ...]
    folder: str
    has_masks: bool = False
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    official_val: bool = False
    extra_test_splits: tuple[str, ...] = ()
    needs_root: bool = True
    downloadable: bool = True
    masks_by_path: bool = False
    pretrain_kwargs: Callable[[int, int | None], dict[str, Any]] | None = field(
        default=None, compare=False, repr=False
    )
    exact_backgrounds: bool = False

    def __post_init__(self) -> None:
        if self.metric not in ("top1", "mean_per_class"):
            raise ValueError(
                f"metric of dataset {self.name!r} must be 'top1' or 'mean_per_class', "
                f"got {self.metric!r}"
            )
        if (self.mean is None) != (self.std is None):
            raise ValueError(
                f"mean and std of dataset {self.name!r} must be given together, got "
                f"mean={self.mean!r}, std={self.std!r}"
            )
        for split in ("train", "test", *self.extra_test_splits):
            if split not in self.splits:
                raise ValueError(
                    f"splits of dataset {self.name!r} must include {split!r}, got {self.splits}"
                )
        if self.official_val and "val" not in self.splits:
            raise ValueError(
                f"official_val of dataset {self.name!r} needs a 'val' split, got {self.splits}"
            )

    @property
    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(mean, std)``: the dataset's own statistics, else ImageNet's."""
        if self.mean is None or self.std is None:
            return IMAGENET_STATS
        return self.mean, self.std

    def pretrain_options(self, image_size: int, num_samples: int | None) -> dict[str, Any]:
        """Factory keyword arguments that pretraining derives from its config.

        Example:
            >>> get_dataset_info("synthetic").pretrain_options(8, 100)
            {'size': 16, 'num_samples': 100}
            >>> get_dataset_info("cifar10").pretrain_options(32, 100)
            {}
        """
        if self.pretrain_kwargs is None:
            return {}
        return dict(self.pretrain_kwargs(image_size, num_samples))


def _synthetic_pretrain_kwargs(image_size: int, num_samples: int | None) -> dict[str, Any]:
    """Render at the training size (16 px at least) with the configured sample count."""
    return {"size": max(16, image_size), "num_samples": num_samples}


_TRAIN_TEST = ("train", "test")
_WITH_VAL = ("train", "val", "test", "trainval")

DATASET_INFO: dict[str, DatasetInfo] = {}
"""Registry name -> :class:`DatasetInfo`, filled by :func:`register_dataset`."""


def register_dataset(info: DatasetInfo) -> Callable[[F], F]:
    """Decorator: register a factory under ``info.name`` together with its descriptor.

    This is the one place a dataset is declared: the factory and everything the project
    knows about the dataset sit side by side (as timm keeps ``default_cfgs`` beside each
    model factory).

    Raises:
        ValueError: If ``info`` is not a :class:`DatasetInfo` or the name is taken.

    Example:
        >>> from segaug.data.registry import DATASET_INFO, DATASETS
        >>> DATASET_INFO["synthetic"].official_val, DATASETS.get("synthetic").__name__
        (True, '_synthetic')
    """
    if not isinstance(info, DatasetInfo):
        raise ValueError(f"info must be a DatasetInfo, got {type(info).__name__}")
    register = DATASETS.register(info.name)

    def decorator(factory: F) -> F:
        register(factory)
        DATASET_INFO[info.name] = info
        return factory

    return decorator


def get_dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a registered dataset.

    Raises:
        ValueError: If ``name`` is not a registered dataset.
    """
    DATASETS.get(name)  # raises ValueError listing the known names
    return DATASET_INFO[name.lower()]


def list_datasets() -> list[str]:
    """Sorted names accepted by :func:`build_dataset`."""
    return DATASETS.names()


# ----------------------------------------------------------------------------- errors
class DatasetNotFoundError(FileNotFoundError):
    """A dataset is missing (or incomplete) under ``root`` and could not be downloaded.

    The message names the dataset, the expected folder, and the two fixes: pass
    ``download=True`` (needs internet access) or place the extracted files there.
    """


def _not_found(
    name: str, expected: Path, download: bool, cause: BaseException | None = None
) -> DatasetNotFoundError:
    info = DATASET_INFO.get(name)
    if info is not None and not info.downloadable:
        reason = f"has no usable class folders at '{expected}'"
        fix = (
            "It cannot be downloaded: place one folder of images per class there "
            "(e.g. <root>/train/<class>/img.jpg and <root>/val/<class>/img.jpg)."
        )
    elif download:
        reason = f"could not be downloaded to '{expected}'"
        fix = (
            "download=True needs internet access; offline, place the extracted files "
            "there and use download=False."
        )
    else:
        exists = expected.exists()
        reason = (
            f"is incomplete or corrupted at '{expected}'"
            if exists
            else f"was not found: expected its files at '{expected}'"
        )
        fix = "Pass download=True (needs internet access) or place the extracted files there."
    detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return DatasetNotFoundError(f"dataset {name!r} {reason}{detail}. {fix}")


def _construct(name: str, expected: Path, download: bool, make: Callable[[], T]) -> T:
    """Call a torchvision constructor, turning its missing-data errors into ours."""
    if not download and not expected.exists():
        raise _not_found(name, expected, download)
    try:
        return make()
    except (RuntimeError, OSError) as err:  # URLError and HTTPError are OSErrors
        raise _not_found(name, expected, download, err) from err


# ---------------------------------------------------------------------------- wrapper
class LabeledImageDataset(Dataset):
    """A torchvision dataset seen as ``(PIL RGB image, int label)`` pairs, optionally a subset.

    Args:
        base: The underlying dataset; ``base[j]`` returns ``(image, label)``.
        name: Registry name, for :attr:`info` and ``repr``.
        split: Our split name.
        labels: Label of every item of ``base`` (read without decoding images).
        classes: Class names, ``classes[label]``.
        indices: Items of ``base`` that form this split; ``None`` for all of them.
        transform: Optional callable applied to the PIL image.

    Shape:
        - ``ds[i]``: (PIL RGB image, int label); ``ds.targets``: list of ``len(ds)`` ints.

    Example:
        >>> from torchvision.datasets import FakeData
        >>> base = FakeData(size=4, image_size=(3, 8, 8), num_classes=2)
        >>> labels = [int(base[j][1]) for j in range(4)]
        >>> ds = LabeledImageDataset(base, "imagefolder", "train", labels, ["a", "b"], [0, 2])
        >>> len(ds), ds[1][0].mode
        (2, 'RGB')
    """

    def __init__(
        self,
        base: Dataset,
        name: str,
        split: str,
        labels: Sequence[int],
        classes: Sequence[str],
        indices: Sequence[int] | None = None,
        transform: Callable[[Image.Image], Any] | None = None,
    ) -> None:
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None, got {transform!r}")
        size = len(base)  # type: ignore[arg-type]  # torch's Dataset declares no __len__
        if len(labels) != size:
            raise ValueError(
                f"labels must have one entry per item of base ({size}), got {len(labels)}"
            )
        self.base = base
        self.name = name
        self.split = split
        self.classes = list(classes)
        self.transform = transform
        self.indices = list(range(len(labels))) if indices is None else [int(i) for i in indices]
        """Positions in ``base`` of this split's items."""
        self.targets = [int(labels[j]) for j in self.indices]

    @property
    def info(self) -> DatasetInfo:
        """The :class:`DatasetInfo` of this dataset."""
        return DATASET_INFO[self.name]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, label = self._load(self.indices[index])
        if image.mode != "RGB":
            image = image.convert("RGB")  # Caltech-101 and SUN397 hold some grey images
        return (self.transform(image) if self.transform is not None else image), label

    def _load(self, j: int) -> tuple[Image.Image, int]:
        image, label = self.base[j]
        return image, int(label)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, len={len(self)})"


class OxfordPetDataset(LabeledImageDataset):
    """Oxford-IIIT Pet with its ground-truth masks.

    ``base`` must be built with ``target_types=["category", "segmentation"]``. The trimap
    marks pet (1), background (2) and border (3); :meth:`get_mask` counts pet and border
    as foreground.

    Shape:
        - ``ds.get_mask(i)``: :math:`(H, W)` uint8 in {0, 1}, the image's own resolution.
    """

    def _load(self, j: int) -> tuple[Image.Image, int]:
        image, (label, _) = self.base[j]
        return image, int(label)

    def get_mask(self, index: int) -> np.ndarray:
        """Foreground mask of item ``index``: uint8 (H, W), 1 on pet and border pixels."""
        j = self.indices[index]
        seg_files = getattr(self.base, "_segs", None)
        if seg_files is not None:  # fast path: read the trimap only, not the photo
            with Image.open(seg_files[j]) as seg:
                trimap = np.asarray(seg)
        else:
            trimap = np.asarray(self.base[j][1][1])
        return (trimap != 2).astype(np.uint8)


# ----------------------------------------------------------------------------- splits
def _per_class_split(
    labels: Sequence[int],
    train_per_class: int,
    test_per_class: int | None,
    seed: int,
) -> dict[str, list[int]]:
    """Deterministic per-class split: shuffle each class with ``seed``, take the first
    ``train_per_class`` for train and the next ``test_per_class`` (or the rest) for test.
    A class with too few items keeps at least one for test when it has two or more."""
    labels_arr = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    test: list[int] = []
    for cls in np.unique(labels_arr):
        members = np.flatnonzero(labels_arr == cls)
        members = members[rng.permutation(len(members))]
        n_train = min(train_per_class, max(len(members) - 1, 1))
        rest = members[n_train:]
        train.extend(members[:n_train].tolist())
        test.extend((rest if test_per_class is None else rest[:test_per_class]).tolist())
    return {"train": sorted(train), "test": sorted(test)}


def _check_count(argument: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{argument} must be an int >= {minimum}, got {value!r}")
    return value


def _labels_of(base: Any, attribute: str) -> list[int]:
    return [int(y) for y in getattr(base, attribute)]


# -------------------------------------------------------------------------- factories
@register_dataset(
    DatasetInfo(
        "cifar10",
        10,
        "top1",
        32,
        _TRAIN_TEST,
        "cifar-10-batches-py",
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    )
)
def _cifar10(
    root: Path, split: str, download: bool, transform: Callable | None = None
) -> LabeledImageDataset:
    base = _construct(
        "cifar10",
        root / "cifar-10-batches-py",
        download,
        lambda: tvd.CIFAR10(str(root), train=split == "train", download=download),
    )
    return LabeledImageDataset(
        base, "cifar10", split, base.targets, base.classes, transform=transform
    )


@register_dataset(
    DatasetInfo(
        "cifar100",
        100,
        "top1",
        32,
        _TRAIN_TEST,
        "cifar-100-python",
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
    )
)
def _cifar100(
    root: Path, split: str, download: bool, transform: Callable | None = None
) -> LabeledImageDataset:
    base = _construct(
        "cifar100",
        root / "cifar-100-python",
        download,
        lambda: tvd.CIFAR100(str(root), train=split == "train", download=download),
    )
    return LabeledImageDataset(
        base, "cifar100", split, base.targets, base.classes, transform=transform
    )


@register_dataset(
    DatasetInfo(
        "stl10",
        10,
        "top1",
        96,
        ("train", "test", "unlabeled", "train+unlabeled"),
        "stl10_binary",
        mean=(0.4467, 0.4398, 0.4066),
        std=(0.2603, 0.2566, 0.2713),
    )
)
def _stl10(
    root: Path,
    split: str,
    download: bool,
    transform: Callable | None = None,
    folds: int | None = None,
) -> LabeledImageDataset:
    """Unlabeled images carry the label -1."""
    if folds is not None and (isinstance(folds, bool) or folds not in range(10)):
        raise ValueError(f"folds must be None or an int in [0, 9], got {folds!r}")
    base = _construct(
        "stl10",
        root / "stl10_binary",
        download,
        lambda: tvd.STL10(str(root), split=split, folds=folds, download=download),
    )
    return LabeledImageDataset(
        base, "stl10", split, _labels_of(base, "labels"), base.classes, transform=transform
    )


def _with_trainval(
    split: str, make: Callable[[str], Any], labels: Callable[[Any], list[int]]
) -> tuple[Dataset, list[int]]:
    """Build ``split`` with ``make``; "trainval" concatenates the train and val splits."""
    if split != "trainval":
        base = make(split)
        return base, labels(base)
    train, val = make("train"), make("val")
    return ConcatDataset([train, val]), labels(train) + labels(val)


@register_dataset(
    DatasetInfo(
        "flowers102", 102, "mean_per_class", 224, _WITH_VAL, "flowers-102", official_val=True
    )
)
def _flowers102(
    root: Path, split: str, download: bool, transform: Callable | None = None
) -> LabeledImageDataset:
    def make(s: str) -> Any:
        return _construct(
            "flowers102",
            root / "flowers-102",
            download,
            lambda: tvd.Flowers102(str(root), split=s, download=download),
        )

    base, labels = _with_trainval(split, make, lambda b: _labels_of(b, "_labels"))
    return LabeledImageDataset(
        base, "flowers102", split, labels, tvd.Flowers102.classes, transform=transform
    )


@register_dataset(
    DatasetInfo(
        "oxford_iiit_pet",
        37,
        "mean_per_class",
        224,
        ("train", "trainval", "test"),
        "oxford-iiit-pet",
        has_masks=True,
    )
)
def _oxford_iiit_pet(
    root: Path, split: str, download: bool, transform: Callable | None = None
) -> OxfordPetDataset:
    """ "train" and "trainval" are torchvision's "trainval" (the official training set)."""
    tv_split = "test" if split == "test" else "trainval"
    base = _construct(
        "oxford_iiit_pet",
        root / "oxford-iiit-pet",
        download,
        lambda: tvd.OxfordIIITPet(
            str(root),
            split=tv_split,
            target_types=["category", "segmentation"],
            download=download,
        ),
    )
    return OxfordPetDataset(
        base,
        "oxford_iiit_pet",
        split,
        _labels_of(base, "_labels"),
        base.classes,
        transform=transform,
    )


@register_dataset(
    DatasetInfo(
        "caltech101", 101, "mean_per_class", 224, _TRAIN_TEST, "caltech101/101_ObjectCategories"
    )
)
def _caltech101(
    root: Path,
    split: str,
    download: bool,
    transform: Callable | None = None,
    train_per_class: int = 30,
    split_seed: int = 0,
) -> LabeledImageDataset:
    """No official split: ``train_per_class`` random images per class for train (30, as
    in Kornblith et al. 2019), the rest for test, shuffled with ``split_seed``."""
    _check_count("train_per_class", train_per_class)
    _check_count("split_seed", split_seed, minimum=0)
    base = _construct(
        "caltech101",
        root / "caltech101" / "101_ObjectCategories",
        download,
        lambda: tvd.Caltech101(str(root), target_type="category", download=download),
    )
    labels = _labels_of(base, "y")  # torchvision's order is stable: sorted class folders
    indices = _per_class_split(labels, train_per_class, None, split_seed)[split]
    return LabeledImageDataset(
        base, "caltech101", split, labels, base.categories, indices, transform=transform
    )


@register_dataset(DatasetInfo("sun397", 397, "top1", 224, _TRAIN_TEST, "SUN397"))
def _sun397(
    root: Path,
    split: str,
    download: bool,
    transform: Callable | None = None,
    train_per_class: int = 50,
    test_per_class: int | None = 50,
    split_seed: int = 0,
) -> LabeledImageDataset:
    """No official split in torchvision: per class, ``train_per_class`` random images for
    train and the next ``test_per_class`` (``None``: all the rest) for test, shuffled with
    ``split_seed``; 50/50 matches the size of SUN397's ten official partitions."""
    _check_count("train_per_class", train_per_class)
    if test_per_class is not None:
        _check_count("test_per_class", test_per_class)
    _check_count("split_seed", split_seed, minimum=0)
    base = _construct(
        "sun397",
        root / "SUN397",
        download,
        lambda: tvd.SUN397(str(root), download=download),
    )
    # torchvision lists the files with rglob, whose order depends on the file system:
    # order by path first so the split is the same on every machine.
    order = sorted(range(len(base)), key=lambda j: str(base._image_files[j]))
    labels = _labels_of(base, "_labels")
    ordered = [labels[j] for j in order]
    chosen = _per_class_split(ordered, train_per_class, test_per_class, split_seed)[split]
    indices = [order[k] for k in chosen]
    return LabeledImageDataset(
        base, "sun397", split, labels, base.classes, indices, transform=transform
    )


@register_dataset(DatasetInfo("dtd", 47, "top1", 224, _WITH_VAL, "dtd/dtd", official_val=True))
def _dtd(
    root: Path,
    split: str,
    download: bool,
    transform: Callable | None = None,
    partition: int = 1,
) -> LabeledImageDataset:
    """``partition`` picks one of DTD's ten official splits (1..10)."""
    if isinstance(partition, bool) or partition not in range(1, 11):
        raise ValueError(f"partition must be an int in [1, 10], got {partition!r}")

    def make(s: str) -> Any:
        return _construct(
            "dtd",
            root / "dtd" / "dtd",
            download,
            lambda: tvd.DTD(str(root), split=s, partition=partition, download=download),
        )

    base, labels = _with_trainval(split, make, lambda b: _labels_of(b, "_labels"))
    classes = base.datasets[0].classes if isinstance(base, ConcatDataset) else base.classes
    return LabeledImageDataset(base, "dtd", split, labels, classes, transform=transform)


@register_dataset(DatasetInfo("food101", 101, "top1", 224, _TRAIN_TEST, "food-101"))
def _food101(
    root: Path, split: str, download: bool, transform: Callable | None = None
) -> LabeledImageDataset:
    base = _construct(
        "food101",
        root / "food-101",
        download,
        lambda: tvd.Food101(str(root), split=split, download=download),
    )
    return LabeledImageDataset(
        base, "food101", split, _labels_of(base, "_labels"), base.classes, transform=transform
    )


_IMAGENETTE_FOLDERS = {
    "full": "imagenette2",
    "320px": "imagenette2-320",
    "160px": "imagenette2-160",
}


@register_dataset(
    DatasetInfo("imagenette", 10, "top1", 224, ("train", "val", "test"), "imagenette2")
)
def _imagenette(
    root: Path,
    split: str,
    download: bool,
    transform: Callable | None = None,
    size: str = "full",
) -> LabeledImageDataset:
    """Imagenette has train and val only: "test" is the val split. ``size`` is "full",
    "320px" or "160px" (the shorter side of the stored images)."""
    if size not in _IMAGENETTE_FOLDERS:
        raise ValueError(f"size must be one of {sorted(_IMAGENETTE_FOLDERS)}, got {size!r}")
    tv_split = "train" if split == "train" else "val"
    base = _construct(
        "imagenette",
        root / _IMAGENETTE_FOLDERS[size] / tv_split,
        download,
        lambda: tvd.Imagenette(str(root), split=tv_split, size=size, download=download),
    )
    labels = [int(label) for _, label in base._samples]
    classes = [names[0] for names in base.classes]  # torchvision gives tuples of synonyms
    return LabeledImageDataset(base, "imagenette", split, labels, classes, transform=transform)


@register_dataset(
    DatasetInfo(
        "imagefolder",
        None,
        "top1",
        224,
        ("train", "val", "test"),
        ".",
        downloadable=False,
        masks_by_path=True,
    )
)
def _imagefolder(
    root: Path, split: str, download: bool, transform: Callable | None = None
) -> LabeledImageDataset:
    """``root`` holds ``train/``, ``val/`` and/or ``test/``, each with one folder per class
    ("test" falls back to ``val/`` when there is no ``test/``); or ``root`` holds the class
    folders directly, which serves as the "train" split only."""
    if download:
        raise ValueError("download must be False for 'imagefolder': there is nothing to fetch")
    split_dirs = [root / s for s in ("train", "val", "test")]
    if any(d.is_dir() for d in split_dirs):
        folder = root / split
        if split == "test" and not folder.is_dir() and (root / "val").is_dir():
            folder = root / "val"
    elif split == "train":
        folder = root
    else:
        raise _not_found("imagefolder", root / split, download=False)
    base = _construct("imagefolder", folder, False, lambda: tvd.ImageFolder(str(folder)))
    return LabeledImageDataset(
        base, "imagefolder", split, base.targets, base.classes, transform=transform
    )


@register_dataset(
    DatasetInfo(
        "synthetic",
        10,
        "top1",
        64,
        ("train", "val", "test", "test_biased"),
        "synthetic_shapes",
        has_masks=True,
        official_val=True,
        extra_test_splits=("test_biased",),
        needs_root=False,
        downloadable=False,
        pretrain_kwargs=_synthetic_pretrain_kwargs,
        exact_backgrounds=True,
    )
)
def _synthetic(
    root: Path | None,
    split: str,
    download: bool,
    transform: Callable | None = None,
    size: int = 64,
    num_samples: int | None = None,
    bias: float = 0.9,
    seed: int = 0,
    style: ShapeStyle | dict[str, Any] | None = None,
    background: str | None = None,
) -> SyntheticShapes:
    """Generated offline, nothing to download; ``root`` (optional) is a disk cache.

    ``style`` is a :class:`~segaug.data.synthetic.ShapeStyle` or a dict of its fields
    (from a YAML config); ``background`` (``"texture"`` or ``"neutral"``), when given,
    replaces the style's, as every dataset with exact backgrounds takes it.
    """
    if isinstance(style, dict):
        fields = set(ShapeStyle.__dataclass_fields__)
        unknown = sorted(set(style) - fields)
        if unknown:
            raise ValueError(f"style: unknown fields {unknown}; expected some of {sorted(fields)}")
        style = ShapeStyle(**{k: tuple(v) if k == "coverage" else v for k, v in style.items()})
    if background is not None:
        style = replace(style if style is not None else ShapeStyle(), background=background)
    return SyntheticShapes(
        split,
        size=size,
        num_samples=num_samples,
        bias=bias,
        seed=seed,
        root=root,
        transform=transform,
        style=style,
    )


# ----------------------------------------------------------------------------- public
def build_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    download: bool = False,
    **kwargs: Any,
) -> Dataset:
    """Build a registered dataset split as ``(PIL RGB image, int label)`` pairs.

    Args:
        name: One of :func:`list_datasets` (cifar10, cifar100, stl10, flowers102,
            oxford_iiit_pet, caltech101, sun397, dtd, food101, imagenette, imagefolder,
            synthetic).
        root: Folder that holds (or will receive) the dataset, as for torchvision. For
            "imagefolder" the image folder itself; for "synthetic" an optional cache.
        split: One of ``get_dataset_info(name).splits``: "train" and "test" everywhere,
            "val"/"trainval" where the dataset has a validation split, "unlabeled" for
            stl10, "test_biased" for synthetic.
        download: Passed to torchvision; needs internet access.
        **kwargs: Per-dataset options: ``transform`` (all); ``folds`` (stl10);
            ``partition`` (dtd); ``size`` (imagenette, synthetic); ``train_per_class``,
            ``split_seed`` (caltech101, sun397); ``test_per_class`` (sun397);
            ``num_samples``, ``bias``, ``seed`` (synthetic).

    Returns:
        A dataset with ``len``, ``ds[i] -> (image, label)``, ``classes`` and ``targets``;
        "oxford_iiit_pet" and "synthetic" also have ``get_mask(i)``.

    Raises:
        ValueError: Unknown name, split or keyword argument, or a bad value.
        DatasetNotFoundError: The files are not under ``root`` and could not be downloaded.

    Shape:
        - ``ds[i]``: (PIL RGB image, int label); ``ds.get_mask(i)``: :math:`(H, W)` uint8.

    Example:
        >>> ds = build_dataset("synthetic", split="train", num_samples=20, size=32)
        >>> ds[0][0].size, ds.classes[ds[0][1]]
        ((32, 32), 'circle')
    """
    factory = DATASETS.get(name)  # ValueError listing the names if unknown
    key = name.lower()
    info = DATASET_INFO[key]
    if not isinstance(split, str) or split not in info.splits:
        raise ValueError(f"split for {key!r} must be one of {list(info.splits)}, got {split!r}")
    if not isinstance(download, bool):
        raise ValueError(f"download must be a bool, got {download!r}")
    if root is None and info.needs_root:
        raise ValueError(f"root must be a folder path for {key!r}, got None")
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root must be a str or os.PathLike, got {type(root).__name__}")
    fixed = ("root", "split", "download")
    accepted = [p for p in inspect.signature(factory).parameters if p not in fixed]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"unexpected keyword argument(s) {unknown} for dataset {key!r}; accepted: {accepted}"
        )
    path = Path(root).expanduser() if root is not None else None
    return factory(root=path, split=split, download=download, **kwargs)

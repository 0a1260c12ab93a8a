"""One dataset descriptor (issue 12 item 3): everything about a dataset beside its factory."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from segaug.constants import IMAGENET_STATS
from segaug.data import DATASET_INFO, DATASETS, DatasetInfo, build_dataset, get_dataset_info
from segaug.data.registry import register_dataset
from segaug.data.synthetic import SyntheticShapes
from simclr.config import DataConfig
from simclr.data import DATASET_STATS, build_pretrain_dataset, normalization_stats

REPO = Path(__file__).resolve().parents[3]


def _comparisons_with_dataset_names(path: Path) -> list[str]:
    """``x == "name"`` / ``x != "name"`` / ``x in ("name", ...)`` with a registered name."""
    names = set(DATASET_INFO)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        for op, right in zip(node.ops, node.comparators, strict=True):
            values = [node.left, right]
            if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.Tuple, ast.Set)):
                values += list(right.elts)
            elif not isinstance(op, (ast.Eq, ast.NotEq)):
                continue
            hits = [v.value for v in values if isinstance(v, ast.Constant) and v.value in names]
            if hits:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {hits}")
    return found


def test_no_dataset_name_branches_outside_the_descriptors() -> None:
    files = [p for pkg in ("segaug", "simclr") for p in sorted((REPO / pkg).rglob("*.py"))]
    found = [hit for p in files for hit in _comparisons_with_dataset_names(p)]
    assert found == []
    text = "\n".join(p.read_text() for p in files)
    assert not re.search(r"[!=]= ?\"synthetic\"", text)


def test_descriptors_hold_what_other_modules_used_to_know() -> None:
    from simclr.evaluate.suite import EXTRA_TEST_SPLITS, OFFICIAL_VAL

    assert OFFICIAL_VAL == {"flowers102", "dtd", "synthetic", "objects_on_photos"}
    assert EXTRA_TEST_SPLITS == {
        "synthetic": ("test_biased",),
        "objects_on_photos": ("test_biased",),
    }
    assert set(DATASET_STATS) == {"cifar10", "cifar100", "stl10"}
    assert DATASET_STATS["cifar10"] == ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
    assert get_dataset_info("flowers102").normalization == IMAGENET_STATS
    synthetic = get_dataset_info("synthetic")
    assert not synthetic.needs_root and synthetic.has_masks
    assert synthetic.pretrain_options(8, 40) == {"size": 16, "num_samples": 40}
    assert synthetic.pretrain_options(48, None) == {"size": 48, "num_samples": None}
    assert get_dataset_info("imagefolder").masks_by_path
    assert [n for n, i in DATASET_INFO.items() if i.masks_by_path] == ["imagefolder"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": "top5"}, r"metric of dataset 'toy'.*'top5'"),
        ({"mean": (0.5, 0.5, 0.5)}, r"mean and std of dataset 'toy' must be given together"),
        ({"extra_test_splits": ("hard",)}, r"splits of dataset 'toy' must include 'hard'"),
        ({"official_val": True}, r"official_val of dataset 'toy' needs a 'val' split"),
    ],
)
def test_bad_descriptor_is_refused(kwargs, match) -> None:
    base = {
        "name": "toy",
        "num_classes": 2,
        "metric": "top1",
        "image_size": 16,
        "splits": ("train", "test"),
        "folder": ".",
    }
    with pytest.raises(ValueError, match=match):
        DatasetInfo(**{**base, **kwargs})


def test_register_dataset_refuses_a_non_descriptor_and_a_taken_name() -> None:
    with pytest.raises(ValueError, match="info must be a DatasetInfo, got dict"):
        register_dataset({"name": "toy"})  # type: ignore[arg-type]
    info = DatasetInfo("synthetic", 2, "top1", 16, ("train", "test"), ".")
    with pytest.raises(ValueError, match="already registered"):
        register_dataset(info)(lambda root, split, download: None)


@pytest.fixture
def toy_dataset() -> Iterator[str]:
    """A new dataset added as one entry (descriptor + factory), removed afterwards."""
    name = "toy_shapes"

    @register_dataset(
        DatasetInfo(
            name, 10, "mean_per_class", 16, ("train", "val", "test", "test_biased"),
            "toy_shapes", has_masks=True, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
            official_val=True, extra_test_splits=("test_biased",), needs_root=False,
            downloadable=False,
            pretrain_kwargs=lambda size, n: {"size": size, "num_samples": n},
        )
    )  # fmt: skip
    def _toy(root, split, download, transform=None, size=16, num_samples=None):
        return SyntheticShapes(split, size=size, num_samples=num_samples, transform=transform)

    try:
        yield name
    finally:
        DATASETS._entries.pop(name)
        DATASET_INFO.pop(name)


def test_one_entry_adds_a_dataset_everywhere(toy_dataset, tmp_path) -> None:
    """Registry, normalisation, pretraining data and the evaluation suite all read it."""
    from simclr.evaluate.features import RawPixels
    from simclr.evaluate.suite import EvalSettings, evaluate_dataset

    assert len(build_dataset(toy_dataset, split="test", num_samples=12)) == 12
    cfg = DataConfig(dataset=toy_dataset, image_size=16, num_samples=12, root="/nope")
    assert normalization_stats(cfg) == ([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    assert DATASET_STATS[toy_dataset] == ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    ds = build_pretrain_dataset(cfg)  # needs_root=False: data.root is not used
    assert len(ds) == 12
    image, mask, _ = ds[0]
    assert tuple(image.shape) == (3, 16, 16) and tuple(mask.shape) == (1, 16, 16)

    s = EvalSettings(
        datasets=[toy_dataset], data_root=str(tmp_path / "absent"), image_size=16,
        dataset_kwargs={toy_dataset: {"num_samples": 40}}, protocols=("linear",),
        floors=(), plots=(), l2_grid=(1e-2,), max_iter=20, progress=False, device="cpu",
    )  # fmt: skip
    s.validate()
    report = evaluate_dataset(toy_dataset, RawPixels(4), "raw4", s)
    assert report["metric"] == "mean_per_class"
    assert report["splits"]["val_source"] == "official 'val' split"
    assert set(report["extra_tests"]) == {"test_biased"}
    assert "linear_test_biased" in report["summary"]

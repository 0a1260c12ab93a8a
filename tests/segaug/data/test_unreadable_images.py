"""Unreadable image files: left out with one warning, recorded by precompute, or one error."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from segaug.data.masked import MaskedImageFolder
from segaug.data.unreadable import (
    BadImageError,
    BadImageWarning,
    UnreadableImages,
    read_unreadable_log,
)
from segaug.masks import MaskCache
from segaug.masks.precompute import cache_report, precompute_masks
from simclr.evaluate.features import TransformedDataset

SIZE = 32


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = (rng.random((SIZE, SIZE + 8, 3)) * 60 + 40).astype(np.uint8)
    img[8:24, 10:30] = (220, 40 + 10 * seed, 30)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _folder(root: Path) -> dict[str, Path]:
    """Six good JPEGs in two classes, one truncated JPEG and one zero-byte file."""
    for i in range(6):
        path = root / ("cat" if i % 2 else "dog") / f"img_{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_jpeg(i))
    bad = {"truncated": root / "cat" / "img_1b.jpg", "empty": root / "dog" / "img_2b.jpg"}
    bad["truncated"].write_bytes(_jpeg(9)[:300])
    bad["empty"].write_bytes(b"")
    return bad


def _reader(bad: set[int]):
    def read(i: int) -> int:
        if i in bad:
            raise OSError("image file is truncated")
        return i

    return read


def test_skip_reads_the_next_readable_item_wrapping_around_and_warns_once() -> None:
    policy = UnreadableImages("skip", describe=lambda i: f"f{i}.jpg")
    with pytest.warns(BadImageWarning) as caught:
        got = [policy.read(i, 5, _reader({1, 2, 4})) for i in range(5)]
    assert got == [0, 3, 3, 3, 0]  # item 4 wraps to item 0
    assert len(caught) == 1 and "f1.jpg" in str(caught[0].message)
    assert sorted(policy.found) == [1, 2, 4]
    with pytest.raises(BadImageError, match="none of the 2 images"), pytest.warns(BadImageWarning):
        UnreadableImages("skip").read(0, 2, _reader({0, 1}))


def test_error_names_the_file_and_the_setting() -> None:
    policy = UnreadableImages("error", describe=lambda i: f"'f{i}.jpg'", argument="data.x")
    assert policy.read(0, 3, _reader({1})) == 0
    with pytest.raises(BadImageError) as err:
        policy.read(1, 3, _reader({1}))
    msg = str(err.value)
    assert "'f1.jpg'" in msg and "image file is truncated" in msg and "data.x=skip" in msg
    with pytest.raises(ValueError, match="on_bad_image must be one of skip, error, got 'drop'"):
        UnreadableImages("drop")


def test_masked_folder_with_an_on_the_fly_segmenter_leaves_bad_files_out(tmp_path) -> None:
    bad = _folder(tmp_path / "src")
    ds = MaskedImageFolder(tmp_path / "src", masks="classical", size=SIZE)
    ds.unreadable.log_path = tmp_path / "unreadable.txt"
    assert len(ds) == 8
    # Two worker processes each meet a bad file; the log collects both.
    loader = DataLoader(ds, batch_size=4, num_workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadImageWarning)  # the workers' warnings
        batches = list(loader)
    images = torch.cat([b[0] for b in batches])
    assert images.shape == (8, 3, SIZE, SIZE)
    logged = read_unreadable_log(tmp_path / "unreadable.txt")
    assert set(logged) == {repr(str(p)) for p in bad.values()}
    assert "truncated" in logged[repr(str(bad["truncated"]))].lower()
    # The item of a bad file is the next readable one's, image and mask alike.
    paths = [p for p, _ in ds.base.samples]
    i = paths.index(str(bad["truncated"]))
    with pytest.warns(BadImageWarning, match="left out"):
        item = ds[i]
    assert all(torch.equal(a, b) for a, b in zip(item[:2], ds[i + 1][:2], strict=True))

    strict = MaskedImageFolder(tmp_path / "src", masks="classical", size=SIZE, on_bad_image="error")
    with pytest.raises(BadImageError, match=str(bad["truncated"]).replace(".", r"\.")):
        strict[i]


def test_precompute_records_unreadable_files_and_training_data_leaves_them_out(tmp_path) -> None:
    bad = _folder(tmp_path / "src")
    out = tmp_path / "cache"
    summary = precompute_masks(tmp_path / "src", out, size=SIZE, progress=False)
    assert summary.done == 6 and len(summary.failed) == 2
    failures = MaskCache(out).failures()
    assert set(failures) == {"cat/img_1b.jpg", "dog/img_2b.jpg"}
    assert {kind for kind, _ in failures.values()} == {"image"}
    report = cache_report(out)
    assert "unreadable images (datasets reading this cache leave them out): 2" in report
    assert "cat/img_1b.jpg" in report

    # No MissingMaskError: one warning naming the count, and the files are never read.
    with pytest.warns(BadImageWarning, match="2 of 8 images could not be read"):
        ds = MaskedImageFolder(tmp_path / "src", masks=out, size=SIZE)
    for p in bad.values():
        p.write_bytes(b"")  # even a changed file is not read again in this dataset
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no new warning: the bad items are known
        items = [ds[i] for i in range(len(ds))]
    assert len(items) == 8
    with pytest.raises(BadImageError, match="img_1b.jpg"):
        MaskedImageFolder(tmp_path / "src", masks=out, size=SIZE, on_bad_image="error")

    # A repaired file gets its mask on the next run and leaves the record.
    bad["truncated"].write_bytes(_jpeg(9))
    again = precompute_masks(tmp_path / "src", out, size=SIZE, progress=False)
    assert (again.done, again.skipped, len(again.failed)) == (1, 6, 1)
    assert set(MaskCache(out).failures()) == {"dog/img_2b.jpg"}
    MaskCache(out).compact()
    assert set(MaskCache(out).failures()) == {"dog/img_2b.jpg"}
    assert len(list((out / "failed").iterdir())) == 1


def test_a_precompute_rerun_at_another_size_recomputes_the_masks(tmp_path) -> None:
    _folder(tmp_path / "src")
    out = tmp_path / "cache"
    precompute_masks(tmp_path / "src", out, size=SIZE, progress=False)
    assert min(MaskCache(out).shape("dog/img_0.jpg")) == SIZE
    again = precompute_masks(tmp_path / "src", out, size=24, progress=False)
    assert (again.done, again.resized, again.skipped) == (6, 6, 0)
    assert "recomputed at the new size: 6" in again.format()
    assert all(min(MaskCache(out).shape(f"dog/img_{i}.jpg")) == 24 for i in (0, 2, 4))
    third = precompute_masks(tmp_path / "src", out, size=24, progress=False)
    assert (third.done, third.skipped) == (0, 6)


def test_evaluation_features_leave_bad_files_out(tmp_path) -> None:
    from torchvision.datasets import ImageFolder

    _folder(tmp_path / "src")
    folder = ImageFolder(str(tmp_path / "src"))
    ds = TransformedDataset(folder, lambda im: torch.as_tensor(np.array(im.resize((8, 8)))))
    with pytest.warns(BadImageWarning):
        items = [ds[i] for i in range(len(ds))]
    assert len(items) == 8 and all(x.shape == (8, 8, 3) for x, _ in items)


def _train(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["--set", "data.dataset=imagefolder", f"data.root={tmp_path / 'src'}",
            "data.masks=classical", "data.image_size=16", "data.batch_size=4",
            "augment.output_size=16", "model.backbone=resnet18", "model.width=0.125",
            "train.epochs=1", "train.device=cpu", "train.plots=false",
            "train.online_probe=false", f"train.output_dir={tmp_path / 'run'}", *extra]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "simclr.train", *args], capture_output=True, text=True, timeout=300
    )


def test_simclr_train_leaves_bad_files_out_and_lists_them_or_stops_in_one_line(tmp_path) -> None:
    bad = _folder(tmp_path / "src")
    run = _train(tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    listed = read_unreadable_log(tmp_path / "run" / "unreadable_images.txt")
    assert set(listed) == {repr(str(p)) for p in bad.values()}
    assert "2 unreadable image file(s) left out so far" in run.stderr + run.stdout

    strict = _train(tmp_path, "data.on_bad_image=error", f"train.output_dir={tmp_path / 'r2'}")
    assert strict.returncode == 2
    assert strict.stderr.count("simclr-train: error:") == 1, strict.stderr
    assert "Traceback" not in strict.stderr
    line = strict.stderr.split("simclr-train: error:")[1].splitlines()[0]
    assert "cannot read image" in line and "/src/" in line and ".jpg" in line
    assert "data.on_bad_image=skip" in line

    wrong = _train(tmp_path, "data.on_bad_image=drop", f"train.output_dir={tmp_path / 'r3'}")
    assert wrong.returncode == 2
    assert "config 'data.on_bad_image' = 'drop': expected skip or error" in wrong.stderr

"""The ``files`` mask source: annotation files mirroring an image folder.

Round trips on generated binary PNGs, Oxford-Pets-style trimaps, a VOC-style palette
image with a 255 border; missing and size-mismatched files are reported by path and
the run goes on; precompute through the source writes, resumes and invalidates the
cache; the trainer's ``data.masks`` accepts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segaug.cli.precompute_masks import main as precompute_main
from segaug.data.masked import MaskedDataset, MaskedImageFolder
from segaug.masks import (
    MaskCache,
    MaskFileError,
    MaskFileWarning,
    MaskSource,
    create_mask_source,
    create_segmenter,
)
from segaug.masks.files import FileMasks
from segaug.masks.precompute import ABORT_ENV, precompute_masks
from segaug.masks.resolve import parse_source_spec

REPO = Path(__file__).resolve().parents[3]


def _dataset(root: Path, n: int = 6, kind: str = "binary", seed: int = 0) -> dict[str, np.ndarray]:
    """Images in ``root/images/<class>/`` and masks in ``root/masks/<class>/``.

    Returns the expected {0, 1} mask of every key (relative image path).
    """
    rng = np.random.default_rng(seed)
    expected = {}
    for i in range(n):
        h, w = 20 + 2 * i, 24 + 4 * (i % 2)
        key = f"{'cat' if i % 2 else 'dog'}/img_{i:02d}.jpg"
        img_path = root / "images" / key
        img_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(img_path)
        mask_path = (root / "masks" / key).with_suffix(".png")
        mask_path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "binary":  # 0 / 255 grey PNG
            fg = rng.random((h, w)) < 0.4
            Image.fromarray(fg.astype(np.uint8) * 255).save(mask_path)
        elif kind == "trimap":  # Oxford Pets: 1 pet, 2 background, 3 border
            values = rng.integers(1, 4, (h, w), dtype=np.uint8)
            Image.fromarray(values).save(mask_path)
            fg = np.isin(values, (1, 3))
        else:  # VOC: palette image, classes 0..20, 255 void border
            values = rng.choice(np.array([0, 0, 7, 15, 255], np.uint8), (h, w))
            _palette_png(values, mask_path)
            fg = (values != 0) & (values != 255)
        expected[key] = fg.astype(np.uint8)
    return expected


def _palette_png(values: np.ndarray, path: Path) -> None:
    im = Image.fromarray(values, mode="L").convert("P")
    im.putdata(values.reshape(-1).tolist())
    palette = np.zeros((256, 3), np.uint8)
    palette[7], palette[15], palette[255] = (128, 0, 0), (192, 128, 128), (224, 224, 192)
    im.putpalette(palette.reshape(-1).tolist())
    im.save(path)


# --------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "kind, options",
    [("binary", {}), ("trimap", {"foreground": (1, 3)}), ("voc", {"background": (0, 255)})],
)
def test_round_trip(tmp_path, kind, options):
    expected = _dataset(tmp_path, kind=kind)
    source = FileMasks(tmp_path / "masks", **options)
    for i, (key, want) in enumerate(sorted(expected.items())):
        got = source.lookup(i, key, want.shape)
        assert got.dtype == np.uint8
        assert np.array_equal(got, want), key


def test_voc_palette_file_is_read_as_indices(tmp_path):
    values = np.array([[0, 15, 255], [255, 7, 0]], np.uint8)
    _palette_png(values, tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "P"
    got = FileMasks(tmp_path, background=(0, 255)).lookup(0, "a.jpg")
    assert got.tolist() == [[0, 1, 0], [0, 1, 0]]
    # the 255 border counts as foreground under the plain binary rule: that is why
    # VOC needs background=(0, 255)
    assert FileMasks(tmp_path).lookup(0, "a.jpg").tolist() == [[0, 1, 1], [1, 1, 0]]
    # a one-bit PNG works too
    Image.fromarray(np.array([[True, False]])).convert("1").save(tmp_path / "b.png")
    assert FileMasks(tmp_path).lookup(0, "b.png").tolist() == [[1, 0]]


def test_masked_image_folder_reads_the_files(tmp_path):
    expected = _dataset(tmp_path, kind="trimap")
    spec = f"files:{tmp_path / 'masks'}?foreground=1,3"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to report
        ds = MaskedImageFolder(tmp_path / "images", masks=spec, size=16)
        items = [ds[i] for i in range(len(ds))]
    ref = MaskedImageFolder(
        tmp_path / "images", masks=FileMasks(tmp_path / "masks", (1, 3)), size=16
    )
    keys = sorted(expected)
    assert ds.keys == keys
    for i, (image, mask, _) in enumerate(items):
        assert image.shape == (3, 16, 16) and mask.shape == (1, 16, 16)
        # the mask went through the very resize the image did
        from segaug.data.masked import resize_pair

        raw = torch.from_numpy(expected[keys[i]])[None]
        img = torch.zeros(3, *raw.shape[-2:], dtype=torch.uint8)
        assert torch.equal(mask, resize_pair(img, raw, 16)[1])
        assert torch.equal(mask, ref[i][1])


# ------------------------------------------------------- missing and mismatched files


def test_missing_and_mismatched_files_are_reported_and_the_run_goes_on(tmp_path):
    expected = _dataset(tmp_path, kind="binary")
    keys = sorted(expected)
    missing = (tmp_path / "masks" / keys[0]).with_suffix(".png")
    missing.unlink()
    wrong = (tmp_path / "masks" / keys[1]).with_suffix(".png")
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(wrong)

    with pytest.warns(MaskFileWarning, match=f"1 of {len(keys)} masks.*{missing}"):
        ds = MaskedImageFolder(tmp_path / "images", masks=f"files:{tmp_path / 'masks'}", size=16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds))]
    messages = [str(w.message) for w in caught if issubclass(w.category, MaskFileWarning)]
    assert len(messages) == 1 and str(wrong) in messages[0] and "7x5" in messages[0]
    assert items[0][1].sum() == 0 and items[1][1].sum() == 0  # empty: global augmentation
    assert all(items[i][1].sum() > 0 for i in range(2, len(items)))

    source = FileMasks(tmp_path / "masks")
    with pytest.raises(MaskFileError, match=f"missing: {missing}"):
        source.lookup(0, keys[0])
    with pytest.raises(MaskFileError, match=str(wrong)):
        source.lookup(1, keys[1], expected[keys[1]].shape)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="root must be an existing mask folder"):
        FileMasks(tmp_path / "nope")
    with pytest.raises(ValueError, match="foreground must be integers"):
        FileMasks(tmp_path, foreground=("pet",))
    with pytest.raises(ValueError, match="not both"):
        FileMasks(tmp_path, foreground=(1,), background=(0, 255))
    with pytest.raises(ValueError, match="suffix"):
        FileMasks(tmp_path, suffix="png")
    with pytest.raises(ValueError, match="relative path"):
        FileMasks(tmp_path).path_for("../etc/passwd")
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        parse_source_spec("nope:/x")
    with pytest.raises(ValueError, match="integers like 1,3"):
        parse_source_spec("files:/x?foreground=pet")
    # a dataset without image paths cannot use a by-path source
    with pytest.raises(ValueError, match="MaskedImageFolder"):
        MaskedDataset([(np.zeros((8, 8, 3), np.uint8), 0)], masks=FileMasks(tmp_path))


# ------------------------------------------------------------- sources, not segmenters


def test_gt_and_files_are_mask_sources():
    from segaug.data.synthetic import SyntheticShapes

    ds = SyntheticShapes("test", size=32, num_samples=2)
    gt = create_mask_source("gt", dataset=ds)
    assert (
        isinstance(gt, MaskSource) and gt.config_id == create_segmenter("gt", dataset=ds).config_id
    )
    assert np.array_equal(gt.lookup(1, "00000001"), ds.get_mask(1))
    with pytest.raises(TypeError, match="looks masks up|reads annotations"):
        gt(torch.rand(1, 3, 8, 8))


# ------------------------------------------------------------------------- precompute


def test_precompute_through_the_files_source_resumes_and_invalidates(tmp_path):
    expected = _dataset(tmp_path, kind="trimap")
    keys = sorted(expected)
    out = tmp_path / "cache"
    spec = f"files:{tmp_path / 'masks'}?foreground=1,3"
    s = precompute_masks(tmp_path / "images", out, spec, size=None, progress=False)
    assert (s.done, s.skipped, s.failed) == (len(keys), 0, []) and s.complete
    cache = MaskCache(out)
    assert cache.selected_config.startswith('files{"foreground":[1,3]')
    for k in keys:
        assert np.array_equal(cache.load(k), expected[k]), k

    again = precompute_masks(tmp_path / "images", out, spec, size=None, progress=False)
    assert (again.done, again.skipped) == (0, len(keys))

    # a changed annotation is recomputed; a missing or mismatched one is reported
    trimap = (tmp_path / "masks" / keys[2]).with_suffix(".png")
    values = np.asarray(Image.open(trimap)).copy()
    values[:] = 2
    Image.fromarray(values).save(trimap)
    (tmp_path / "masks" / keys[0]).with_suffix(".png").unlink()
    wrong = (tmp_path / "masks" / keys[1]).with_suffix(".png")
    Image.fromarray(np.ones((3, 3), np.uint8)).save(wrong)
    third = precompute_masks(tmp_path / "images", out, spec, size=None, progress=False)
    failed = dict(third.failed)
    assert (third.done, third.skipped) == (1, len(keys) - 3)
    assert "missing" in failed[keys[0]] and str(tmp_path / "masks") in failed[keys[0]]
    assert str(wrong) in failed[keys[1]] and "3x3" in failed[keys[1]]
    assert MaskCache(out).load(keys[2]).sum() == 0
    assert keys[0] in third.format()


def test_precompute_cli_source_flag_and_resize(tmp_path, capsys):
    expected = _dataset(tmp_path, kind="voc")
    out = tmp_path / "cache"
    spec = f"files:{tmp_path / 'masks'}?background=0,255"
    argv = [str(tmp_path / "images"), "--out", str(out), "--size", "10", "--workers", "0",
            "--no-progress", "--source", spec]  # fmt: skip
    assert precompute_main(argv) == 0
    assert f"done: {len(expected)}" in capsys.readouterr().out
    cache = MaskCache(out)
    for k, want in expected.items():
        got = cache.load(k)
        assert min(got.shape) == 10
        ref = Image.fromarray(want).resize(got.shape[::-1], Image.Resampling.NEAREST)
        assert np.array_equal(got, np.asarray(ref))
    with pytest.raises(SystemExit) as exit_:  # argparse: usage + one error line
        precompute_main(argv + ["--segmenter", "classical"])
    assert exit_.value.code == 2
    assert "not both" in capsys.readouterr().err
    bad = [str(tmp_path / "images"), "--out", str(out), "--source", "files:/no/such/dir"]
    assert precompute_main(bad) == 2
    assert "root must be an existing mask folder" in capsys.readouterr().err


def test_killed_precompute_through_files_resumes(tmp_path):
    expected = _dataset(tmp_path, n=10, kind="binary")
    out = tmp_path / "cache"
    cmd = [sys.executable, "-m", "segaug.cli.precompute_masks", str(tmp_path / "images"),
           "--out", str(out), "--size", "0", "--chunk-size", "2", "--workers", "0",
           "--no-progress", "--source", f"files:{tmp_path / 'masks'}"]  # fmt: skip
    env = dict(os.environ, **{ABORT_ENV: "4"}, PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    partial = len(MaskCache(out))
    assert 4 <= partial < len(expected)
    s = precompute_masks(
        tmp_path / "images", out, f"files:{tmp_path / 'masks'}", size=None, progress=False
    )
    assert (s.skipped, s.done) == (partial, len(expected) - partial) and s.complete
    for k, want in expected.items():
        assert np.array_equal(MaskCache(out).load(k), want)


# ----------------------------------------------------------------------- the trainer


def test_trainer_data_masks_accepts_files(tmp_path):
    from simclr.config import Config, apply_overrides
    from simclr.data import build_pretrain_dataset

    _dataset(tmp_path / "root", n=8, kind="trimap")
    (tmp_path / "root" / "images").rename(tmp_path / "root" / "train")
    cfg = apply_overrides(Config(), [
        "data.dataset=imagefolder", f"data.root={tmp_path / 'root'}", "data.image_size=16",
        f"data.masks=files:{tmp_path / 'root' / 'masks'}?foreground=1,3",
    ]).data  # fmt: skip
    ds = build_pretrain_dataset(cfg)
    image, mask, label = ds[0]
    assert image.shape == (3, 16, 16) and mask.shape == (1, 16, 16) and 0 < mask.sum() < 256
    bad = apply_overrides(Config(), ["data.masks=files:/no/such/dir"]).data
    with pytest.raises(ValueError, match="data.masks.*root must be an existing mask folder"):
        build_pretrain_dataset(bad)
    synthetic = apply_overrides(Config(), [f"data.masks=files:{tmp_path}"]).data
    with pytest.raises(ValueError, match="data.masks.*imagefolder"):
        build_pretrain_dataset(synthetic)


def test_visualize_with_files_masks(tmp_path):
    from segaug.cli.visualize import main as visualize_main

    _dataset(tmp_path, n=4, kind="trimap")
    out = tmp_path / "grid.png"
    argv = ["--images", str(tmp_path / "images"), "--masks",
            f"files:{tmp_path / 'masks'}?foreground=1,3", "-n", "2", "--size", "32",
            "--out", str(out)]  # fmt: skip
    assert visualize_main(argv) == 0
    with Image.open(out) as im:
        assert im.format == "PNG"

"""Methods that read masks in their loss (DetCon) in segaug-compare and in the trainer:
their rows, the label-map masks, the pairing with the first method's baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.compare_testutils import tiny_compare
from helpers.simclr_testutils import tiny_method_config

from simclr.compare import plan_runs, run_study
from simclr.compare.masks import best_region_iou
from simclr.compare.plan import label_map_masks, mask_cache_dir
from simclr.compare.summary import findings


def test_the_plan_gives_region_methods_the_baseline_recipe_with_every_mask_variant(
    tmp_path,
) -> None:
    s = tiny_compare(
        tmp_path, methods=("simclr", "detcon_s"), recipes=("background_fill",), seeds=(0,),
        segmenter_masks=("classical", "felzenszwalb"),
    )  # fmt: skip
    rows = [(r.row, r.recipe, r.masks) for r in plan_runs(s)]
    assert rows == [
        ("simclr / objects alone", "simclr", "gt"),
        ("simclr / simclr", "simclr", "gt"),
        ("simclr / background_fill", "background_fill", "gt"),
        ("simclr / background_fill [classical masks]", "background_fill", "classical"),
        ("detcon_s / objects alone", "simclr", "gt"),
        ("detcon_s / simclr", "simclr", "gt"),
        ("detcon_s / simclr [classical masks]", "simclr", "classical"),
        ("detcon_s / simclr [felzenszwalb masks]", "simclr", "felzenszwalb"),
        ("detcon_s / background_fill", "background_fill", "gt"),
        ("detcon_s / background_fill [classical masks]", "background_fill", "classical"),
    ]
    assert label_map_masks("felzenszwalb") and label_map_masks("felzenszwalb?scale=500")
    assert not label_map_masks("classical") and not label_map_masks("iou=0.6")


def test_best_region_iou_is_the_iou_of_the_best_single_region() -> None:
    exact = np.zeros((2, 6, 6), np.uint8)
    exact[:, 1:4, 1:4] = 1
    labels = np.ones((2, 6, 6), np.uint8)
    labels[0, 1:4, 1:4] = 2  # image 0: one region is exactly the object
    labels[1, 1:4, 1:3] = 2  # image 1: the best region covers 6 of its 9 pixels
    labels[1, 1:4, 3] = 3
    np.testing.assert_allclose(best_region_iou(labels, exact), [1.0, 6 / 9])


def test_detcon_beside_simclr_end_to_end(tmp_path) -> None:
    s = tiny_compare(
        tmp_path, methods=("simclr", "detcon_s"), recipes=(), seeds=(0, 1),
        segmenter_masks=("felzenszwalb",), floors=False,
    )  # fmt: skip
    out = run_study(s, progress=False)
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    rows = summary["rows"]
    assert summary["reference"] == "simclr"
    quality = summary["masks"]["felzenszwalb"]
    assert quality["label_maps"] and quality["regions"] >= 1 and 0 < quality["iou"] <= 1
    from segaug.masks import MaskCache

    assert MaskCache(mask_cache_dir(out, "felzenszwalb")).label_maps
    base = rows["simclr / simclr"]
    for name in ("detcon_s / simclr", "detcon_s / simclr [felzenszwalb masks]"):
        row = rows[name]
        want = [a - b for a, b in zip(row["object_info"]["values"],
                                      base["object_info"]["values"], strict=True)]  # fmt: skip
        assert row["vs_reference"]["object_info"]["values"] == pytest.approx(want)
        assert "gap_closed_vs_reference" in row
    assert "vs_reference" not in rows["simclr / objects alone"]
    # the label-map row trained with region ids, the other with the binary masks
    fh = rows["detcon_s / simclr [felzenszwalb masks]"]
    assert fh["exact_row"] == "detcon_s / simclr"
    md = (out / "report.md").read_text()
    assert "## Methods side by side: against the `simclr` baseline" in md
    assert "| detcon_s / simclr [felzenszwalb masks] |" in md
    assert "global (masks used by the loss)" in md and "(best of " in md
    # label maps have no foreground, so no fallback share: the finding names the regions
    fh["kept"] = 0.5  # a gain kept from the exact masks, so the finding states the masks
    finding = next(f for f in findings(summary) if "[felzenszwalb masks]`" in f)
    assert "It keeps 50% of its gain with exact masks (these masks: label maps of " in finding
    assert "fallback" not in finding


def test_the_trainer_hands_region_ids_of_label_maps_to_a_method_that_reads_them(
    tmp_path, monkeypatch
) -> None:
    from segaug.data import build_dataset
    from segaug.masks.precompute import precompute_masks
    from simclr.methods.detcon_s import DetConS
    from simclr.methods.simclr import SimCLR
    from simclr.trainer import train

    base = build_dataset("synthetic", split="train", num_samples=32, size=16)
    cache = tmp_path / "fh"
    precompute_masks(base, cache, "felzenszwalb", size=16, progress=False)
    seen: dict[str, list] = {"detcon_s": [], "simclr": []}
    for cls, name in ((DetConS, "detcon_s"), (SimCLR, "simclr")):
        original = cls.forward

        def spy(self, images, masks, _original=original, _name=name):
            seen[_name].append(masks[0])
            return _original(self, images, masks)

        monkeypatch.setattr(cls, "forward", spy)
    common = (f"data.masks={cache}", "data.num_samples=32", "augment.recipe=background_fill")
    train(tiny_method_config(tmp_path / "d", "detcon_s", *common))
    train(tiny_method_config(tmp_path / "s", "simclr", *common))
    ids = seen["detcon_s"][0]
    assert ids.dtype.is_floating_point is False and int(ids.max()) >= 1
    assert int(ids.min()) >= -1
    masks = seen["simclr"][0]  # a method that does not read regions gets binary masks
    assert masks.is_floating_point() and set(masks.unique().tolist()) <= {0.0, 1.0}

"""segaug-compare's masks and budget axes: segmenter-mask rows, degraded masks, budgets.

Also the real-pictures dataset (ObjectsOnPhotos, on tiny folders made here) through the
backgrounds protocol, end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.compare_testutils import tiny_compare
from helpers.photo_testutils import make_folders
from PIL import Image

from simclr.compare import CompareSettings, plan_runs, run_study
from simclr.compare.cli import main
from simclr.compare.plan import mask_cache_dir, train_config
from simclr.compare.settings import preset_settings


def test_plan_crosses_budgets_and_mask_rows(tmp_path) -> None:
    s = CompareSettings(
        recipes=("background_fill",),
        seeds=(0,),
        budgets=(2, 6),
        segmenter_masks=("classical",),
        degraded_masks=(0.6,),
    )
    runs = plan_runs(s)
    assert [(r.row, r.epochs, r.masks) for r in runs[:5]] == [
        ("2 ep / objects alone", 2, "gt"),
        ("2 ep / simclr", 2, "gt"),
        ("2 ep / background_fill", 2, "gt"),
        ("2 ep / background_fill [classical masks]", 2, "classical"),
        ("2 ep / background_fill [masks at IoU 0.6]", 2, "iou=0.6"),
    ]
    assert len(runs) == 10 and {r.epochs for r in runs[5:]} == {6}
    study = tmp_path / "study"
    seg = runs[8]
    cfg = train_config(s, seg, study / "runs" / seg.name)
    assert cfg.train.epochs == 6 and cfg.data.masks == str(mask_cache_dir(study, "classical"))
    exact = train_config(s, runs[7], study / "runs" / runs[7].name)
    assert exact.data.masks == "gt" and exact.train.epochs == 6
    anchor = train_config(s, runs[5], study / "runs" / runs[5].name)
    assert anchor.data.params["background"] == "neutral"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"masks": "classical"}, r"masks: dataset 'synthetic' trains with its exact masks"),
        ({"segmenter_masks": ("nosuch",)}, r"segmenter_masks = 'nosuch'"),
        ({"segmenter_masks": ("classical", "classical")}, "expected distinct names"),
        ({"degraded_masks": (1.2,)}, r"degraded_masks: expected target IoUs in \[0.2, 1\)"),
        ({"budgets": (0, 3)}, "budgets: expected positive ints"),
        ({"budgets": (3, 3)}, "budgets: expected distinct values"),
        ({"mask_checkpoint": "w.pt", "segmenter_masks": ("classical",)}, "mask_checkpoint"),
        ({"dataset": "cifar10", "degraded_masks": (0.6,)}, "need exact masks to compare"),
        ({"dataset": "objects_on_photos"}, r"style: dataset 'objects_on_photos' takes no style"),
    ],
)
def test_bad_mask_and_budget_settings_are_one_line(overrides, match) -> None:
    settings = CompareSettings(**{"recipes": ("background_fill",), **overrides})
    with pytest.raises(ValueError, match=match):
        settings.validate()


def test_cli_refuses_bad_axes_in_one_line(tmp_path, capsys) -> None:
    assert main(["--degraded-masks", "1.5", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "degraded_masks" in err[0]


def test_budgets_and_degraded_masks_end_to_end_and_resume(tmp_path) -> None:
    settings = tiny_compare(
        tmp_path,
        recipes=("background_fill",),
        budgets=(1, 2),
        degraded_masks=(0.6,),
        floors=False,
    )
    out = run_study(settings, progress=False)
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    rows = summary["rows"]
    assert list(rows) == [
        f"{e} ep / {label}"
        for e in (1, 2)
        for label in (
            "objects alone",
            "simclr",
            "background_fill",
            "background_fill [masks at IoU 0.6]",
        )
    ]
    quality = summary["masks"]["iou=0.6"]
    assert abs(quality["iou"] - 0.6) < 0.03 and quality["images"] == 64
    # the cache the rows trained with holds exactly those masks
    from segaug.masks import MaskCache, index_key
    from segaug.masks.degrade import mask_iou
    from simclr.compare.masks import training_images

    cache = MaskCache(mask_cache_dir(out, "iou=0.6"))
    got = np.stack([cache.load(index_key(i)) for i in range(64)])
    exact = training_images(settings).masks
    assert float(np.nanmean(mask_iou(got, exact))) == pytest.approx(quality["iou"])
    for e in (1, 2):
        row = rows[f"{e} ep / background_fill [masks at IoU 0.6]"]
        ref = rows[f"{e} ep / background_fill"]
        base = rows[f"{e} ep / simclr"]
        assert row["epochs"] == e and row["exact_row"] == f"{e} ep / background_fill"
        vals, exact_vals = row["object_info"]["values"], ref["object_info"]["values"]
        assert row["vs_exact"]["object_info"]["values"] == pytest.approx(
            [a - b for a, b in zip(vals, exact_vals, strict=True)]
        )
        gain = row["paired"]["object_info"]["mean"]
        base_vals = base["object_info"]["values"]
        assert gain == pytest.approx(np.mean(vals) - np.mean(base_vals))
        exact_gain = ref["paired"]["object_info"]["mean"]
        if exact_gain > 0:
            assert row["kept"] == pytest.approx(gain / exact_gain)
    # each budget is paired with its own anchors; steps grow with the epochs
    assert rows["2 ep / simclr"]["steps"] == 2 * rows["1 ep / simclr"]["steps"]
    runs_at = {(r["row"], r["seed"]): r for r in report["runs"]}
    assert runs_at[("2 ep / background_fill", 0)]["epochs"] == 2
    assert {c["check"].split(":")[0] for c in report["calibration"]} == {
        "simclr 1 ep",
        "simclr 2 ep",
    }
    md = (out / "report.md").read_text()
    for text in ("## Masks: exact and what users have", "masks at IoU 0.6", "## Budget"):
        assert text in md, text
    for png in ("budget.png", "mask_quality.png"):
        with Image.open(out / png) as im:
            assert im.format == "PNG"

    # resume: the mask cache and the finished runs are reused
    stamp = (mask_cache_dir(out, "iou=0.6") / "quality.json").stat().st_mtime_ns
    (out / "runs" / "2-ep---background_fill-seed1" / "result.json").unlink()
    # a result written before the budget and masks fields existed is read with the spec's
    old = out / "runs" / "2-ep---simclr-seed0" / "result.json"
    legacy = json.loads(old.read_text())
    for key in ("epochs", "masks", "steps"):
        legacy.pop(key)
    old.write_text(json.dumps(legacy))
    run_study(settings, progress=False, resume=out)
    assert (mask_cache_dir(out, "iou=0.6") / "quality.json").stat().st_mtime_ns == stamp
    resumed = json.loads((out / "report.json").read_text())["summary"]["rows"]
    assert list(resumed) == list(rows)
    assert resumed["2 ep / background_fill"]["paired"]["object_info"]["n"] == 2
    assert resumed["2 ep / simclr"]["epochs"] == 2


def test_sweep_rows_train_with_every_mask_variant_too(tmp_path) -> None:
    s = CompareSettings(
        recipes=(),
        sweep=("independent_swap.p=0.8",),
        seeds=(0,),
        segmenter_masks=("classical",),
        degraded_masks=(0.75,),
    )
    runs = plan_runs(s)
    assert [(r.row, r.recipe, r.params, r.masks) for r in runs[2:]] == [
        ("independent_swap p=0.8", "independent_swap", (("p", 0.8),), "gt"),
        (
            "independent_swap p=0.8 [classical masks]",
            "independent_swap",
            (("p", 0.8),),
            "classical",
        ),
        (
            "independent_swap p=0.8 [masks at IoU 0.75]",
            "independent_swap",
            (("p", 0.8),),
            "iou=0.75",
        ),
    ]
    study = tmp_path / "study"
    cfg = train_config(s, runs[3], study / "runs" / runs[3].name)
    assert cfg.data.masks == str(mask_cache_dir(study, "classical"))


def test_photos_with_segmenter_masks_end_to_end(tmp_path) -> None:
    objects, photos = make_folders(tmp_path / "data", num_classes=2, num_photos=3)
    settings = tiny_compare(
        tmp_path,
        dataset="objects_on_photos",
        style={},
        data_params={"objects": str(objects), "backgrounds": str(photos)},
        recipes=("background_fill",),
        sweep=("independent_swap.p=0.8",),
        segmenter_masks=("classical",),
        seeds=(0,),
    )
    out = run_study(settings, progress=False)
    report = json.loads((out / "report.json").read_text())
    rows = report["summary"]["rows"]
    assert list(rows) == [
        "objects alone",
        "simclr",
        "background_fill",
        "background_fill [classical masks]",
        "independent_swap p=0.8",
        "independent_swap p=0.8 [classical masks]",
    ]
    assert rows["independent_swap p=0.8 [classical masks]"]["exact_row"] == "independent_swap p=0.8"
    q = report["summary"]["masks"]["classical"]
    assert 0.0 < q["iou"] <= 1.0 and 0.0 <= q["fallback"] <= 1.0
    run = next(r for r in report["runs"] if r["masks"] == "classical")
    assert 0.0 <= run["fallback_rate"] <= 1.0
    for key in ("original", "object_info", "bg_info", "mixed_rand"):
        assert 0.0 <= rows["background_fill"][key]["mean"] <= 1.0
    # two classes: chance is one half, and the probes saw both
    assert rows["objects alone"]["object_info"]["mean"] > 0.0
    md = (out / "report.md").read_text()
    assert "`objects_on_photos` images at 32 px" in md and "classical masks" in md


def test_photos_preset_is_valid_and_runs_on_the_photos_dataset() -> None:
    s = preset_settings("photos")
    assert s.dataset == "objects_on_photos" and not s.style
    assert len(s.budget_axis()) >= 2 and max(s.budget_axis()) >= 3 * min(s.budget_axis())
    assert s.resolved_protocol() == "backgrounds"


def test_debian_photos_preset_validates_when_the_folders_exist() -> None:
    if not Path("/usr/share/openclipart/png").is_dir():
        pytest.fail("apt-get install openclipart-png mate-backgrounds (CI installs them)")
    preset_settings("photos").validate()

"""The main job (segaug-compare) runs end to end at a tiny size, resumes, and fails early."""

from __future__ import annotations

import json

import pytest
from helpers.compare_testutils import tiny_compare
from PIL import Image

from segaug import recipes
from simclr.compare import (
    CompareSettings,
    main,
    parse_sweep,
    plan_runs,
    preset_settings,
    run_study,
    sweep_rows,
)
from simclr.compare.plan import train_config


def _tiny(tmp_path, **kw) -> CompareSettings:
    return tiny_compare(tmp_path, **{"sweep": ("background_fill.p=0.5",), **kw})


def test_compare_end_to_end_tiny_and_resume(tmp_path):
    settings = _tiny(tmp_path)
    lines: list[str] = []
    out = run_study(settings, progress=False, announce=lines.append)
    # without a progress bar, a log gets one line per run: its time and the time left
    done = [line for line in lines if " done (" in line]
    assert [line.split(" done")[0] for line in done] == [
        f"segaug-compare: run {i} of 8" for i in range(1, 9)
    ]
    assert all("min of runs left" in line for line in done[:-1])
    assert done[-1].endswith("the floors next")
    report = json.loads((out / "report.json").read_text())
    rows = report["summary"]["rows"]
    assert list(rows) == ["objects alone", "simclr", "thesis", "background_fill p=0.5"]
    assert [rows[r]["kind"] for r in rows] == ["anchor", "baseline", "recipe", "recipe"]
    assert len(report["runs"]) == 8
    for name, row in rows.items():
        assert row["seeds"] == [0, 1]
        for key in ("original", "mixed_same", "mixed_rand", "only_fg", "only_bg", "object_info"):
            assert all(0.0 <= v <= 1.0 for v in row[key]["values"]), (name, key)
        same, rand = row["mixed_same"]["values"], row["mixed_rand"]["values"]
        gaps = [s - r for s, r in zip(same, rand, strict=True)]
        assert row["bg_gap"]["values"] == pytest.approx(gaps)
    # the anchor's object info is measured on objects on gray
    anchor_runs = [r for r in report["runs"] if r["kind"] == "anchor"]
    assert rows["objects alone"]["object_info"]["values"] == [
        r["object_info_neutral"] for r in sorted(anchor_runs, key=lambda r: r["seed"])
    ]
    # paired differences are per seed against the baseline
    base = rows["simclr"]["object_info"]["values"]
    thesis = rows["thesis"]["object_info"]["values"]
    diff = rows["thesis"]["paired"]["object_info"]
    assert diff["values"] == pytest.approx([a - b for a, b in zip(thesis, base, strict=True)])
    assert "paired" not in rows["simclr"]
    # the gap splits exactly into the encoder part (both on gray) and the clutter part
    on_bg = {n: r["object_info_on_backgrounds"]["mean"] for n, r in rows.items()}
    gray = {n: r["object_info_neutral"]["mean"] for n, r in rows.items()}
    assert on_bg["simclr"] == pytest.approx(rows["simclr"]["object_info"]["mean"])
    assert on_bg["objects alone"] == pytest.approx(
        sum(r["object_info"] for r in anchor_runs) / len(anchor_runs)
    )
    encoder, clutter = gray["objects alone"] - gray["simclr"], gray["simclr"] - on_bg["simclr"]
    gap = rows["objects alone"]["object_info"]["mean"] - rows["simclr"]["object_info"]["mean"]
    assert encoder + clutter == pytest.approx(gap)
    on_gray = rows["thesis"]["paired"]["object_info_neutral"]["values"]
    assert on_gray == pytest.approx(
        [a - b for a, b in zip(
            rows["thesis"]["object_info_neutral"]["values"],
            rows["simclr"]["object_info_neutral"]["values"], strict=True)]
    )  # fmt: skip
    assert "gap_closed" in rows["thesis"] and "gap_closed" not in rows["objects alone"]
    assert set(report["summary"]["floors"]) == {"random init", "raw pixels"}
    assert len(report["calibration"]) == 3 and len(report["findings"]) == 3
    # the two recipe rows are paired with the better one of them, seed by seed
    fill = rows["background_fill p=0.5"]["object_info"]["values"]
    top, other = ("thesis", fill) if sum(thesis) > sum(fill) else ("background_fill p=0.5", thesis)
    below = "background_fill p=0.5" if top == "thesis" else "thesis"
    assert report["summary"]["best"] == {"simclr bs 32 ep 1": top}
    best = rows[top]["object_info"]["values"]
    assert rows[below]["vs_best"]["object_info"]["values"] == pytest.approx(
        [a - b for a, b in zip(other, best, strict=True)]
    )
    assert "vs_best" not in rows[top] and report["findings"][-1].startswith(
        f"Best recipe row (simclr bs 32 ep 1): `{top}`"
    )
    assert all(c["check"].startswith("simclr: ") for c in report["calibration"])
    md = (out / "report.md").read_text()
    for text in (
        "## Calibration",
        "## Recipes against the best",
        "Mixed-Rand",
        "BG-Gap",
        "gap closed",
        "95% t interval",
        "Machine:",
        "*objects alone* (upper anchor)",
        "*simclr* (baseline)",
        "## Where the gap lies",
        f"- simclr: gap {100 * gap:.1f} points = encoder {100 * encoder:.1f} + clutter "
        f"{100 * clutter:.1f}",
        "object info on gray",
    ):
        assert text in md, text
    for png in ("object_info.png", "paired.png"):
        with Image.open(out / png) as im:
            assert im.format == "PNG"

    # a crash after some runs: resume recomputes only what is missing
    first = out / "runs" / "thesis-seed1" / "result.json"
    before = first.stat().st_mtime_ns
    victim = out / "runs" / "background_fill-p-0.5-seed1"
    (victim / "result.json").unlink()
    lines.clear()
    out2 = run_study(settings, progress=False, resume=out, announce=lines.append)
    assert out2 == out
    done = [line for line in lines if " done (" in line]  # only the run trained again
    assert len(done) == 1 and "(background_fill p=0.5 seed 1, " in done[0], lines
    assert first.stat().st_mtime_ns == before  # finished run reused, not retrained
    assert (victim / "result.json").is_file()
    with pytest.raises(ValueError, match="other settings"):
        run_study(_tiny(tmp_path, epochs=2), progress=False, resume=out)


def test_plan_crosses_methods_with_recipes_and_sweeps():
    s = CompareSettings(
        recipes=("thesis",),
        methods=("simclr", "byol"),
        sweep=("independent_swap.p=0.2,0.8",),
        seeds=(0,),
    )
    rows = [r.row for r in plan_runs(s)]
    assert rows == [
        "simclr / objects alone",
        "simclr / simclr",
        "simclr / thesis",
        "simclr / independent_swap p=0.2",
        "simclr / independent_swap p=0.8",
        "byol / objects alone",
        "byol / simclr",
        "byol / thesis",
        "byol / independent_swap p=0.2",
        "byol / independent_swap p=0.8",
    ]
    specs = plan_runs(s)
    assert specs[3].params == (("p", 0.2),) and specs[3].recipe == "independent_swap"
    assert {r.method for r in specs} == {"simclr", "byol"}


def test_sweep_parsing_and_errors():
    assert parse_sweep("background_fill.p=0.2,0.5,0.8") == ("background_fill", "p", [0.2, 0.5, 0.8])
    with pytest.raises(ValueError, match="expected 'recipe.param=v1,v2"):
        parse_sweep("background_fill=0.2")
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        parse_sweep("nope.p=1")
    with pytest.raises(ValueError, match="has no parameter 'q'; expected one of"):
        parse_sweep("background_fill.q=1")
    # a bracketed value is a tuple: the commas inside it do not split the values
    assert parse_sweep("background_fill.modes=[flat,noise],[texture]") == (
        "background_fill",
        "modes",
        [("flat", "noise"), ("texture",)],
    )
    with pytest.raises(ValueError, match="unbalanced brackets"):
        parse_sweep("background_fill.modes=[flat,noise")
    with pytest.raises(ValueError, match="no empty value"):
        parse_sweep("background_fill.p=0.2,,0.5")


def test_a_sweep_holds_further_parameters_fixed_in_every_row(tmp_path):
    spec = "background_fill.p=0.3,0.5 swap=1.0 modes=[flat, noise]"
    assert parse_sweep(spec) == ("background_fill", "p", [0.3, 0.5])
    recipe, rows = sweep_rows(spec)
    assert recipe == "background_fill" and [label for label, _ in rows] == [
        "background_fill p=0.3 swap=1.0 modes=flat+noise",
        "background_fill p=0.5 swap=1.0 modes=flat+noise",
    ]
    s = CompareSettings(recipes=(), sweep=(spec,), seeds=(0,), anchors=False)
    run = plan_runs(s)[1]
    cfg = train_config(s, run, tmp_path / "run")
    assert {k: cfg.augment.params[k] for k in ("p", "swap", "modes")} == {
        "p": 0.5,
        "swap": 1.0,
        "modes": ["flat", "noise"],
    }
    augment = recipes.build("background_fill", output_size=32, **cfg.augment.params)
    assert augment.background_swap == 1.0 and augment.background[-1].p == 0.5
    for bad, text in (
        ("background_fill.p=0.3 swap=0.5,1.0", "a fixed parameter takes one value"),
        ("background_fill.p=0.3 p=0.5", "parameter 'p' given twice"),
        ("background_fill.p=0.3 swap", "expected 'param=value' after the swept parameter"),
        ("background_fill.p=0.3 thesis.p=1", "expected 'param=value' after the swept"),
        ("background_fill.p=0.3 nope=1", "has no parameter 'nope'"),
        ("swap=1.0", "in one quoted argument"),
    ):
        with pytest.raises(ValueError, match=text):
            parse_sweep(bad)
    # spaces after the commas, as YAML lists are often typed
    assert sweep_rows("background_fill.modes=[flat, noise], [flat] p=0.5")[1] == [
        ("background_fill modes=flat+noise p=0.5", (("modes", ("flat", "noise")), ("p", 0.5))),
        ("background_fill modes=flat p=0.5", (("modes", ("flat",)), ("p", 0.5))),
    ]
    # a bad value fails before any training, naming the row; so do two rows of one label
    for sweep, text in (
        (("background_fill.p=0.3 swap=abc",), "row 'background_fill p=0.3 swap=abc': "),
        (("background_fill.p=7",), "p must be a probability in"),
        (("background_fill.modes=flat", "background_fill.modes=[flat]"), "another sweep"),
    ):
        with pytest.raises(ValueError, match=text):
            CompareSettings(recipes=(), sweep=sweep, seeds=(0,)).validate()


def test_tuple_sweep_rows_are_labelled_and_reach_the_recipe_as_lists(tmp_path):
    import yaml

    s = CompareSettings(
        recipes=(), sweep=("background_fill.modes=[flat,noise],[texture]",), seeds=(0,)
    )
    rows = [r for r in plan_runs(s) if r.recipe == "background_fill"]
    assert [r.row for r in rows] == [
        "background_fill modes=flat+noise",
        "background_fill modes=texture",
    ]
    cfg = train_config(s, rows[0], tmp_path / "run")
    assert cfg.augment.params["modes"] == ["flat", "noise"]
    assert yaml.safe_load(yaml.safe_dump(cfg.augment.params))["modes"] == ["flat", "noise"]
    fill = recipes.build("background_fill", output_size=32, **cfg.augment.params).background[-1]
    assert fill.modes == ("flat", "noise")


def test_presets_and_bad_settings_fail_before_training(tmp_path, capsys):
    assert preset_settings("cpu").sweep and preset_settings("gpu").image_size == 64
    assert preset_settings("default", epochs=3).epochs == 3
    for argv, text in (
        (["--recipes", "fancy"], "unknown recipe 'fancy'"),
        (["--methods", "fancy"], "fancy"),
        (["--sweep", "thesis.nope=1"], "has no parameter 'nope'"),
        (["--set", "bogus=1"], "expected KEY=VALUE with KEY one of"),
        (["--set", "epochs=0"], "epochs: expected a positive int"),
        (["--set", "num_workers=-1"], "num_workers: expected an int >= 0"),
        (["--set", "method_params={simclr: {nope: 1}}"], "method 'simclr': config 'method.params'"),
        (["--set", "method_params={byol: {}}"], "['byol'] are not among the methods"),
    ):
        assert main([*argv, "--out-dir", str(tmp_path)]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("segaug-compare: error:") and text in err, (argv, err)
    with pytest.raises(ValueError, match="batch_size: expected ints >= 2"):
        CompareSettings(batch_size=1).validate()
    with pytest.raises(ValueError, match="preset: unknown preset"):
        preset_settings("huge")
    assert not any(tmp_path.iterdir())  # nothing was trained or written


def test_study_grid_of_methods_and_batch_sizes(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "recipes: [thesis]\nmethods: [byol]\nbatch_sizes: [16, 32]\nseeds: 1\n"
        "anchors: false\nfloors: false\nnum_samples: 64\nepochs: 1\neval_images: 60\n"
        "challenge_images: 60\nmethod_params: {byol: {proj_hidden_dim: 48}}\n"
        f"probe_train: 60\nprobe_val: 30\nout_dir: {tmp_path}\n"
    )
    assert main(["--grid", str(grid), "--no-progress"]) == 0
    (out,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    report = json.loads((out / "report.json").read_text())
    assert list(report["summary"]["rows"]) == ["bs 16 / thesis", "bs 32 / thesis"]
    runs = sorted(report["runs"], key=lambda r: r["batch_size"])
    assert [(r["method"], r["batch_size"]) for r in runs] == [("byol", 16), ("byol", 32)]
    for r in runs:
        assert r["peak_memory_bytes"] > 0 and "process RSS peak" in r["peak_memory_kind"]
        assert 0.0 <= r["knn_original"] <= 1.0 and r["train_seconds"] > 0
        cfg = (out / "runs" / "bs-16---thesis-seed0" / "config.yaml").read_text()
        assert "name: byol" in cfg and "batch_size: 16" in cfg and "proj_hidden_dim: 48" in cfg
    md = (out / "report.md").read_text()
    assert "## Study table: methods × transform sets" in md and "| thesis | " in md
    assert "byol, batch 16" in md and " GB)" in md and "no anchors" in md
    with Image.open(out / "heatmap.png") as im:
        assert im.format == "PNG"


def test_grid_file_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    for text, msg in (
        ("recipes: [thesis\n", "not valid YAML"),
        ("- thesis\n", "expected a mapping"),
        ("colour: red\n", "unknown settings ['colour']"),
    ):
        bad.write_text(text)
        assert main(["--grid", str(bad), "--out-dir", str(tmp_path / "o")]) == 2
        assert msg in capsys.readouterr().err
    assert main(["--grid", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read it" in capsys.readouterr().err

"""What a resumed study may change, and how it finds its runs under new row names.

No training: hand-made study and run folders (``settings.json``, ``config.yaml``,
``result.json``) are enough for the settings checks and the renames.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import yaml

from simclr.compare.cli import _resumed_settings
from simclr.compare.plan import plan_runs
from simclr.compare.runner import adopt_renamed_runs, renamed_runs
from simclr.compare.settings import CompareSettings


def _run_folder(runs, name, *, method="simclr", batch=32, epochs=1, seed=0, result=None):
    folder = runs / name
    folder.mkdir(parents=True)
    config = {
        "method": {"name": method},
        "data": {"batch_size": batch},
        "train": {"epochs": epochs, "seed": seed},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    if result is not None:
        (folder / "result.json").write_text(json.dumps(result))
    return folder


def _settings(**kw):
    base = dict(recipes=("thesis",), seeds=(0,), anchors=False, batch_size=32, epochs=1)
    return CompareSettings(**{**base, **kw})


def test_a_run_is_found_by_its_epochs_from_its_config_when_its_result_lacks_them(tmp_path):
    """The 2-epoch row comes first in the plan; the folder's run has 1 epoch (said by its
    config.yaml, as its result.json was written before results stored epochs)."""
    runs = tmp_path / "runs"
    old = {"row": "thesis", "method": "simclr", "batch_size": 32, "seed": 0, "object_info": 0.4}
    _run_folder(runs, "thesis-seed0", epochs=1, result=old)
    specs = plan_runs(_settings(budgets=(2, 1)))
    assert [s.row for s in specs] == ["2 ep / thesis", "1 ep / thesis"]
    renamed = renamed_runs(tmp_path, specs)
    assert [(name, spec.row) for name, spec in renamed] == [("thesis-seed0", "1 ep / thesis")]
    adopt_renamed_runs(tmp_path, renamed)
    assert sorted(p.name for p in runs.iterdir()) == ["1-ep---thesis-seed0"]
    result = json.loads((runs / "1-ep---thesis-seed0" / "result.json").read_text())
    assert result == {**old, "row": "1 ep / thesis"}


def test_a_run_is_found_by_its_batch_size_and_not_by_another_seed_or_method(tmp_path):
    runs = tmp_path / "runs"
    _run_folder(runs, "thesis-seed0", batch=32)  # interrupted: config.yaml only
    _run_folder(runs, "thesis-seed1", batch=32, seed=0)  # a folder whose run is seed 0
    _run_folder(runs, "byol---thesis-seed0", method="byol", batch=32)
    specs = plan_runs(_settings(batch_sizes=(64, 32), seeds=(0, 1)))
    renamed = renamed_runs(tmp_path, specs)
    assert [(name, spec.name) for name, spec in renamed] == [
        ("thesis-seed0", "bs-32---thesis-seed0")
    ]


def test_a_folder_without_a_readable_run_is_left_alone(tmp_path):
    runs = tmp_path / "runs"
    (runs / "thesis-seed0").mkdir(parents=True)
    (runs / "thesis-seed0" / "config.yaml").write_text("partial: true\n")
    assert renamed_runs(tmp_path, plan_runs(_settings(budgets=(1, 2)))) == []


def test_two_folders_for_one_missing_run_are_refused_before_any_change(tmp_path):
    runs = tmp_path / "runs"
    _run_folder(runs, "thesis-seed0")
    _run_folder(runs, "simclr---thesis-seed0")
    with pytest.raises(ValueError, match=r"holds the run '1 ep / thesis' seed 0 twice") as err:
        renamed_runs(tmp_path, plan_runs(_settings(budgets=(1, 2))))
    assert "thesis-seed0, simclr---thesis-seed0" in str(err.value)
    assert sorted(p.name for p in runs.iterdir()) == ["simclr---thesis-seed0", "thesis-seed0"]


@pytest.fixture
def stored(tmp_path):
    saved = _settings(seeds=(0, 1, 2), method_params={"simclr": {"temperature": 0.2}})
    (tmp_path / "settings.json").write_text(json.dumps(asdict(saved)))
    return tmp_path


def test_a_resume_may_give_a_method_it_adds_its_parameters(stored):
    params = {"simclr": {"temperature": 0.2}, "byol": {"momentum": 0.996}}
    s = _resumed_settings(
        str(stored), None, {"methods": ("simclr", "byol"), "method_params": params}
    )
    assert s.methods == ("simclr", "byol") and s.method_params == params


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        (
            "method_params",
            {"simclr": {"temperature": 0.5}},
            "method_params may only add the parameters of a method the study gains",
        ),
        ("seeds", (0,), "--seeds may add seeds, not drop [1, 2] (--seeds N runs seeds 0 to N-1)"),
        ("budgets", (18,), "--budgets may add to the study, listing the stored entries too, "
         "but not drop ['1'] (the study's epochs=1)"),
        ("methods", ("byol",), "but not drop ['simclr']"),
    ],
)  # fmt: skip
def test_a_resume_that_would_drop_or_change_runs_says_how_it_may_change(stored, key, value, text):
    with pytest.raises(ValueError) as err:
        _resumed_settings(str(stored), None, {key: value})
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{key}: {stored} was run with"), message
    assert text in message, message


def test_a_single_value_of_a_list_setting_is_a_list_of_one(capsys):
    from simclr.compare.cli import main

    assert main(["--set", "methods=nope", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown method 'nope'" in err[0], err

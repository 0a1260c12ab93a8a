"""Protocols are classes chosen by dataset capabilities; a new one is one class.

A tiny protocol registered here runs through the plan, the runner (training replaced by
a stand-in), the summary, the report and the plots, which only ask the protocol object.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from dataclasses import asdict
from pathlib import Path

import pytest
from PIL import Image

from segaug.data import DATASET_INFO, get_dataset_info
from simclr.compare import (
    PROTOCOLS,
    CompareSettings,
    Protocol,
    get_protocol,
    main,
    plan_runs,
    register_protocol,
)
from simclr.compare.backgrounds import BackgroundsProtocol
from simclr.compare.plan import train_config
from simclr.compare.protocols import auto_protocol
from simclr.compare.settings import KNN_K, KNN_TEMPERATURE
from simclr.compare.transfer import transfer_settings

COMPARE = Path(__file__).resolve().parents[3] / "simclr" / "compare"


@pytest.fixture
def counting_protocol():
    """A protocol whose only number is 0.75 for encoders with weights, else 0.25."""

    @register_protocol
    class CountingProtocol(Protocol):
        name = "counting"
        description = "test only: whether the encoder has weights"
        metric_keys = ("score",)
        paired_keys = ("score",)
        headline_keys = ("score", "score")
        plot_key = "score"
        key_names = {"score": "score"}

        def prepare(self, settings):
            return {"offset": 0.25}

        def evaluate(self, encoder, settings, mean, std, prepared):
            weights = sum(p.numel() for p in encoder.parameters())
            return {"score": prepared["offset"] + (0.5 if weights else 0.0)}

    yield CountingProtocol
    del PROTOCOLS._entries["counting"]  # the registry has no public removal (tests only)


def _fake_run(s, protocol, spec, run_dir, prepared, resume_from=None):
    """What ``_run_one`` returns, without training: recipes score 0.1 above the baseline."""
    run_dir.mkdir(parents=True)
    score = 0.5 + (0.1 if spec.kind == "recipe" else 0.0) + spec.seed / 100
    return {
        **asdict(spec),
        "params": dict(spec.params),
        "batch_size": spec.batch_size,
        "train_seconds": 60.0,
        "images_per_s": 100.0,
        "peak_memory_bytes": 2**30,
        "peak_memory_kind": "test",
        "final_loss": 1.0,
        "fallback_rate": 0.0,
        "score": score,
    }


def test_a_new_protocol_is_one_class(counting_protocol, tmp_path, monkeypatch):
    import simclr.compare.runner as runner

    s = CompareSettings(recipes=("thesis",), seeds=(0, 1), protocol="counting")
    s.validate()
    plan = [(r.row, r.kind) for r in plan_runs(s)]
    assert plan == [("simclr", "baseline"), ("thesis", "recipe")] * 2
    monkeypatch.setattr(runner, "_run_one", _fake_run)
    argv = ["--protocol", "counting", "--recipes", "thesis", "--seeds", "2", "--no-progress"]
    assert main([*argv, "--out-dir", str(tmp_path)]) == 0
    (out,) = tmp_path.iterdir()
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert summary["protocol"] == "counting"
    assert list(summary["rows"]) == ["simclr", "thesis"]  # no anchor: has_anchor is False
    assert summary["rows"]["thesis"]["score"]["values"] == [0.6, 0.61]
    assert summary["rows"]["thesis"]["paired"]["score"]["mean"] == pytest.approx(0.1)
    # the floors went through the protocol: random init has weights, raw pixels none
    assert summary["floors"]["random init"]["score"]["values"] == [0.75, 0.75]
    assert summary["floors"]["raw pixels"]["score"]["values"] == [0.25]
    assert report["calibration"] == []
    assert report["findings"] == ["`thesis`: beyond seed noise: score +10.0 points."]
    md = (out / "report.md").read_text()
    for text in (
        "# Study on `synthetic`",
        "**Protocol (counting).**",
        "| row | score | fallback | train img/s |",
        "| *floor: raw pixels* | 25.0 |  |  |",
        "| `thesis` | 60.5 ± 0.7 | 0.0% | 100 |",
        "nothing to calibrate",
        "| row | score |",
        "## Study table: methods × transform sets",
        "| thesis | 0.605 ± 0.007 / 0.605 ± 0.007 (1.0 min / 1.00 GB) |",
        "![score](score.png)",
    ):
        assert text in md, text
    for png in ("score.png", "paired.png", "heatmap.png"):
        with Image.open(out / png) as im:
            assert im.format == "PNG"


def test_auto_picks_the_protocol_from_capabilities(monkeypatch):
    assert [n for n, i in DATASET_INFO.items() if i.exact_backgrounds] == [
        "synthetic",
        "objects_on_photos",
    ]
    assert auto_protocol(get_dataset_info("synthetic")).name == "backgrounds"
    assert auto_protocol(get_dataset_info("cifar10")).name == "transfer"
    assert CompareSettings(dataset="cifar10").resolved_protocol() == "transfer"
    # a dataset that gains exact backgrounds runs the backgrounds protocol, renders its
    # data from the settings and gets the objects-alone anchor: no name is tested
    info = dataclasses.replace(get_dataset_info("cifar10"), exact_backgrounds=True)
    monkeypatch.setitem(DATASET_INFO, "cifar10", info)
    # such a dataset's factory would take the rendering options; cifar10's does not
    monkeypatch.setattr("simclr.build._check_params", lambda *args, **kwargs: None)
    s = CompareSettings(dataset="cifar10", recipes=("thesis",), seeds=(0,))
    assert s.resolved_protocol() == "backgrounds"
    anchor = plan_runs(s)[0]
    assert (anchor.row, anchor.kind) == ("objects alone", "anchor")
    cfg = train_config(s, anchor, Path("unused"))
    assert cfg.data.num_samples == s.num_samples and cfg.data.params["bias"] == s.bias
    assert cfg.data.params["background"] == "neutral"


def test_a_protocol_refuses_a_dataset_without_its_capability():
    with pytest.raises(ValueError) as err:
        CompareSettings(dataset="cifar10", protocol="backgrounds").validate()
    assert str(err.value) == (
        "protocol: 'backgrounds' needs exact masks and backgrounds, which only 'synthetic' "
        "and 'objects_on_photos' have; got dataset 'cifar10' (use protocol 'transfer')"
    )
    assert get_protocol("backgrounds").supports(get_dataset_info("synthetic"))
    assert get_protocol("transfer").supports(get_dataset_info("synthetic"))


def test_the_protocol_objects_describe_their_numbers():
    bg, tr = get_protocol("backgrounds"), get_protocol("transfer")
    assert isinstance(bg, BackgroundsProtocol) and PROTOCOLS.names() == ["backgrounds", "transfer"]
    assert bg.paired_keys == ("object_info", "object_info_neutral", "mixed_rand", "bg_gap")
    assert bg.has_anchor
    assert tr.paired_keys == tr.metric_keys == ("linear", "knn") and not tr.has_anchor
    assert set(bg.paired_keys) <= set(bg.metric_keys) and bg.gap_key in bg.metric_keys
    assert tr.key_names["knn"] == f"kNN (k={KNN_K})"
    assert len(bg.result_columns()) == 9 and tr.result_columns() == ["linear probe", "kNN (k=20)"]
    anchor_run = {"kind": "anchor", "object_info": 0.1, "object_info_neutral": 0.9}
    assert bg.value(anchor_run, "object_info") == 0.9 and tr.value({"knn": 0.3}, "knn") == 0.3
    assert bg.value(anchor_run, "object_info_on_backgrounds") == 0.1  # the anchor among clutter
    assert tr.report_sections({"rows": {}, "anchors": {}}) == []


def test_knn_and_probe_sizes_come_from_the_descriptor_and_named_settings(monkeypatch):
    import simclr.evaluate.background as background
    from simclr.evaluate.features import RawPixels

    seen = {}

    def fake(encoder, sets, mean, std, num_classes, l2_grid, fit, knn_k, knn_t, device):
        seen.update(num_classes=num_classes, knn_k=knn_k, knn_t=knn_t, device=device)
        return {}

    monkeypatch.setattr(background, "background_metrics", fake)
    prepared = ({}, 10)  # the image sets and the class count that prepare() found
    BackgroundsProtocol().evaluate(RawPixels(2), CompareSettings(), [0.5] * 3, [0.5] * 3, prepared)
    assert seen == {
        "num_classes": get_dataset_info("synthetic").num_classes,
        "knn_k": KNN_K,
        "knn_t": KNN_TEMPERATURE,
        "device": "cpu",
    }
    es = transfer_settings(CompareSettings(dataset="cifar10"))
    assert es.knn_ks == (KNN_K,) and es.knn_temperature == KNN_TEMPERATURE


def _protocol_name_comparisons(path: Path) -> list[str]:
    """``x == "backgrounds"`` and the like: protocol names tested outside their class."""
    names = set(PROTOCOLS.names())
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            for value in (node.left, *node.comparators):
                if isinstance(value, ast.Constant) and value.value in names:
                    found.append(f"{path.name}:{node.lineno}")
        if isinstance(node, ast.Dict):  # a protocol-keyed table
            if any(isinstance(k, ast.Constant) and k.value in names for k in node.keys):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_protocol_or_dataset_names_are_tested_in_compare():
    files = sorted(COMPARE.glob("*.py"))
    assert len(files) >= 10
    assert [hit for p in files for hit in _protocol_name_comparisons(p)] == []
    text = "\n".join(p.read_text() for p in files).lower()
    assert "seed 00" not in text and "seed-00" not in text and "issue " not in text

"""``simclr-eval compare``: grouping, mean ± std, fallback rates, outputs."""

import json
import statistics

import pytest
from helpers.eval_testutils import fake_report

from simclr.evaluate.cli import main
from simclr.evaluate.report import compare_reports, compare_runs, load_report, mean_std


def test_mean_std_is_sample_std():
    assert mean_std([0.5]) == (0.5, 0.0)
    m, s = mean_std([0.80, 0.82, 0.84])
    assert m == pytest.approx(0.82) and s == pytest.approx(statistics.stdev([0.80, 0.82, 0.84]))


def test_compare_table_math(tmp_path):
    runs = [
        fake_report(tmp_path / "n0", "simclr", 0, {"cifar10": 0.824, "flowers102": 0.66}),
        fake_report(tmp_path / "n1", "simclr", 1, {"cifar10": 0.820, "flowers102": 0.68}),
        fake_report(
            tmp_path / "s0",
            "thesis",
            0,
            {"cifar10": 0.83, "flowers102": 0.67},
            fallback={"cifar10": 0.25},
        ),  # fmt: skip
        fake_report(tmp_path / "s1", "thesis", 1, {"cifar10": 0.826}, fallback={"cifar10": 0.35}),
        fake_report(tmp_path / "s2", "thesis", 2, {"cifar10": 0.828, "synthetic": 0.9}),
    ]
    res = compare_runs(runs, tmp_path / "out")
    normal, seg = "simclr/resnet50 (simclr)", "simclr/resnet50 (thesis)"
    assert res["pipelines"] == [normal, seg]
    assert res["datasets"] == ["cifar10", "flowers102", "synthetic"]  # Table 4 order first
    c = res["cells"][normal]["cifar10"]
    assert c["n"] == 2 and c["mean"] == pytest.approx(0.822)
    assert c["std"] == pytest.approx(statistics.stdev([0.824, 0.820]))
    c = res["cells"][seg]["cifar10"]
    assert c["n"] == 3 and c["mean"] == pytest.approx(0.828)
    assert c["std"] == pytest.approx(0.002)
    assert res["cells"][seg]["flowers102"]["n"] == 1
    assert res["fallback"][seg]["cifar10"] == pytest.approx(0.30)
    assert res["fallback"][normal]["cifar10"] is None
    md = (tmp_path / "out" / "compare.md").read_text()
    assert f"| {normal} | 2 | 82.2 ± 0.3 | 67.0 ± 1.4 | — |" in md
    assert f"| {seg} | 3 | 82.8 ± 0.2 | 67.0 (n=1) | 90.0 (n=1) |" in md
    assert f"| {seg} | 30.0 | — | — |" in md  # fallback table
    assert (tmp_path / "out" / "compare.png").stat().st_size > 0
    assert json.loads((tmp_path / "out" / "compare.json").read_text())["protocol"] == "linear"


def test_other_protocol_and_errors(tmp_path):
    a = fake_report(tmp_path / "a", "simclr", 0, {"cifar10": 0.8})
    res = compare_reports([load_report(a)], protocol="knn_k20")
    assert res["cells"]["simclr/resnet50 (simclr)"]["cifar10"]["mean"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="protocol: 'finetune_1pct' is in no report"):
        compare_reports([load_report(a)], protocol="finetune_1pct")
    with pytest.raises(ValueError, match="runs: no report at"):
        load_report(tmp_path / "missing")


def test_cli_compare(tmp_path, capsys):
    a = fake_report(tmp_path / "a", "simclr", 0, {"cifar10": 0.8})
    b = fake_report(tmp_path / "b", "simclr", 1, {"cifar10": 0.9})
    assert main(["compare", str(a), str(b / "report.json"), "--out", str(tmp_path / "o")]) == 0
    assert "85.0 ± 7.1" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2

"""Running a study: the report folder, resume, one run per spec, floors, and the outputs.

:func:`run_study` validates the settings, plans the runs, asks the protocol to check
and prepare its data, trains and measures every run (each saved as it ends, so
``resume`` skips what is done), measures the floors through the same protocol, and
writes ``report.json``, ``report.md`` and the plots.

Example:
    >>> from simclr.compare.settings import CompareSettings
    >>> run_study(CompareSettings(seeds=()), progress=False)
    Traceback (most recent call last):
    ...
    ValueError: seeds: expected at least one seed, got none
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from simclr.compare.plan import BASELINE, RunSpec, plan_runs, train_config
from simclr.compare.protocols import Protocol, get_protocol
from simclr.compare.settings import DEFAULT_STUDY_MINUTES, CompareSettings, preset_settings

__all__ = [
    "AXIS_DEFAULTS",
    "ROW_FIELDS",
    "adopt_renamed_runs",
    "renamed_runs",
    "describe_study",
    "estimated_minutes",
    "evaluate_floors",
    "keeps_rows",
    "row_names",
    "run_study",
    "start_line",
    "study_settings",
]

_RUN_COUNT_FIELDS = ("recipes", "sweep", "seeds", "anchors", "floors")
"""Settings that change how many runs a study has, not what one run costs."""
_COST_FREE_FIELDS = ("out_dir", "preset", "threads", "num_workers", "device", "download")
"""Settings that do not change the work (``device`` only while it is not ``cuda``)."""


def describe_study(s: CompareSettings, specs: list[RunSpec] | None = None) -> str:
    """What a study runs, in words: protocol, data, runs, epochs, rows and seeds.

    Example:
        >>> print(describe_study(preset_settings("default")))  # doctest: +NORMALIZE_WHITESPACE
        the backgrounds protocol on synthetic (4096 images, 32 px) with 20 simclr pretraining
        runs of 6 epochs (objects alone, simclr, thesis, background_fill x seeds 0 1 2 3 4)
        and the floors
    """
    from simclr.compare.plan import renders_data

    specs = plan_runs(s) if specs is None else specs
    rows = list(dict.fromkeys(r.row for r in specs))
    shown = ", ".join(rows[:8]) + (f" and {len(rows) - 8} more rows" if len(rows) > 8 else "")
    data = f"{s.num_samples} images" if renders_data(s) else f"from {s.data_root}"
    epochs = " or ".join(str(e) for e in s.budget_axis())
    seeds = " ".join(map(str, s.seeds))
    return (
        f"the {s.resolved_protocol()} protocol on {s.dataset} ({data}, {s.image_size} px) "
        f"with {len(specs)} {'/'.join(s.methods)} pretraining runs of {epochs} epochs "
        f"({shown} x seed{'s' if len(s.seeds) != 1 else ''} {seeds})"
        + (" and the floors" if s.floors else "")
    )


def estimated_minutes(s: CompareSettings, specs: list[RunSpec] | None = None) -> float | None:
    """Rough wall time of the whole study on 2 CPU cores, or None when it cannot be said.

    The default study took :data:`~simclr.compare.settings.DEFAULT_STUDY_MINUTES`; a study
    that differs from it only in how many runs it has (recipes, sweeps, seeds, anchors,
    floors) is scaled by its number of runs. Any other change (data, model, epochs, probe
    sizes, mask rows, a GPU) has no estimate.

    Example:
        >>> estimated_minutes(preset_settings("default"))
        15.0
        >>> estimated_minutes(preset_settings("default", seeds=(0, 1, 2)))  # 3 seeds of 5
        9.0
        >>> estimated_minutes(preset_settings("default", epochs=20)) is None
        True
    """
    base = preset_settings("default")
    free = (*_RUN_COUNT_FIELDS, *_COST_FREE_FIELDS)
    if s.device == "cuda" or any(
        getattr(s, k) != getattr(base, k) for k in CompareSettings.__dataclass_fields__
        if k not in free
    ):  # fmt: skip
        return None
    specs = plan_runs(s) if specs is None else specs
    return DEFAULT_STUDY_MINUTES * len(specs) / len(plan_runs(base))


def start_line(
    s: CompareSettings, specs: list[RunSpec], out: Path, done: int = 0, resumed: bool = False
) -> str:
    """The line a study prints before any work: what it runs, about how long, where it writes.

    Example:
        >>> s = preset_settings("default")
        >>> line = start_line(s, plan_runs(s), Path("runs/compare-x"))
        >>> line.startswith("segaug-compare: default study: the backgrounds protocol on")
        True
        >>> line.endswith("floors; about 15 minutes on 2 CPU cores; writing runs/compare-x/")
        True
    """
    minutes = estimated_minutes(s, specs)
    took = (
        f"about {minutes:.0f} minute{'s' if round(minutes) != 1 else ''} on 2 CPU cores"
        if minutes is not None
        else f"no time estimate for these settings (the default study takes about "
        f"{DEFAULT_STUDY_MINUTES:.0f} minutes on 2 CPU cores)"
    )
    if resumed:
        return (
            f"segaug-compare: resuming {out}/ ({done} of {len(specs)} runs done): "
            f"{describe_study(s, specs)}; the whole study takes {took}"
        )
    name = "default study" if s.preset == "default" else f"preset {s.preset!r}"
    return f"segaug-compare: {name}: {describe_study(s, specs)}; {took}; writing {out}/"


def run_done_line(
    s: CompareSettings,
    done: int,
    total: int,
    trained: list[tuple[RunSpec, float]],
    left: list[RunSpec],
) -> str:
    """A study's log line as each run ends, without a progress bar: its time, the time left.

    ``trained`` holds the runs this invocation trained, spec and seconds (pretraining and
    measurement), the run that just ended last. The estimate scales their seconds per
    pretraining epoch to the epochs of the runs ``left``, so a budget axis is counted
    right; the floors come after.

    Example:
        >>> s = preset_settings("photos")  # 3 and 9 epochs: 24 runs
        >>> specs = plan_runs(s)
        >>> line = run_done_line(s, 1, 24, [(specs[0], 60.0)], specs[1:])
        >>> print(line)  # doctest: +NORMALIZE_WHITESPACE
        segaug-compare: run 1 of 24 done (3 ep / objects alone seed 0, 1.0 min);
        about 47 min of runs left
    """

    def epochs(r: RunSpec) -> int:
        return r.epochs or s.epochs

    spec, seconds = trained[-1]
    per_epoch = sum(t for _, t in trained) / max(sum(epochs(r) for r, _ in trained), 1)
    minutes = per_epoch * sum(epochs(r) for r in left) / 60
    tail = f"about {minutes:.0f} min of runs left" if left else "the floors next"
    return (
        f"segaug-compare: run {done} of {total} done ({spec.row} seed {spec.seed}, "
        f"{seconds / 60:.1f} min); {tail}"
    )


def study_settings(folder: str | Path) -> CompareSettings:
    """The settings a study folder was run with (``settings.json``).

    Settings added since the folder was made take their defaults.

    Raises:
        ValueError: ``folder`` is not a study (no readable ``settings.json``), in one line.
    """
    path = Path(folder) / "settings.json"
    if not path.is_file():
        raise ValueError(f"resume: {folder} is not a segaug-compare folder (no settings.json)")
    try:
        saved = json.loads(path.read_text())
        return CompareSettings.from_dict(
            {**json.loads(json.dumps(asdict(CompareSettings()))), **saved}
        )
    except (ValueError, TypeError) as err:
        raise ValueError(f"resume: {path} cannot be read ({err})") from None


ROW_FIELDS = (
    "recipes",
    "sweep",
    "segmenter_masks",
    "degraded_masks",
    "methods",
    "seeds",
    "batch_sizes",
    "budgets",
)
"""Settings a resumed study may extend (``segaug-compare --resume DIR --sweep ...``,
``--methods simclr byol``, ``--seeds 5``, ``--budgets 6 18``): its finished runs stay
valid, because every run depends only on its row, its method, batch size, budget, masks
and seed, and the other settings, which must stay as stored."""

AXIS_DEFAULTS = {"batch_sizes": "batch_size", "budgets": "epochs"}
"""Axes that, left empty, hold one value: that of another setting."""


def row_flags(last: str) -> str:
    """The flags of :data:`ROW_FIELDS` as a user types them, in a sentence.

    Example:
        >>> row_flags("or")  # doctest: +NORMALIZE_WHITESPACE
        '--recipes, --sweep, --segmenter-masks, --degraded-masks, --methods, --seeds,
         --batch-sizes or --budgets'
    """
    flags = [f"--{key.replace('_', '-')}" for key in ROW_FIELDS]
    return f"{', '.join(flags[:-1])} {last} {flags[-1]}"


def row_names(key: str, settings: Mapping[str, Any]) -> set[str]:
    """What setting ``key`` (:data:`ROW_FIELDS`) of ``settings`` adds to a study: its rows,
    methods, seeds, batch sizes or budgets, as text.

    ``settings`` is a study's settings as a mapping (``settings.json``, ``asdict``). An
    empty ``batch_sizes`` or ``budgets`` stands for the one ``batch_size`` or ``epochs``.

    Example:
        >>> sorted(row_names("sweep", {"sweep": ["independent_swap.p=0.5,0.8"]}))
        ['independent_swap p=0.5', 'independent_swap p=0.8']
        >>> sorted(row_names("degraded_masks", {"degraded_masks": [0.9, 0.75]}))
        ['0.75', '0.9']
        >>> row_names("budgets", {"budgets": [], "epochs": 6})
        {'6'}
    """
    from simclr.compare.plan import sweep_rows

    entries = settings[key]
    if key in AXIS_DEFAULTS and not entries:
        entries = [settings[AXIS_DEFAULTS[key]]]
    if key == "sweep":
        return {label for spec in entries for label, _ in sweep_rows(spec)[1]}
    if key == "degraded_masks":
        return {f"{float(v):g}" for v in entries}
    return {str(v) for v in entries}


def keeps_rows(key: str, saved: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    """Whether setting ``key`` of the settings ``now`` makes every row and run that it
    made in the ``saved`` settings (both mappings, as in :func:`row_names`).

    Only :data:`ROW_FIELDS` may change on resume, and only this way: rows, methods,
    seeds, batch sizes or budgets are added, in any order and however the entries are
    written, never dropped. ``method_params`` may change only for methods that the
    ``saved`` study does not have (the hyperparameters of a method it gains).

    Example:
        >>> keeps_rows("sweep", {"sweep": ["independent_swap.p=0.5,0.8"]},
        ...            {"sweep": ["independent_swap.p=0.5,0.8,1.0"]})
        True
        >>> keeps_rows("sweep", {"sweep": ["independent_swap.p=0.8"]}, {"sweep": []})
        False
        >>> keeps_rows("seeds", {"seeds": [0]}, {"seeds": [0, 1]})
        True
        >>> keeps_rows("budgets", {"budgets": [], "epochs": 6}, {"budgets": [6, 18], "epochs": 6})
        True
        >>> keeps_rows("epochs", {"epochs": 6}, {"epochs": 18})
        False
        >>> saved = {"methods": ["simclr"], "method_params": {}}
        >>> keeps_rows("method_params", saved, {"method_params": {"byol": {"momentum": 0.996}}})
        True
        >>> keeps_rows("method_params", saved, {"method_params": {"simclr": {"temperature": 0.5}}})
        False
    """
    if key == "method_params":
        return all(now[key].get(m) == saved[key].get(m) for m in saved["methods"])
    return key in ROW_FIELDS and row_names(key, saved) <= row_names(key, now)


def _open_resumed(out: Path, settings: CompareSettings) -> None:
    """Refuse a folder that is not a study, or one run with other settings; a study that
    gains rows (:func:`keeps_rows`) gets the new settings in its ``settings.json``."""
    from segaug.io import atomic_write

    saved = json.loads(json.dumps(asdict(study_settings(out))))
    now = json.loads(json.dumps(asdict(settings)))
    differ = sorted(k for k in now if saved[k] != now[k] and not keeps_rows(k, saved, now))
    if differ:
        shown = ", ".join(f"{k}: {saved[k]!r} -> {now[k]!r}" for k in differ[:4])
        raise ValueError(
            f"resume: {out} was run with other settings ({shown}); resume it with "
            f"`segaug-compare --resume {out}` alone (adding entries to {row_flags('or')} at "
            "most), or start a new --out-dir"
        )
    if saved != now:
        atomic_write(out / "settings.json", json.dumps(asdict(settings), indent=1))


def _run_identity(folder: Path) -> tuple[str, int, int, int] | None:
    """Method, batch size, epochs and seed of the run a folder holds (from its
    ``result.json``, else its ``config.yaml``); ``None`` when neither says."""
    import yaml

    try:
        result = json.loads((folder / "result.json").read_text())
        if result.get("epochs"):  # results written before the field existed lack it
            return (
                str(result["method"]),
                int(result["batch_size"]),
                int(result["epochs"]),
                int(result["seed"]),
            )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        pass
    try:
        cfg = yaml.safe_load((folder / "config.yaml").read_text())
        return (
            str(cfg["method"]["name"]),
            int(cfg["data"]["batch_size"]),
            int(cfg["train"]["epochs"]),
            int(cfg["train"]["seed"]),
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None


def renamed_runs(out: Path, specs: list[RunSpec]) -> list[tuple[str, RunSpec]]:
    """The finished or interrupted runs of a study that gained an axis, and their new
    folder names; reads only.

    A study names a method, batch size or budget in its rows only when it has several,
    so a study resumed with a second one (``--methods simclr byol``) renames its rows:
    ``thesis`` becomes ``simclr / thesis``. Each run whose folder is missing is held by
    a folder under another of its names (:func:`~simclr.compare.plan.earlier_names`)
    whose own ``result.json`` or ``config.yaml`` shows the same method, batch size,
    epochs and seed. Any of the names counts, so a folder left half-renamed by a crash
    is found on the next resume, whatever the settings it resumes with.

    Returns:
        Each such run's old folder name and its spec (whose ``name`` is the new one), in
        plan order.

    Raises:
        ValueError: Two folders hold a run whose own folder is missing (one line naming
            both).
    """
    from simclr.compare.plan import earlier_names

    runs = out / "runs"
    renamed = []
    for spec in specs:
        if (runs / spec.name).exists():
            continue
        identity = (spec.method, spec.batch_size, spec.epochs, spec.seed)
        held = [
            name
            for name in earlier_names(spec)
            if (runs / name).is_dir() and _run_identity(runs / name) == identity
        ]
        if len(held) > 1:
            raise ValueError(
                f"resume: {runs} holds the run '{spec.row}' seed {spec.seed} twice "
                f"({', '.join(held)}); keep one of them"
            )
        if held:
            renamed.append((held[0], spec))
    return renamed


def adopt_renamed_runs(out: Path, renamed: list[tuple[str, RunSpec]]) -> None:
    """Move each run folder of :func:`renamed_runs` to its new name; its ``result.json``
    gets the new row name (read from the plan as well, should a crash come between)."""
    from segaug.io import atomic_write

    runs = out / "runs"
    for old, spec in renamed:
        (runs / old).rename(runs / spec.name)
        result = runs / spec.name / "result.json"
        try:
            stored = json.loads(result.read_text())
            stored["row"] = spec.row
            atomic_write(result, json.dumps(stored, indent=1))
        except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError):
            pass  # no result yet, or a broken one (reported and redone by the loop)


def _last_logged_epoch(run_dir: Path) -> dict[str, float]:
    """The last row of a run's ``epochs.csv`` (a resumed run that had no epoch left)."""
    import csv

    path = run_dir / "epochs.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: float(v) for k, v in rows[-1].items() if k in ("loss", "fallback_rate") and v}


def _read_result(path: Path) -> dict[str, Any] | None:
    """A finished run's ``result.json``; ``None`` (said on stderr) when it cannot be read."""
    try:
        result = json.loads(path.read_text())
        if not isinstance(result, dict):
            raise ValueError(f"expected a JSON object, got {type(result).__name__}")
        return result
    except (OSError, UnicodeDecodeError, ValueError) as err:
        print(f"segaug-compare: {path} is broken ({err}); that run is redone", file=sys.stderr)
        path.unlink(missing_ok=True)
        return None


def _peak_memory(cuda: bool, rss: Any) -> dict[str, Any]:
    """Peak memory of the run: CUDA allocations, or the process's RSS peak on CPU.

    On CPU the figure is :class:`segaug.env.PeakRSS` of the pretraining: the whole
    process (the evaluation sets it holds included), sampled while the run trains; the
    report labels it as such.
    """
    if cuda:
        return {
            "peak_memory_bytes": torch.cuda.max_memory_allocated(),
            "peak_memory_kind": "torch.cuda.max_memory_allocated",
        }
    return {"peak_memory_bytes": rss.peak_bytes, "peak_memory_kind": rss.kind}


def _run_one(
    s: CompareSettings,
    protocol: Protocol,
    spec: RunSpec,
    run_dir: Path,
    prepared: Any,
    resume_from: Path | None = None,
) -> dict[str, Any]:
    """Pretrain one run (or continue it from ``resume_from``), then measure its encoder.

    A resumed run's ``train_seconds`` covers only its last part and its ``images_per_s``
    is not measured (NaN); ``resumed`` says so.
    """
    from segaug.env import PeakRSS
    from simclr.evaluate.features import load_encoder
    from simclr.train import train

    cfg = train_config(s, spec, run_dir)
    cuda = torch.cuda.is_available() and s.device in ("auto", "cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with PeakRSS() as rss:
        result = train(cfg, resume=resume_from, overwrite=resume_from is None)
    seconds = time.perf_counter() - t0
    peak = _peak_memory(cuda, rss)
    enc = load_encoder(run_dir)
    mean, std = enc.mean_std
    metrics = protocol.evaluate(enc.encoder, s, mean, std, prepared)
    last = result.epochs[-1] if result.epochs else _last_logged_epoch(run_dir)
    batch = cfg.data.batch_size
    return {
        **asdict(spec),
        "params": dict(spec.params),
        "batch_size": batch,
        "train_seconds": seconds,
        "images_per_s": math.nan if resume_from else result.step * batch / seconds,
        "steps": result.step,
        "resumed": resume_from is not None,
        **peak,
        "final_loss": float(last.get("loss", math.nan)),
        "fallback_rate": float(last.get("fallback_rate", math.nan)),
        **metrics,
    }


def evaluate_floors(
    s: CompareSettings, protocol: Protocol, prepared: Any
) -> dict[str, dict[str, Any]]:
    """The floors through the protocol's probes: what needs no training.

    ``random init``: the runs' architecture randomly initialised, one per seed
    (:func:`simclr.evaluate.features.random_encoder`, the evaluation suite's floor);
    ``raw pixels``: images area-downsampled to the suite's ``raw_pixel_size`` (at most
    the image size) and flattened (:class:`~simclr.evaluate.features.RawPixels`).
    """
    from simclr.config import DataConfig
    from simclr.data import normalization_stats
    from simclr.evaluate.features import RawPixels, random_encoder
    from simclr.evaluate.suite import EvalSettings

    mean, std = normalization_stats(DataConfig(dataset=s.dataset))
    out: dict[str, dict[str, Any]] = {"random init": {"seeds": []}, "raw pixels": {}}
    for seed in s.seeds:
        spec = RunSpec(BASELINE, "baseline", s.methods[0], BASELINE, (), seed)
        config = train_config(s, spec, Path(s.out_dir)).to_dict()
        enc = random_encoder(config, seed)
        out["random init"]["seeds"].append(protocol.evaluate(enc, s, mean, std, prepared))
    raw = RawPixels(min(EvalSettings.raw_pixel_size, s.image_size))
    out["raw pixels"]["seeds"] = [protocol.evaluate(raw, s, mean, std, prepared)]
    return out


def run_study(
    settings: CompareSettings,
    progress: bool = True,
    resume: str | Path | None = None,
    announce: Callable[[str], None] | None = None,
) -> Path:
    """Run the study and write the report; returns the report folder.

    Args:
        settings: What to run.
        progress: Show a progress bar over runs.
        resume: A previous report folder: its finished runs are reused, the rest run.
        announce: Called with :func:`start_line` (what the study runs, about how long
            it takes, where it writes) after the settings and the data are checked and
            before any work, and before it, on a resume that renamed run folders
            (:func:`adopt_renamed_runs`), with a line saying so; without a progress
            bar, also as each run ends (:func:`run_done_line`). ``segaug-compare``
            prints them.

    Raises:
        ValueError: Bad settings, before any training.
    """
    from segaug.env import machine_summary
    from segaug.io import atomic_write
    from simclr.compare.masks import build_mask_caches
    from simclr.compare.plots import write_plots
    from simclr.compare.report import render_markdown
    from simclr.compare.summary import calibration, findings, summarise

    settings.validate()
    specs = plan_runs(settings)
    protocol = get_protocol(settings.resolved_protocol())
    protocol.check_data(settings)  # missing data fails before any folder is made
    if settings.threads:
        torch.set_num_threads(settings.threads)
    t_start = time.time()
    if resume is not None:
        out = Path(resume)
        renamed = renamed_runs(out, specs)  # refuses two copies of a run before any change
        _open_resumed(out, settings)
        adopt_renamed_runs(out, renamed)
        if renamed and announce is not None:
            first = ", ".join(f"{old} -> {spec.name}" for old, spec in renamed[:2])
            more = f" and {len(renamed) - 2} more" if len(renamed) > 2 else ""
            folders = f"{len(renamed)} run folder{'s' if len(renamed) != 1 else ''}"
            announce(
                f"segaug-compare: the study's rows now name their method, batch size or "
                f"budget: {folders} renamed ({first}{more})"
            )
    else:
        out = Path(settings.out_dir) / f"compare-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        out.mkdir(parents=True, exist_ok=False)
        atomic_write(out / "settings.json", json.dumps(asdict(settings), indent=1))
    if announce is not None:
        done = sum((out / "runs" / spec.name / "result.json").is_file() for spec in specs)
        announce(start_line(settings, specs, out, done=done, resumed=resume is not None))
    prepared = protocol.prepare(settings)
    mask_quality = build_mask_caches(settings, out, progress=progress)
    runs: list[dict[str, Any]] = []
    reused = 0
    trained: list[tuple[RunSpec, float]] = []
    bar = tqdm(specs, desc="compare", disable=not progress)
    for i, spec in enumerate(bar):
        bar.set_postfix_str(f"{spec.row} seed {spec.seed}")
        run_dir = out / "runs" / spec.name
        done = run_dir / "result.json"
        loaded = _read_result(done) if done.is_file() else None
        if loaded is not None:  # a result written before a field existed gets the spec's
            runs.append({**asdict(spec), "params": dict(spec.params), **loaded, "row": spec.row})
            runs[-1]["epochs"] = runs[-1].get("epochs") or spec.epochs
            reused += 1
            continue
        # an interrupted run continues from its last checkpoint; one killed before its
        # first checkpoint starts again in its emptied folder
        resume_from = run_dir if (run_dir / "last.pt").is_file() else None
        t_run = time.perf_counter()
        result = _run_one(settings, protocol, spec, run_dir, prepared, resume_from)
        atomic_write(done, json.dumps(result, indent=1))  # nothing finished is lost
        runs.append(result)
        trained.append((spec, time.perf_counter() - t_run))
        if announce is not None and not progress:  # a log has no bar to show the time left
            left = [
                r for r in specs[i + 1 :] if not (out / "runs" / r.name / "result.json").is_file()
            ]
            announce(run_done_line(settings, i + 1, len(specs), trained, left))
    floors = evaluate_floors(settings, protocol, prepared) if settings.floors else {}
    summary = summarise(runs, floors, protocol, mask_quality, settings.methods[0])
    report = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "settings": json.loads(json.dumps(asdict(settings))),
        "summary": summary,
        "calibration": calibration(summary),
        "findings": findings(summary),
        "runs": runs,
        "machine": machine_summary(),
        "seconds": time.time() - t_start,
        "reused_runs": reused,
    }
    atomic_write(out / "report.json", json.dumps(report, indent=1, default=float))
    write_plots(out, summary)
    atomic_write(out / "report.md", render_markdown(report))
    return out

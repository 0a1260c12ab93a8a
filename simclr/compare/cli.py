"""``segaug-compare``'s command line: presets, ``--set``, ``--grid`` files, then :func:`run_study`.

Bad input fails before any work, with one line on stderr and exit status 2.

Example:
    >>> _parse_value("[0.2, 0.5]")
    [0.2, 0.5]
    >>> main(["--set", "epochs=0", "--no-progress"])
    2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from simclr.compare.protocols import PROTOCOLS, get_protocol
from simclr.compare.runner import (
    AXIS_DEFAULTS,
    ROW_FIELDS,
    keeps_rows,
    row_flags,
    row_names,
    run_study,
    study_settings,
)
from simclr.compare.settings import (
    DEFAULT_STUDY_MINUTES,
    PRESETS,
    CompareSettings,
    preset_settings,
)

__all__ = ["build_parser", "main"]


def _read_grid(path: str) -> dict[str, Any]:
    """Settings from a YAML mapping (lists become tuples); unknown keys are refused."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"--grid {path!r}: cannot read it ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"--grid {path!r}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--grid {path!r}: expected a mapping of settings, got {data!r}")
    fields = CompareSettings.__dataclass_fields__
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"--grid {path!r}: unknown settings {unknown}; expected some of {', '.join(fields)}"
        )
    return {k: _setting_value(k, v) for k, v in data.items()}


def _setting_value(key: str, value: Any) -> Any:
    """A ``--set`` or ``--grid`` value in the settings' form: lists become tuples, an
    integer ``seeds`` is a count (as ``--seeds N``), and a single value of a list setting
    is a list of one (``methods=byol``, ``budgets=18``).

    Example:
        >>> _setting_value("seeds", 3), _setting_value("methods", "byol")
        ((0, 1, 2), ('byol',))
        >>> _setting_value("budgets", [6, 18]), _setting_value("epochs", 6)
        ((6, 18), 6)
    """
    if isinstance(value, list):
        return tuple(value)
    if key == "seeds" and isinstance(value, int) and not isinstance(value, bool):
        return tuple(range(value))
    if isinstance(CompareSettings.__dataclass_fields__[key].default, tuple) and not isinstance(
        value, dict
    ):
        return (value,)
    return value


def _parse_value(text: str) -> Any:
    """A ``--set`` value as a YAML scalar, list or mapping."""
    import yaml

    return yaml.safe_load(text)


def _resumed_settings(folder: str, preset: str | None, overrides: dict[str, Any]) -> Any:
    """A study folder's own settings; a flag given with ``--resume`` must not change one,
    except those of :data:`ROW_FIELDS` (``--recipes``, ``--sweep``, the mask rows,
    ``--methods``, ``--seeds``, ``--batch-sizes``, ``--budgets``), which may add to the
    study (:func:`keeps_rows`)."""
    from dataclasses import asdict, replace

    saved = study_settings(folder)
    if preset is not None and preset != saved.preset:
        raise ValueError(
            f"--preset {preset}: {folder} was run with preset {saved.preset!r}; resume it "
            "without --preset"
        )
    stored = asdict(saved)
    added: dict[str, Any] = {}
    for key, value in overrides.items():
        if _json_form(value) == _json_form(stored[key]):
            continue
        now = {**stored, key: value}
        if keeps_rows(key, stored, now):
            if key not in ROW_FIELDS or row_names(key, now) != row_names(key, stored):
                added[key] = value  # else only reordered
            continue
        raise ValueError(
            f"{key}: {folder} was run with {key}={stored[key]!r}, got {value!r}; a "
            f"resumed study keeps its settings{_what_may_change(key, stored, now)} (drop "
            "the flag, or start a new --out-dir)"
        )
    return replace(saved, **added) if added else saved


def _what_may_change(key: str, stored: dict[str, Any], now: dict[str, Any]) -> str:
    """How setting ``key`` may change on resume, for the one-line refusal ("" if not)."""
    if key == "method_params":
        return "; method_params may only add the parameters of a method the study gains"
    if key not in ROW_FIELDS:
        return ""
    dropped = sorted(row_names(key, stored) - row_names(key, now))
    if key == "seeds":
        seeds = sorted(int(v) for v in dropped)
        return f"; --seeds may add seeds, not drop {seeds} (--seeds N runs seeds 0 to N-1)"
    default = AXIS_DEFAULTS.get(key)
    held = f" (the study's {default}={stored[default]})" if default and not stored[key] else ""
    return (
        f"; --{key.replace('_', '-')} may add to the study, listing the stored entries too, "
        f"but not drop {dropped}{held}"
    )


def _json_form(value: Any) -> Any:
    """``value`` as settings.json stores it (tuples as lists)."""
    return json.loads(json.dumps(value))


def _epilog() -> str:
    """What a bare ``segaug-compare`` does, how long it takes, where it writes; examples."""
    from simclr.compare.plan import plan_runs
    from simclr.compare.runner import describe_study

    d = preset_settings("default")
    return (
        f"A bare `segaug-compare` runs the default study: {describe_study(d, plan_runs(d))}. "
        f"It takes about {DEFAULT_STUDY_MINUTES:.0f} minutes on 2 CPU cores and writes "
        f"{d.out_dir}/compare-<timestamp>/ (report.md, report.json, plots; --out-dir moves "
        "it). Before any work it prints one line: what it runs, about how long it takes and "
        "where it writes. Every finished run is saved as it ends; --resume DIR completes an "
        "interrupted study, and with --recipes, --sweep, --methods, --seeds or --budgets adds "
        "rows, methods, seeds or training lengths to a finished one.\n\n"
        "examples:\n"
        "  segaug-compare --preset cpu                  # every recipe and the p sweeps\n"
        "  segaug-compare --recipes background_fill --seeds 1\n"
        "  segaug-compare --preset study --dataset cifar10 --data-root ~/data\n"
        "  segaug-compare --resume runs/compare-20260101-120000\n"
        "  segaug-compare --resume runs/compare-20260101-120000 --sweep independent_swap.p=1.0\n"
        "  segaug-compare --resume runs/compare-20260101-120000 --methods simclr byol --seeds 5"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``segaug-compare``.

    Options that default to ``None`` take the preset's value (``--preset default``
    unless given); their help says what that is in the default preset.
    """
    from segaug import recipes
    from segaug.helptext import DefaultsHelpFormatter, format_default

    d = preset_settings("default")

    def preset(field: str, what: str = "") -> str:
        value = what or format_default(getattr(d, field))
        return f"(default: the preset's; {value} in the default preset)"

    p = argparse.ArgumentParser(
        prog="segaug-compare",
        description="Does a recipe reduce an encoder's reliance on the background? "
        "Floors, anchors, recipes x methods x batch sizes x seeds, the backgrounds "
        "challenge and paired statistics on the offline SyntheticShapes data; on a real "
        "dataset (--dataset), linear probe and kNN (the transfer protocol).",
        epilog=_epilog(),
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument(
        "--preset",
        default=None,
        choices=list(PRESETS),
        help="named starting point of the settings: default (floors, anchors, thesis and "
        "background_fill), cpu (every recipe and the p sweeps), study (methods x recipes x "
        "batch sizes), photos (real objects on real photos), gpu (64 px, ResNet-18, "
        "hundreds of epochs) (default: default; with --resume, the folder's)",
    )
    p.add_argument(
        "--recipes",
        "--pipelines",
        nargs="+",
        dest="recipes",
        default=None,
        metavar="RECIPE",
        help=f"recipes compared with the baseline, of {', '.join(recipes.names())} "
        + preset("recipes"),
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=None,
        metavar="METHOD",
        help="SSL methods, each with its own anchors " + preset("methods"),
    )
    p.add_argument(
        "--sweep",
        nargs="+",
        default=None,
        metavar="RECIPE.PARAM=V1,V2",
        help="extra rows, one per value, e.g. background_fill.p=0.2,0.5; pairs after a space "
        "hold other parameters fixed: 'background_fill.p=0.5 swap=1.0' " + preset("sweep"),
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="number of seeds: 0, 1, ..., N-1 " + preset("seeds", str(len(d.seeds))),
    )
    p.add_argument(
        "--batch-sizes",
        nargs="+",
        type=int,
        default=None,
        help="a batch-size axis: every row at each "
        + preset("batch_sizes", f"none (every run at batch {d.batch_size})"),
    )
    p.add_argument(
        "--budgets",
        nargs="+",
        type=int,
        default=None,
        metavar="EPOCHS",
        help="a training-length axis: every row at each (the report plots gain against steps) "
        + preset("budgets", f"none (every run {d.epochs} epochs)"),
    )
    p.add_argument(
        "--segmenter-masks",
        nargs="+",
        default=None,
        metavar="SEGMENTER",
        help="also train every recipe and sweep row with these segmenters' masks (classical, "
        "deeplabv3, sam; datasets with exact backgrounds), computed once per study "
        + preset("segmenter_masks"),
    )
    p.add_argument(
        "--degraded-masks",
        nargs="+",
        type=float,
        default=None,
        metavar="IOU",
        help="also train every recipe and sweep row with the exact masks degraded to these IoUs "
        "(e.g. 0.9 0.75 0.6 0.45): the mask-quality curve " + preset("degraded_masks"),
    )
    p.add_argument(
        "--mask-checkpoint",
        default=None,
        help="weights file of a --segmenter-masks entry that loads weights (default: none; "
        "deeplabv3 then uses torchvision's downloaded weights)",
    )
    p.add_argument(
        "--grid",
        default=None,
        metavar="YAML",
        help="a YAML mapping of settings (recipes, methods, batch_sizes, seeds, sweep, ...) "
        "(default: none)",
    )
    p.add_argument("--no-anchors", action="store_true", help="skip objects-alone and baseline")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any CompareSettings field, e.g. --set epochs=20 --set bias=0.8 (repeatable)",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="a registered dataset; a real one runs the transfer protocol "
        + preset("dataset", f"{d.dataset} (the offline SyntheticShapes data)"),
    )
    p.add_argument(
        "--data-root", default=None, help="root folder of a real dataset " + preset("data_root")
    )
    p.add_argument(
        "--masks",
        default=None,
        help="data.masks of real data: gt, files:DIR, cache dir, classical " + preset("masks"),
    )
    p.add_argument(
        "--protocol",
        default=None,
        choices=["auto", *PROTOCOLS.names()],
        help="; ".join(f"{n}: {get_protocol(n).description}" for n in PROTOCOLS.names())
        + "; auto picks from the dataset's capabilities "
        + preset("protocol"),
    )
    p.add_argument(
        "--device",
        default=None,
        help="auto (cuda when available), cpu or cuda " + preset("device"),
    )
    p.add_argument(
        "--out-dir",
        default=None,
        help="parent folder of the study's compare-<timestamp>/ folder " + preset("out_dir"),
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="complete a study folder with its own settings (other flags must agree with "
        f"them, except {row_flags('and')}, which may add to the study: list the stored "
        "entries and the new ones; --seeds N adds seeds up to N-1) (default: none, a new "
        "study)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar: a line per finished run instead, with the time left",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``segaug-compare``."""
    p = build_parser()
    a = p.parse_args(argv)
    try:
        overrides: dict[str, Any] = _read_grid(a.grid) if a.grid else {}
        for item in a.set:
            key, sep, value = item.partition("=")
            if not sep or key not in CompareSettings.__dataclass_fields__:
                raise ValueError(
                    f"--set {item!r}: expected KEY=VALUE with KEY one of "
                    f"{', '.join(CompareSettings.__dataclass_fields__)}"
                )
            overrides[key] = _setting_value(key, _parse_value(value))
        for key in ("recipes", "methods", "sweep"):
            if getattr(a, key) is not None:
                overrides[key] = tuple(getattr(a, key))
        if a.seeds is not None:
            overrides["seeds"] = tuple(range(a.seeds))
        if a.batch_sizes is not None:
            overrides["batch_sizes"] = tuple(a.batch_sizes)
        for key in ("budgets", "segmenter_masks", "degraded_masks"):
            if getattr(a, key) is not None:
                overrides[key] = tuple(getattr(a, key))
        if a.mask_checkpoint is not None:
            overrides["mask_checkpoint"] = a.mask_checkpoint
        if a.no_anchors:
            overrides["anchors"] = False
        for key in ("dataset", "data_root", "masks", "protocol", "device", "out_dir"):
            if getattr(a, key) is not None:
                overrides[key] = getattr(a, key)
        if a.resume is not None:
            settings = _resumed_settings(a.resume, a.preset, overrides)
        else:
            settings = preset_settings(a.preset or "default", **overrides)
        out = run_study(
            settings,
            progress=not a.no_progress,
            resume=a.resume,
            announce=lambda line: print(line, flush=True),
        )
    except ValueError as err:
        print(f"segaug-compare: error: {err}", file=sys.stderr)
        return 2
    print((out / "report.md").read_text())
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

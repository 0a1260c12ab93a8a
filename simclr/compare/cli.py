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
from simclr.compare.runner import run_study, study_settings
from simclr.compare.settings import PRESETS, CompareSettings, preset_settings

__all__ = ["main"]


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
    if isinstance(data.get("seeds"), int):
        data["seeds"] = list(range(data["seeds"]))
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def _parse_value(text: str) -> Any:
    """A ``--set`` value as a YAML scalar, list or mapping."""
    import yaml

    return yaml.safe_load(text)


def _resumed_settings(folder: str, preset: str | None, overrides: dict[str, Any]) -> Any:
    """A study folder's own settings; a flag given with ``--resume`` must not change one."""
    from dataclasses import asdict

    saved = study_settings(folder)
    if preset is not None and preset != saved.preset:
        raise ValueError(
            f"--preset {preset}: {folder} was run with preset {saved.preset!r}; resume it "
            "without --preset"
        )
    stored = asdict(saved)
    for key, value in overrides.items():
        if _json_form(value) != _json_form(stored[key]):
            raise ValueError(
                f"{key}: {folder} was run with {key}={stored[key]!r}, got {value!r}; a "
                "resumed study keeps its settings (drop the flag, or start a new --out-dir)"
            )
    return saved


def _json_form(value: Any) -> Any:
    """``value`` as settings.json stores it (tuples as lists)."""
    return json.loads(json.dumps(value))


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``segaug-compare``."""
    p = argparse.ArgumentParser(
        prog="segaug-compare",
        description="Does a recipe reduce an encoder's reliance on the background? "
        "Floors, anchors, recipes x methods x batch sizes x seeds, the backgrounds "
        "challenge and paired statistics on the offline SyntheticShapes data; on a real "
        "dataset (--dataset), linear probe and kNN (the transfer protocol).",
    )
    p.add_argument("--preset", default=None, choices=list(PRESETS), help="default: default")
    p.add_argument("--recipes", "--pipelines", nargs="+", dest="recipes", default=None)
    p.add_argument("--methods", nargs="+", default=None)
    p.add_argument("--sweep", nargs="+", default=None, help="recipe.param=v1,v2 (extra rows)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (0, 1, ...)")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=None, help="a batch-size axis")
    p.add_argument(
        "--budgets",
        nargs="+",
        type=int,
        default=None,
        metavar="EPOCHS",
        help="a training-length axis: every row at each (the report plots gain against steps)",
    )
    p.add_argument(
        "--segmenter-masks",
        nargs="+",
        default=None,
        metavar="SEGMENTER",
        help="also train every recipe row with these segmenters' masks (classical, deeplabv3, "
        "sam; datasets with exact backgrounds), computed once per study",
    )
    p.add_argument(
        "--degraded-masks",
        nargs="+",
        type=float,
        default=None,
        metavar="IOU",
        help="also train every recipe row with the exact masks degraded to these IoUs "
        "(e.g. 0.9 0.75 0.6 0.45): the mask-quality curve",
    )
    p.add_argument(
        "--mask-checkpoint", default=None, help="weights file of a --segmenter-masks entry"
    )
    p.add_argument(
        "--grid",
        default=None,
        metavar="YAML",
        help="a YAML mapping of settings (recipes, methods, batch_sizes, seeds, sweep, ...)",
    )
    p.add_argument("--no-anchors", action="store_true", help="skip objects-alone and baseline")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any CompareSettings field, e.g. --set epochs=20 --set bias=0.8",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="a registered dataset (default synthetic; a real one runs the transfer protocol)",
    )
    p.add_argument("--data-root", default=None, help="root folder of a real dataset")
    p.add_argument(
        "--masks", default=None, help="data.masks of real data: gt, files:DIR, cache dir, classical"
    )
    p.add_argument(
        "--protocol",
        default=None,
        choices=["auto", *PROTOCOLS.names()],
        help="; ".join(f"{n}: {get_protocol(n).description}" for n in PROTOCOLS.names())
        + "; auto picks from the dataset's capabilities",
    )
    p.add_argument("--device", default=None)
    p.add_argument("--out-dir", default=None)
    p.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="complete a study folder with its own settings (other flags must agree with them)",
    )
    p.add_argument("--no-progress", action="store_true")
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
            v = _parse_value(value)
            overrides[key] = tuple(v) if isinstance(v, list) else v
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
        out = run_study(settings, progress=not a.no_progress, resume=a.resume)
    except ValueError as err:
        print(f"segaug-compare: error: {err}", file=sys.stderr)
        return 2
    print((out / "report.md").read_text())
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

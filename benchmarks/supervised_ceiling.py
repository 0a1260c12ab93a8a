"""How much object information can the study's encoder hold on its backgrounds? A labelled ceiling.

A recipe can only win back what the encoder is able to learn. This script trains the
study's own backbone (same architecture, same input size, same normalisation, random
initialisation) **with the class labels**, on the study's training objects and training
background regions, then probes it exactly as the study probes its rows: object info on
the random-background test split (unseen objects) and on the same objects on gray.

Three training sets, each ``--images`` images:

- ``random``: the objects on the dataset's backgrounds, family independent of the class.
  The labels tell the encoder what to keep and the backgrounds never help, so this is
  the most a background-invariant encoder of this size and budget holds: a ceiling for
  any self-supervised recipe.
- ``biased``: the study's own training distribution (family follows the class with the
  study's ``bias``), labelled: the ceiling when the backgrounds are a shortcut.
- ``gray``: the objects on gray: the labelled counterpart of the objects-alone anchor.

Example:
    python benchmarks/supervised_ceiling.py runs/compare-20261203-160157 --seeds 0 1 2

It prints a table next to the study's stored rows (anchor, baseline and recipes), with
what the backgrounds cost each row (on gray minus on the backgrounds), the share of its
object info it keeps on them, and the share of the study's gap it closes, and writes JSON
(``--json``) with the machine it ran on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from segaug.data import get_dataset_info  # noqa: E402
from segaug.env import machine_info, machine_summary  # noqa: E402
from simclr.compare.backgrounds import split_images  # noqa: E402
from simclr.compare.runner import study_settings  # noqa: E402
from simclr.compare.settings import L2_GRID, PROBE_FIT  # noqa: E402
from simclr.evaluate.background import half_split_probe, l2_selected_fit  # noqa: E402
from simclr.evaluate.features import (  # noqa: E402
    build_encoder_from_config,
    extract_tensor_features,
    load_encoder,
)
from simclr.evaluate.stats import gap_closed  # noqa: E402

TRAINING_SETS = ("random", "biased", "gray")
"""The labelled training sets (see the module docstring)."""


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per-image random crop (pad 4, crop back) and horizontal flip, as in CIFAR training.

    Shape:
        - x: :math:`(B, 3, S, S)` float; output: the same.
    """
    b, _, s, _ = x.shape
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    dx = torch.randint(0, 9, (b,), generator=generator)
    dy = torch.randint(0, 9, (b,), generator=generator)
    out = torch.stack([padded[i, :, dy[i] : dy[i] + s, dx[i] : dx[i] + s] for i in range(b)])
    flip = torch.rand(b, generator=generator) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def train_supervised(
    config: dict[str, Any],
    mean: list[float],
    std: list[float],
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    epochs: int,
    seed: int,
    batch_size: int = 128,
    lr: float = 2e-3,
) -> torch.nn.Module:
    """The run config's backbone trained from scratch with cross-entropy on ``images``.

    Shape:
        - images: :math:`(N, 3, S, S)` uint8; labels: :math:`(N,)` int.
    """
    torch.manual_seed(seed)
    encoder = build_encoder_from_config(config)
    with torch.no_grad():
        dim = encoder(torch.zeros(2, *images.shape[1:])).shape[1]
    head = torch.nn.Linear(dim, num_classes)
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, images.shape[0] // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    g = torch.Generator().manual_seed(seed)
    encoder.train()
    for _ in range(epochs):
        order = torch.randperm(images.shape[0], generator=g)
        for k in range(images.shape[0] // batch_size):
            idx = order[k * batch_size : (k + 1) * batch_size]
            x = _augment(images[idx].float() / 255.0, g)
            loss = F.cross_entropy(head(encoder((x - m) / s)), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return encoder.eval()


def measure(
    study: str | Path,
    seeds: list[int],
    epochs: int,
    images: int | None = None,
    sets: tuple[str, ...] = TRAINING_SETS,
) -> dict[str, Any]:
    """Object info (on the backgrounds, on gray) of labelled encoders, and the study's rows.

    Returns:
        ``{"dataset", "image_size", "images", "epochs", "seeds", "rows": [{"row", "kind",
        "seed", "object_info", "object_info_neutral", "minutes"}, ...], "summary": ...}``;
        the study's stored rows (anchor, baseline and recipe rows, ``kind`` as the study
        names it) come first, then the labelled rows (``kind`` ``"labelled"``);
        ``summary`` is :func:`gap_table` of the rows.
    """
    if not Path(study, "settings.json").is_file():
        raise ValueError(f"study: {study} is not a segaug-compare folder (no settings.json)")
    unknown = [name for name in sets if name not in TRAINING_SETS]
    if unknown:
        raise ValueError(f"sets: expected names among {TRAINING_SETS}, got {unknown}")
    s = study_settings(study)
    stored = stored_runs(study, seeds)
    enc = load_encoder(stored[0][0])
    mean, std = enc.mean_std
    n = images or s.num_samples
    data = {
        "random": split_images(random_background_settings(s), "train", n),
        "biased": split_images(s, "train", n),
        "gray": split_images(s, "train", n, neutral=True),
    }
    test = split_images(s, "test", s.eval_images)
    test_gray = split_images(s, "test", s.eval_images, neutral=True)
    fit = l2_selected_fit(L2_GRID, **PROBE_FIT)

    def probe(encoder: torch.nn.Module) -> tuple[float, float]:
        on_bg = extract_tensor_features(encoder, test[0], mean, std)
        on_gray = extract_tensor_features(encoder, test_gray[0], mean, std)
        return half_split_probe(on_bg, test[1], fit), half_split_probe(on_gray, test_gray[1], fit)

    rows = [
        {
            "row": result["row"],
            "kind": result["kind"],
            "seed": result["seed"],
            "object_info": result["object_info"],
            "object_info_neutral": result.get("object_info_neutral"),
            "minutes": None,
        }
        for _, result in stored
    ]
    num_classes = int(max(int(test[1].max()), int(data["random"][1].max())) + 1)
    for name in sets:
        x, y = data[name]
        for seed in seeds:
            start = time.perf_counter()
            encoder = train_supervised(enc.config, mean, std, x, y, num_classes, epochs, seed)
            minutes = (time.perf_counter() - start) / 60
            on_bg, on_gray = probe(encoder)
            rows.append(
                {
                    "row": f"labelled, {name}",
                    "kind": "labelled",
                    "seed": seed,
                    "object_info": on_bg,
                    "object_info_neutral": on_gray,
                    "minutes": minutes,
                }
            )
            print(
                f"  labelled, {name}, seed {seed}: {100 * on_bg:.1f} on the backgrounds, "
                f"{100 * on_gray:.1f} on gray ({minutes:.1f} min)",
                flush=True,
            )
    return {
        "study": str(study),
        "dataset": s.dataset,
        "image_size": s.image_size,
        "images": n,
        "epochs": epochs,
        "seeds": seeds,
        "rows": rows,
        "summary": gap_table(rows),
    }


_KIND_ORDER = {"anchor": 0, "baseline": 1, "recipe": 2}


def stored_runs(study: str | Path, seeds: list[int]) -> list[tuple[Path, dict[str, Any]]]:
    """The study's finished runs of ``seeds``: anchors, then baselines, then recipe rows.

    Every stored encoder of a study shares the backbone and the normalisation, so the
    first one (an anchor or a baseline) serves to load the configuration.

    Raises:
        ValueError: the study holds no anchor or baseline run of ``seeds``.
    """
    stored = []
    for path in sorted(Path(study, "runs").glob("*/result.json")):
        result = json.loads(path.read_text())
        if result["seed"] in seeds:
            stored.append((path.parent, result))
    stored.sort(key=lambda item: _KIND_ORDER.get(item[1]["kind"], len(_KIND_ORDER)))
    if not stored or stored[0][1]["kind"] not in ("anchor", "baseline"):
        raise ValueError(f"study: no stored anchor or baseline run of seeds {seeds} in {study}")
    return stored


def gap_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's object info, what the backgrounds cost it, and the share of the gap it closes.

    The gap is the study's: from the baseline on the backgrounds to the objects-alone
    anchor on gray. A row closes ``(its object info - baseline's) / gap`` of it; it
    keeps ``on the backgrounds / on gray`` of what it knows about the objects, and the
    backgrounds cost it ``on gray - on the backgrounds`` points. ``gap_closed`` is
    ``None`` unless the rows hold exactly one anchor row and one baseline row (a study of
    one method, batch size and budget), or for the anchor and baseline themselves.

    Args:
        rows: ``measure``'s rows (fractions, one entry per row and seed).

    Returns:
        One dict per row name, in first-seen order: ``row``, ``kind``, ``seeds``,
        ``object_info`` and ``object_info_neutral`` (means, fractions; the latter
        ``None`` where not measured), ``lost`` (fraction points) and ``kept`` (a share),
        both ``None`` without the gray probe, and ``gap_closed`` (a share).

    Example:
        >>> rows = [
        ...     {"row": "objects alone", "kind": "anchor", "object_info": 0.30,
        ...      "object_info_neutral": 0.45},
        ...     {"row": "simclr", "kind": "baseline", "object_info": 0.30,
        ...      "object_info_neutral": 0.43},
        ...     {"row": "labelled, random", "kind": "labelled", "object_info": 0.42,
        ...      "object_info_neutral": 0.52},
        ... ]
        >>> last = gap_table(rows)[-1]
        >>> round(last["lost"], 2), round(last["kept"], 2), round(last["gap_closed"], 2)
        (0.1, 0.81, 0.8)
    """
    names = list(dict.fromkeys(r["row"] for r in rows))
    table = []
    for name in names:
        picked = [r for r in rows if r["row"] == name]
        on_bg = statistics.fmean(r["object_info"] for r in picked)
        gray_values = [r["object_info_neutral"] for r in picked]
        on_gray = statistics.fmean(gray_values) if all(v is not None for v in gray_values) else None
        table.append(
            {
                "row": name,
                "kind": picked[0]["kind"],
                "seeds": len(picked),
                "object_info": on_bg,
                "object_info_neutral": on_gray,
                "lost": None if on_gray is None else on_gray - on_bg,
                "kept": None if not on_gray else on_bg / on_gray,
                "gap_closed": None,
            }
        )
    anchors = [t for t in table if t["kind"] == "anchor"]
    baselines = [t for t in table if t["kind"] == "baseline"]
    if len(anchors) == 1 and len(baselines) == 1 and anchors[0]["object_info_neutral"]:
        low, high = baselines[0]["object_info"], anchors[0]["object_info_neutral"]
        for t in table:
            closed = gap_closed(t["object_info"], low, high)
            if t["kind"] in ("recipe", "labelled") and not math.isnan(closed):
                t["gap_closed"] = closed
    return table


def random_background_settings(s: Any) -> Any:
    """The study's settings with the background family independent of the class.

    ``bias = 1 / families`` draws every family with the same probability for every class.
    """
    return dataclasses.replace(s, bias=1.0 / len(_one_training_image(s).families))


def _one_training_image(s: Any) -> Any:
    """A one-image training split of the study's dataset (for its list of families)."""
    from segaug.data import build_dataset
    from simclr.compare.plan import rendered_data_options

    if not get_dataset_info(s.dataset).exact_backgrounds:
        raise ValueError(f"study: dataset {s.dataset!r} has no exact backgrounds")
    return build_dataset(
        s.dataset,
        None,
        split="train",
        size=s.image_size,
        num_samples=1,
        **rendered_data_options(s),
    )


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="a segaug-compare folder (backgrounds protocol)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30, help="labelled training epochs")
    parser.add_argument(
        "--images", type=int, default=None, help="training images (default: the study's)"
    )
    parser.add_argument("--sets", nargs="+", default=list(TRAINING_SETS), help="training sets")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    if args.epochs < 1 or (args.images is not None and args.images < 128):
        parser.error(
            f"--epochs >= 1 and --images >= 128 expected, got {args.epochs}, {args.images}"
        )
    info = machine_info()
    print(f"machine: {machine_summary(info)}")
    try:
        out = measure(args.study, args.seeds, args.epochs, args.images, tuple(args.sets))
    except ValueError as err:
        parser.error(str(err))
    print(
        f"object info in % on {out['dataset']} at {out['image_size']} px (unseen test objects; "
        f"labelled rows: {out['images']} images, {out['epochs']} epochs), mean ± std over "
        f"seeds {out['seeds']}:"
    )
    width = max(28, *(len(t["row"]) for t in out["summary"]))
    print(
        f"  {'row':<{width}} {'on the backgrounds':>20} {'on gray':>14} "
        f"{'lost':>6} {'kept':>6} {'gap closed':>11}"
    )
    for t in out["summary"]:
        picked = [r for r in out["rows"] if r["row"] == t["row"]]
        # as gap_table: on gray only where every seed was probed there
        gray = [r["object_info_neutral"] for r in picked] if t["lost"] is not None else []
        print(
            f"  {t['row']:<{width}} {_cell([r['object_info'] for r in picked]):>20} "
            f"{_cell(gray):>14} {_points(t['lost']):>6} {_share(t['kept']):>6} "
            f"{_share(t['gap_closed']):>11}"
        )
    print(
        "  lost: on gray minus on the backgrounds (points); kept: on the backgrounds / on "
        "gray; gap closed: of the study's gap, from the baseline to the anchor on gray"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, **out}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

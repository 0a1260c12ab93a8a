"""Compare augmentation pipelines end to end: masks -> pretraining -> evaluation -> report.

For each pipeline (a ``segaug.recipes`` name) and each seed, pretrain with
``simclr-train``'s :func:`~simclr.train.train`, then evaluate the frozen encoder with a
linear probe and a weighted kNN on two test splits of the offline SyntheticShapes data:

* ``test_biased``: backgrounds correlated with the class, as in training;
* ``test``: backgrounds drawn at random.

The gap between the two is how much the encoder relies on the background (the idea of the
ImageNet-9 backgrounds challenge, Xiao et al. 2020). Floors (raw pixels, a randomly
initialised encoder) go through the same probe. One report lands in
``runs/compare-<timestamp>/``: ``report.md``, ``report.json``, ``loss.png``,
``accuracy.png``, ``fallback.png``.

Usage::

    segaug-compare                                  # defaults: ~15 min on 2 CPU cores
    segaug-compare --seeds 1 --epochs 1 --num-samples 256     # a quick look
    segaug-compare --dataset cifar10 --masks masks/cifar10 --epochs 100 --device cuda \\
        --image-size 32 --width 1 --batch-size 512              # a real comparison

References:
    - [0]: Xiao et al., Noise or Signal: The Role of Image Backgrounds in Object
      Recognition, 2020, https://arxiv.org/abs/2006.09994
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

__all__ = ["CompareSettings", "compare_pipelines", "main"]

DEFAULT_PIPELINES = ("simclr", "thesis", "object_aware", "background_swap")


@dataclass
class CompareSettings:
    """What :func:`compare_pipelines` runs.

    Attributes:
        pipelines: Recipe names (``segaug.recipes.names()``).
        seeds: Pretraining seeds; every pipeline runs once per seed.
        dataset: Pretraining and evaluation dataset (``synthetic`` is offline and has the
            biased/random background splits; other datasets are evaluated on ``test``).
        root: Dataset root.
        masks: ``gt``, a mask-cache directory or a segmenter name.
        num_samples: Pretraining images (synthetic only).
        image_size: Side of the images and views.
        epochs: Pretraining epochs per run.
        batch_size: Global batch.
        width: ResNet-18 width multiplier.
        lr: Base learning rate (LARS, scaled by batch/256).
        probe_train: Labelled images for the probe's training split.
        probe_eval: Images per evaluation split.
        device: ``auto``, ``cpu`` or ``cuda``.
        out_dir: Parent of the ``compare-<timestamp>`` folder.
    """

    pipelines: tuple[str, ...] = DEFAULT_PIPELINES
    seeds: tuple[int, ...] = (0, 1, 2)
    dataset: str = "synthetic"
    root: str = "data"
    masks: str = "gt"
    num_samples: int = 2048
    image_size: int = 32
    epochs: int = 5
    batch_size: int = 128
    width: float = 0.25
    lr: float = 0.6
    probe_train: int = 2000
    probe_eval: int = 1000
    device: str = "auto"
    out_dir: str = "runs"
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ``ValueError`` for bad settings, before any work."""
        from segaug import recipes

        if not self.pipelines:
            raise ValueError("pipelines must name at least one recipe, got none")
        for p in self.pipelines:
            if p not in recipes.names():
                raise ValueError(
                    f"unknown pipeline {p!r}; expected one of {', '.join(recipes.names())}"
                )
        if not self.seeds:
            raise ValueError("seeds must contain at least one seed, got none")
        for name in (
            "num_samples",
            "image_size",
            "epochs",
            "batch_size",
            "probe_train",
            "probe_eval",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.batch_size < 2:
            raise ValueError(
                f"batch_size must be >= 2 (contrastive negatives), got {self.batch_size}"
            )


def _train_config(s: CompareSettings, pipeline: str, seed: int, run_dir: Path):
    from simclr.config import Config

    cfg = Config()
    cfg.data.dataset = s.dataset
    cfg.data.root = s.root
    cfg.data.masks = s.masks
    cfg.data.image_size = s.image_size
    cfg.data.num_samples = s.num_samples if s.dataset == "synthetic" else None
    cfg.data.batch_size = s.batch_size
    cfg.augment.recipe = pipeline
    cfg.augment.output_size = s.image_size
    cfg.model.width = s.width
    cfg.optim.lr = s.lr
    cfg.optim.warmup_epochs = min(1.0, s.epochs / 4)
    cfg.train.epochs = s.epochs
    cfg.train.seed = seed
    cfg.train.device = s.device
    cfg.train.output_dir = str(run_dir)
    cfg.train.progress = False
    cfg.train.online_probe = False
    cfg.validate()
    return cfg


def _eval_splits(s: CompareSettings) -> dict[str, Any]:
    """Labelled splits for the probe: train / val (biased) and the test splits."""
    from segaug.data import build_dataset

    if s.dataset == "synthetic":

        def synth(split: str, n: int):
            return build_dataset(
                "synthetic", split=split, num_samples=n, size=max(64, s.image_size)
            )

        return {
            "train": synth("train", s.probe_train),
            "val": synth("val", max(200, s.probe_eval // 2)),
            "test_biased": synth("test_biased", s.probe_eval),
            "test": synth("test", s.probe_eval),
        }
    # Other datasets: probe train and val are disjoint slices of one seeded permutation.
    train = build_dataset(s.dataset, root=s.root, split="train")
    test = build_dataset(s.dataset, root=s.root, split="test")
    n_val = max(200, s.probe_eval // 2)
    if len(train) < s.probe_train + n_val:
        raise ValueError(
            f"probe_train + val ({s.probe_train} + {n_val}) exceeds the {len(train)} training "
            f"images of {s.dataset!r}; lower --probe-train"
        )
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(0)).tolist()
    test_idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(1))
    return {
        "train": torch.utils.data.Subset(train, perm[: s.probe_train]),
        "val": torch.utils.data.Subset(train, perm[s.probe_train : s.probe_train + n_val]),
        "test": torch.utils.data.Subset(test, test_idx[: s.probe_eval].tolist()),
    }


def _evaluate_encoder(
    encoder, splits: dict[str, Any], preprocess, num_classes: int, device
) -> dict[str, Any]:
    """Linear probe (lambda chosen on val, refit on train+val) and kNN on every test split."""
    from simclr.evaluate.features import extract_features
    from simclr.evaluate.knn import knn_scores
    from simclr.evaluate.linear import fit_logistic_regression, linear_probe
    from simclr.evaluate.metrics import classification_summary

    feats = {
        name: extract_features(encoder, ds, preprocess, device=device, progress=False)
        for name, ds in splits.items()
    }
    test_names = [n for n in feats if n.startswith("test")]
    probe = linear_probe(
        feats["train"], feats["val"], feats[test_names[0]], num_classes, progress=False
    )
    xtv = torch.cat([feats["train"][0], feats["val"][0]])
    ytv = torch.cat([feats["train"][1], feats["val"][1]])
    clf = fit_logistic_regression(xtv, ytv, num_classes, probe.best_l2)
    out: dict[str, Any] = {"linear": {}, "knn20": {}, "best_l2": probe.best_l2}
    for name in test_names:
        x, y = feats[name]
        out["linear"][name] = classification_summary(clf.predict(x), y)["top1"]
        out["knn20"][name] = classification_summary(
            knn_scores(xtv, ytv, x, num_classes, 20, 0.1), y
        )["top1"]
    families = getattr(splits.get("test"), "background_families", None)
    if families is not None:
        # Diagnostics on the random-background split, where family and class are independent:
        # unbiased probes fitted on one half, scored on the other.
        x, y = feats["test"]
        fam = torch.as_tensor(families, dtype=torch.long)
        half = x.shape[0] // 2
        for key, labels in (("shape_info", y), ("bg_info", fam)):
            k = int(labels.max()) + 1
            c = fit_logistic_regression(x[:half], labels[:half], k, probe.best_l2)
            out[key] = classification_summary(c.predict(x[half:]), labels[half:])["top1"]
    return out


def _augment_cost(pipeline: str, size: int, batch: int = 128) -> float:
    """Two-view images/s of the recipe on CPU (a fixed synthetic batch)."""
    from segaug import recipes

    aug = recipes.build(pipeline, output_size=size)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, 3, size, size, generator=g) * 255).to(torch.uint8)
    m = torch.zeros(batch, 1, size, size, dtype=torch.uint8)
    m[:, :, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    aug.pair(x, m)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        aug.pair(x, m)
        n += batch
    return n / (time.perf_counter() - t0)


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _fmt(values: list[float]) -> str:
    m, sd = _mean_std(values)
    return f"{100 * m:.1f} ± {100 * sd:.1f}"


def _read_epochs(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "epochs.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(f)
        ]


def _plots(out: Path, summary: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pipelines = list(summary["pipelines"])
    colors = {p: plt.cm.tab10(i) for i, p in enumerate(pipelines)}
    # loss curves
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        ep = r["epochs"]
        if ep:
            ax.plot(
                [e["epoch"] for e in ep],
                [e["loss"] for e in ep],
                color=colors[r["pipeline"]],
                alpha=0.8,
                label=r["pipeline"] if r["seed"] == runs[0]["seed"] else None,
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("NT-Xent loss")
    ax.set_title("pretraining loss (one line per seed)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=110)
    plt.close(fig)
    # accuracy bars with error bars
    splits = summary["test_splits"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(pipelines), 4))
    width = 0.8 / len(splits)
    for j, split in enumerate(splits):
        means = [100 * summary["pipelines"][p]["linear"][split]["mean"] for p in pipelines]
        stds = [100 * summary["pipelines"][p]["linear"][split]["std"] for p in pipelines]
        xs = [i + (j - (len(splits) - 1) / 2) * width for i in range(len(pipelines))]
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=split)
    for floor, value in summary["floors"].items():
        ax.axhline(100 * value.get("test", next(iter(value.values()))), ls="--", lw=1, color="gray")
        ax.text(
            len(pipelines) - 0.5,
            100 * value.get("test", next(iter(value.values()))),
            floor,
            fontsize=7,
            va="bottom",
            ha="right",
            color="gray",
        )
    ax.set_xticks(range(len(pipelines)))
    ax.set_xticklabels(pipelines)
    ax.set_ylabel("linear probe top-1 (%)")
    ax.set_title("accuracy, mean ± std over seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=110)
    plt.close(fig)
    # fallback rate
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(pipelines), 3))
    masked = [p for p in pipelines if summary["pipelines"][p]["uses_masks"]]
    ax.bar(
        masked,
        [100 * summary["pipelines"][p]["fallback_rate"] for p in masked],
        color=[colors[p] for p in masked],
    )
    ax.set_ylabel("views that fell back (%)")
    ax.set_title("mask fallback rate during pretraining (recipes that use masks)")
    fig.tight_layout()
    fig.savefig(out / "fallback.png", dpi=110)
    plt.close(fig)


def _markdown(summary: dict[str, Any]) -> str:
    s = summary["settings"]
    splits = summary["test_splits"]
    lines = [
        f"# Pipeline comparison ({summary['created']})",
        "",
        f"Pretraining: SimCLR, ResNet-18 (width {s['width']}), {s['epochs']} epochs on "
        f"{s['num_samples'] if s['dataset'] == 'synthetic' else 'all'} `{s['dataset']}` images at "
        f"{s['image_size']} px, batch {s['batch_size']}, LARS lr {s['lr']} (x batch/256), "
        f"masks `{s['masks']}`; "
        f"seeds {', '.join(map(str, s['seeds']))}.",
        f"Evaluation: frozen features; linear probe = multinomial logistic regression (L-BFGS), L2 "
        f"chosen on a held-out biased val split, refit on train+val "
        f"({s['probe_train']} train images); "
        f"kNN = weighted cosine kNN, k=20, T=0.1. {s['probe_eval']} images per test split.",
        "",
        "Values: top-1 % (mean ± std over seeds).",
        "",
    ]
    head = ["pipeline", "seeds"] + [f"linear {t}" for t in splits] + [f"kNN {t}" for t in splits]
    if "test_biased" in splits and "test" in splits:
        head.append("bias gap (linear)")
    diag = all("bg_info" in r for r in summary["pipelines"].values())
    if diag:
        head += ["shape info", "bg info"]
    head += ["fallback", "augment img/s"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for p, r in summary["pipelines"].items():
        row = [p, str(r["n_seeds"])]
        row += [_fmt(r["linear"][t]["values"]) for t in splits]
        row += [_fmt(r["knn20"][t]["values"]) for t in splits]
        if "bias gap (linear)" in head:
            row.append(_fmt(r["gap"]["values"]))
        if diag:
            row += [_fmt(r["shape_info"]["values"]), _fmt(r["bg_info"]["values"])]
        fb = f"{100 * r['fallback_rate']:.1f}%" if r["uses_masks"] else "global"
        row += [fb, f"{r['augment_images_per_s']:.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    for floor, vals in summary["floors"].items():
        row = [f"*floor: {floor}*", "1"] + [f"{100 * vals[t]:.1f}" for t in splits]
        row += ["" for _ in splits]
        if "bias gap (linear)" in head:
            row.append(f"{100 * (vals['test_biased'] - vals['test']):.1f}")
        if diag:
            row += [f"{100 * vals['shape_info']:.1f}", f"{100 * vals['bg_info']:.1f}"]
        row += ["", ""]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "The bias gap is accuracy on `test_biased` minus accuracy on `test` (random backgrounds): "
        "how much the probe's accuracy relies on the class-correlated background. Lower is better.",
        "Shape info and bg info are diagnostics on the random-background `test` split, where "
        "background and class are independent: a linear probe fitted on one half and scored on "
        "the other predicts the class (shape info, higher = more object information in the "
        "features) or the background family (bg info, lower = less background information; "
        "chance is 10%).",
        "",
        "![loss](loss.png) ![accuracy](accuracy.png) ![fallback](fallback.png)",
        "",
        f"Machine: {summary['machine']}. Total time {summary['seconds'] / 60:.1f} min.",
    ]
    return "\n".join(lines) + "\n"


def compare_pipelines(settings: CompareSettings, progress: bool = True) -> Path:
    """Run the comparison and write the report; returns the report folder.

    Raises:
        ValueError: For bad settings (before any training).
    """
    from segaug import recipes
    from segaug.data import get_dataset_info
    from segaug.env import machine_summary
    from simclr.evaluate.features import Preprocess, RawPixels, load_encoder, random_encoder
    from simclr.train import train

    settings.validate()
    t_start = time.time()
    out = Path(settings.out_dir) / f"compare-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=False)
    splits = _eval_splits(settings)
    num_classes = get_dataset_info(settings.dataset).num_classes
    test_splits = [n for n in splits if n.startswith("test")]
    runs: list[dict[str, Any]] = []
    jobs = [(p, seed) for seed in settings.seeds for p in settings.pipelines]
    bar = tqdm(jobs, desc="compare", disable=not progress)
    preprocess = None
    for pipeline, seed in bar:
        bar.set_postfix_str(f"{pipeline} seed {seed}")
        run_dir = out / "runs" / f"{pipeline}-seed{seed}"
        cfg = _train_config(settings, pipeline, seed, run_dir)
        train(cfg)
        enc = load_encoder(run_dir)
        if preprocess is None:
            mean, std = enc.mean_std
            preprocess = Preprocess(
                image_size=settings.image_size, mean=tuple(mean), std=tuple(std)
            )
        device = next(enc.encoder.parameters()).device
        metrics = _evaluate_encoder(enc.encoder, splits, preprocess, num_classes, device)
        epochs = _read_epochs(run_dir)
        fallback = epochs[-1].get("fallback_rate", 0.0) if epochs else 0.0
        runs.append(
            {
                "pipeline": pipeline,
                "seed": seed,
                "run_dir": str(run_dir),
                "epochs": epochs,
                "fallback_rate": fallback,
                **metrics,
            }
        )
        (out / "runs.json").write_text(json.dumps(runs, indent=1))  # nothing lost on a crash
    # floors: raw pixels and a randomly initialised encoder of the same architecture
    floors: dict[str, dict[str, float]] = {}
    enc = load_encoder(Path(runs[0]["run_dir"]))
    for name, model in (
        ("raw pixels 16x16", RawPixels(16)),
        ("random init encoder", random_encoder(enc.config, seed=0)),
    ):
        m = _evaluate_encoder(model.eval(), splits, preprocess, num_classes, "cpu")
        floors[name] = {**m["linear"], **{k: m[k] for k in ("shape_info", "bg_info") if k in m}}
    summary: dict[str, Any] = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "settings": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(settings).items()
        },
        "test_splits": test_splits,
        "pipelines": {},
        "floors": floors,
    }
    for p in settings.pipelines:
        rs = [r for r in runs if r["pipeline"] == p]
        entry: dict[str, Any] = {"n_seeds": len(rs), "linear": {}, "knn20": {}}
        for t in test_splits:
            for proto in ("linear", "knn20"):
                vals = [r[proto][t] for r in rs]
                mean, sd = _mean_std(vals)
                entry[proto][t] = {"mean": mean, "std": sd, "values": vals}
        if "test_biased" in test_splits and "test" in test_splits:
            gaps = [r["linear"]["test_biased"] - r["linear"]["test"] for r in rs]
            mean, sd = _mean_std(gaps)
            entry["gap"] = {"mean": mean, "std": sd, "values": gaps}
        for key in ("shape_info", "bg_info"):
            if all(key in r for r in rs):
                mean, sd = _mean_std([r[key] for r in rs])
                entry[key] = {"mean": mean, "std": sd, "values": [r[key] for r in rs]}
        entry["fallback_rate"] = sum(r["fallback_rate"] for r in rs) / len(rs)
        # A global-only recipe sends every sample through the fallback pipeline by design;
        # its "fallback rate" says nothing about the masks.
        entry["uses_masks"] = bool(recipes.build(p, output_size=settings.image_size).region)
        entry["augment_images_per_s"] = _augment_cost(p, settings.image_size)
        summary["pipelines"][p] = entry
    summary["machine"] = machine_summary()
    summary["seconds"] = time.time() - t_start
    (out / "report.json").write_text(
        json.dumps(
            {**summary, "runs": [{k: v for k, v in r.items() if k != "epochs"} for r in runs]},
            indent=1,
        )
    )
    _plots(out, summary, runs)
    (out / "report.md").write_text(_markdown(summary))
    return out


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``segaug-compare``."""
    d = CompareSettings()
    p = argparse.ArgumentParser(prog="segaug-compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--pipelines", nargs="+", default=list(d.pipelines))
    p.add_argument("--seeds", type=int, default=len(d.seeds), help="number of seeds (0, 1, ...)")
    p.add_argument("--dataset", default=d.dataset)
    p.add_argument("--root", default=d.root)
    p.add_argument(
        "--masks", default=d.masks, help="gt, a mask-cache directory or a segmenter name"
    )
    p.add_argument("--num-samples", type=int, default=d.num_samples)
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--width", type=float, default=d.width)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--probe-train", type=int, default=d.probe_train)
    p.add_argument("--probe-eval", type=int, default=d.probe_eval)
    p.add_argument("--device", default=d.device)
    p.add_argument("--out-dir", default=d.out_dir)
    a = p.parse_args(argv)
    settings = CompareSettings(
        pipelines=tuple(a.pipelines),
        seeds=tuple(range(a.seeds)),
        dataset=a.dataset,
        root=a.root,
        masks=a.masks,
        num_samples=a.num_samples,
        image_size=a.image_size,
        epochs=a.epochs,
        batch_size=a.batch_size,
        width=a.width,
        lr=a.lr,
        probe_train=a.probe_train,
        probe_eval=a.probe_eval,
        device=a.device,
        out_dir=a.out_dir,
    )
    try:
        out = compare_pipelines(settings)
    except ValueError as err:
        print(f"segaug-compare: error: {err}", file=sys.stderr)
        return 2
    print((out / "report.md").read_text())
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

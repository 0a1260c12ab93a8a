"""``simclr-eval``: evaluate checkpoints and compare runs (thin layer over the API).

Usage::

    simclr-eval runs/cifar_thesis --datasets cifar10 --data-root data
    simclr-eval runs/imnet/last.pt --datasets table4 --image-size 224 --protocols linear knn
    simclr-eval runs/x --datasets synthetic --dataset-opt synthetic.num_samples=500 \\
        --protocols linear knn finetune --fractions 0.1 1.0 --finetune-epochs 5
    simclr-eval runs/x --datasets synthetic --probes linear mlp \\
        --features raw embeddings pca tsne
    simclr-eval compare runs/*/eval --out results/table4 --protocol linear

``--datasets`` accepts registry names and the groups ``table4`` (CIFAR-10, CIFAR-100,
Flowers-102, Oxford-IIIT Pet, SUN397, Caltech-101) and ``transfer`` (table4 + STL-10 +
DTD). Exit status 2 on bad input (the message names the argument, the value and what
was expected), 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from segaug.errors import USER_ERRORS, one_line_warnings, report_error
from segaug.helptext import DefaultsHelpFormatter
from simclr.evaluate.linear import DEFAULT_L2_GRID
from simclr.evaluate.names import (
    CLASSIFIER_FEATURES,
    CLASSIFIER_PROBES,
    FLOORS,
    PLOTS,
    PROTOCOLS,
    TABLE4_DATASETS,
    TRANSFER_DATASETS,
)
from simclr.evaluate.suite import EvalSettings, evaluate_checkpoint

GROUPS = {"table4": TABLE4_DATASETS, "transfer": TRANSFER_DATASETS}


def expand_datasets(names: list[str]) -> list[str]:
    """Expand ``table4`` / ``transfer`` groups, keep order, drop duplicates."""
    out: list[str] = []
    for n in names:
        for d in GROUPS.get(n.lower(), (n,)):
            if d not in out:
                out.append(d)
    return out


def parse_dataset_opts(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["synthetic.num_samples=500"]`` -> ``{"synthetic": {"num_samples": 500}}``."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        name, dot, opt = key.partition(".")
        if not sep or not dot or not name or not opt:
            raise ValueError(f"--dataset-opt {item!r}: expected DATASET.OPTION=VALUE")
        try:
            out.setdefault(name, {})[opt] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ValueError(f"--dataset-opt {item!r}: the value is not valid YAML") from None
    return out


def build_eval_parser() -> argparse.ArgumentParser:
    """Parser of the evaluation command."""
    p = argparse.ArgumentParser(
        prog="simclr-eval",
        description="Offline evaluation of a simclr-train checkpoint: linear probe (L-BFGS, "
        "lambda chosen on validation), weighted kNN, fine-tuning with label fractions, "
        "raw-pixel and random-encoder floors, PCA/t-SNE plots. "
        "`simclr-eval compare RUN... --out DIR` builds the comparison table.",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument("checkpoint", help="checkpoint .pt file or run directory (its last.pt)")
    p.add_argument(
        "--datasets",
        nargs="+",
        default=["synthetic"],
        help="registry names, or the groups 'table4' / 'transfer'",
    )
    p.add_argument("--data-root", default="data", help="dataset root folder")
    p.add_argument("--download", action="store_true", help="let torchvision download datasets")
    p.add_argument(
        "--dataset-opt",
        nargs="*",
        default=[],
        metavar="DATASET.OPTION=VALUE",
        help="build_dataset options, e.g. synthetic.num_samples=500",
    )
    p.add_argument("--out", help="report folder (default: <run dir>/eval)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the report of a folder that already holds one (its feature cache is kept)",
    )
    p.add_argument(
        "--method",
        help="expected pretraining method, an error if the checkpoint's differs (default: "
        "none, not checked)",
    )
    p.add_argument(
        "--backbone",
        help="expected backbone, an error if the checkpoint's differs (default: none, not checked)",
    )
    p.add_argument(
        "--protocols",
        nargs="+",
        default=["linear", "knn"],
        choices=PROTOCOLS,
        help="evaluation protocols to run",
    )
    p.add_argument(
        "--floors",
        nargs="*",
        default=list(FLOORS),
        choices=FLOORS,
        help="floors evaluated like the encoder (none: pass the flag without values)",
    )
    p.add_argument(
        "--raw-pixel-size", type=int, default=16, help="side of the raw-pixel floor's images"
    )
    p.add_argument("--image-size", type=int, help="centre-crop size (default: pretraining size)")
    p.add_argument(
        "--resize-size", type=int, help="shorter side before cropping (default: the crop size)"
    )
    p.add_argument(
        "--l2-grid",
        nargs="+",
        type=float,
        default=list(DEFAULT_L2_GRID),
        help="L2 penalties the linear probe chooses from on validation",
    )
    p.add_argument(
        "--solver", choices=["lbfgs", "sgd"], default="lbfgs", help="linear-probe solver"
    )
    p.add_argument("--max-iter", type=int, default=500, help="L-BFGS iterations per fit")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="held-out share of train where there is no official val split",
    )
    p.add_argument("--knn-k", nargs="+", type=int, default=[20, 200], help="kNN neighbours")
    p.add_argument("--knn-t", type=float, default=0.1, help="kNN temperature")
    p.add_argument(
        "--fractions",
        nargs="+",
        type=float,
        default=[0.01, 0.1, 1.0],
        help="fine-tuning label fractions in (0, 1]",
    )
    p.add_argument(
        "--finetune-epochs",
        type=int,
        help="fine-tuning epochs (default: 60/30/30 for 1%%/10%%/100%% of the labels)",
    )
    p.add_argument("--finetune-batch-size", type=int, default=256, help="fine-tuning batch")
    p.add_argument(
        "--finetune-lr", type=float, help="fine-tuning learning rate (default: 0.05 x batch / 256)"
    )
    p.add_argument(
        "--plots",
        nargs="*",
        default=["confusion", "pca", "tsne"],
        choices=PLOTS,
        help="plots to draw (none: pass the flag without values)",
    )
    p.add_argument(
        "--probes",  # checked by EvalSettings: one error line, not argparse's usage dump
        nargs="*",
        metavar="PROBE",
        help="classifier comparison: linear and/or mlp on each of "
        "--features (default, when either flag is given: both)",
    )
    p.add_argument(
        "--features",
        nargs="*",
        metavar="FEATURES",
        help="feature sets of the comparison: raw, embeddings, pca, tsne "
        "(default, when either flag is given: all four)",
    )
    p.add_argument("--mlp-hidden", type=int, default=256, help="MLP hidden units")
    p.add_argument("--mlp-epochs", type=int, default=100, help="MLP epochs (fixed)")
    p.add_argument("--mlp-weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    p.add_argument(
        "--pca-components",
        type=int,
        default=50,
        help="PCA components (capped by the feature dimension)",
    )
    p.add_argument(
        "--max-train",
        type=int,
        help="subsample the training split, for quick runs (default: none, the whole split)",
    )
    p.add_argument(
        "--max-test",
        type=int,
        help="subsample the test split, for quick runs (default: none, the whole split)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="feature-extraction batch")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where features are computed (auto: cuda when available)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the splits, subsets, floors, fine-tuning and plots",
    )
    p.add_argument("--cache-dir", help="feature cache folder (default: <out>/feature_cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p  # fmt: skip


def build_compare_parser() -> argparse.ArgumentParser:
    """Parser of ``simclr-eval compare``."""
    p = argparse.ArgumentParser(
        prog="simclr-eval compare",
        description="Group evaluation reports by pipeline (method/backbone (recipe)) and write "
        "a Table-4-style Markdown table (mean ± std over seeds), compare.json and a bar chart.",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument("runs", nargs="+", help="report.json files, eval folders or run directories")
    p.add_argument("--out", default="compare", help="output folder")
    p.add_argument("--protocol", default="linear",
                   help="summary key: linear, knn_k20, knn_k200, finetune_10pct, "
                        "linear_raw_pixels, linear_random_encoder, ...")  # fmt: skip
    return p


def settings_from_args(args: argparse.Namespace) -> EvalSettings:
    """Map parsed flags onto :class:`EvalSettings` (validated)."""
    for flag, given, names in (("--probes", args.probes, CLASSIFIER_PROBES),
                               ("--features", args.features, CLASSIFIER_FEATURES)):  # fmt: skip
        if given is not None and not given:
            raise ValueError(f"{flag}: got no value; expected one or more of {list(names)}")
    s = EvalSettings(
        datasets=expand_datasets(args.datasets),
        data_root=args.data_root,
        download=args.download,
        dataset_kwargs=parse_dataset_opts(args.dataset_opt),
        image_size=args.image_size,
        resize_size=args.resize_size,
        protocols=tuple(args.protocols),
        floors=tuple(args.floors),
        raw_pixel_size=args.raw_pixel_size,
        l2_grid=tuple(args.l2_grid),
        solver=args.solver,
        max_iter=args.max_iter,
        val_fraction=args.val_fraction,
        knn_ks=tuple(args.knn_k),
        knn_temperature=args.knn_t,
        finetune_fractions=tuple(args.fractions),
        finetune_epochs=args.finetune_epochs,
        finetune_batch_size=args.finetune_batch_size,
        finetune_lr=args.finetune_lr,
        plots=tuple(args.plots),
        probes=tuple(args.probes or (CLASSIFIER_PROBES if args.features else ())),
        features=tuple(args.features or (CLASSIFIER_FEATURES if args.probes else ())),
        mlp_hidden=args.mlp_hidden,
        mlp_epochs=args.mlp_epochs,
        mlp_weight_decay=args.mlp_weight_decay,
        pca_components=args.pca_components,
        max_train=args.max_train,
        max_test=args.max_test,
        batch_size=args.batch_size,
        num_workers=args.workers,
        device=args.device,
        seed=args.seed,
        cache_dir=args.cache_dir,
        progress=not args.no_progress,
    )
    s.validate()
    return s


@one_line_warnings("simclr-eval")
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``simclr-eval`` and ``python -m simclr.evaluate``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "compare":
            args = build_compare_parser().parse_args(argv[1:])
            from simclr.evaluate.report import compare_runs

            result = compare_runs(args.runs, args.out, args.protocol)
            print(result["markdown"])
            print(f"wrote {args.out}/compare.md, compare.json, compare.png")
            return 0
        if argv and argv[0] == "eval":
            argv = argv[1:]
        args = build_eval_parser().parse_args(argv)
        settings = settings_from_args(args)
        report = evaluate_checkpoint(
            args.checkpoint,
            settings,
            args.out,
            method=args.method,
            backbone=args.backbone,
            overwrite=args.overwrite,
        )
    except USER_ERRORS as err:  # bad value, missing dataset/checkpoint: one line, 2
        return report_error("simclr-eval", err)
    for name, ds in report["datasets"].items():
        summary = ", ".join(f"{k} {100 * v:.1f}" for k, v in ds["summary"].items())
        print(f"{name} ({ds['metric']}): {summary}")
    run_dir = report["run"].get("run_dir")
    out = args.out or (f"{run_dir}/eval" if run_dir else "eval")
    print(f"wrote {out}/report.json and {out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

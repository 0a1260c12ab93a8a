"""``simclr-train``: the command line of the pretraining loop (:mod:`simclr.trainer`).

The CLI is a thin layer over :func:`train`, which tests call directly::

    simclr-train                                   # ~1 min CPU smoke run (synthetic)
    simclr-train --config configs/cifar10_simclr.yaml --set optim.lr=0.5 data.batch_size=256
    simclr-train --config configs/synthetic_simclr.yaml --optim.lr 0.5 --accumulate 4
    simclr-train --set data.dataset=cifar10 --set data.root=/data  # --set repeats; all count
    simclr-train --resume runs/synthetic_simclr    # continue from runs/.../last.pt
    simclr-train --overwrite                       # replace the run in train.output_dir
    torchrun --nproc_per_node 8 -m simclr.train --config configs/imagenet_resnet50_thesis.yaml

The loop itself is :class:`simclr.trainer.Trainer`; the objects it trains come from
:mod:`simclr.build` and its CSVs, plots and TensorBoard events from
:mod:`simclr.run_log`. :func:`train`, :class:`Trainer`, :class:`TrainResult`,
:class:`NonFiniteLossError`, :func:`build_train_module` and :func:`build_local_augment`
stay importable from here.

Example:
    >>> args, overrides = parse_args(["--epochs", "3", "--set", "optim.lr=0.5"])
    >>> overrides
    ['optim.lr=0.5', 'train.epochs=3']
"""

from __future__ import annotations

import argparse
import sys

from segaug.env import resolve_device
from segaug.helptext import DefaultsHelpFormatter
from simclr import checkpoint as ckpt_io
from simclr import distributed as dist_utils
from simclr.build import build_local_augment, build_train_module
from simclr.config import Config, apply_overrides, load_config
from simclr.methods import METHODS
from simclr.trainer import NonFiniteLossError, Trainer, TrainResult, train

__all__ = [
    "NonFiniteLossError",
    "TrainResult",
    "Trainer",
    "build_local_augment",
    "build_parser",
    "build_train_module",
    "main",
    "parse_args",
    "train",
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``simclr-train`` (the known flags; see :func:`parse_args`)."""
    d = Config()  # the defaults of a run without --config (the CPU smoke run)

    def cfg_default(value: object) -> str:
        return f"(default: the config's value; {value} without --config)"

    p = argparse.ArgumentParser(
        prog="simclr-train",
        description=f"Self-supervised pretraining ({', '.join(METHODS.names())}) with segaug "
        "augmentations.",
        epilog="Any config field can be set with --set section.key=value or --section.key value.",
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument(
        "--config",
        help="YAML or TOML config file (default: none, the built-in CPU smoke run on "
        "synthetic data; with --resume alone, the checkpoint's config)",
    )
    p.add_argument(
        "--set",
        nargs="*",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides (repeatable; all are applied, in order)",
    )
    p.add_argument(
        "--resume",
        help="checkpoint file or run directory, which means its last.pt (default: none, a new run)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="empty train.output_dir first when it holds a run (else such a folder is refused)",
    )
    p.add_argument(
        "--accumulate",
        type=int,
        help="micro-batches per step, train.accumulate " + cfg_default(d.train.accumulate),
    )
    p.add_argument(
        "--output-dir",
        help="run directory, train.output_dir " + cfg_default(d.train.output_dir),
    )
    p.add_argument("--epochs", type=int, help="train.epochs " + cfg_default(d.train.epochs))
    p.add_argument(
        "--batch-size",
        type=int,
        help="global batch size, data.batch_size " + cfg_default(d.data.batch_size),
    )
    p.add_argument("--seed", type=int, help="train.seed " + cfg_default(d.train.seed))
    p.add_argument(
        "--device",
        help="auto, cpu or cuda: train.device " + cfg_default(d.train.device),
    )
    p.add_argument(
        "--precision",
        help="fp32, bf16 or fp16: train.precision " + cfg_default(d.train.precision),
    )
    p.add_argument("--print-config", action="store_true", help="print the config and exit")
    return p


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Parse known flags; ``--section.key value`` / ``--section.key=value`` become overrides."""
    p = build_parser()
    args, rest = p.parse_known_args(argv)
    overrides = list(args.set)
    i = 0
    while i < len(rest):
        tok = rest[i]
        if not tok.startswith("--") or "." not in tok.split("=")[0]:
            p.error(f"unrecognised argument {tok!r}")
        if "=" in tok:
            overrides.append(tok[2:])
            i += 1
        else:
            if i + 1 >= len(rest):
                p.error(f"{tok} needs a value")
            overrides.append(f"{tok[2:]}={rest[i + 1]}")
            i += 2
    flags = {
        "accumulate": "train.accumulate",
        "output_dir": "train.output_dir",
        "epochs": "train.epochs",
        "batch_size": "data.batch_size",
        "seed": "train.seed",
        "device": "train.device",
        "precision": "train.precision",
    }
    for attr, key in flags.items():
        value = getattr(args, attr)
        if value is not None:
            overrides.append(f"{key}={value}")
    return args, overrides


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``simclr-train`` / ``python -m simclr.train``.

    Returns:
        0 on success; 2 after a user error (bad config value, missing dataset or
        checkpoint), printed as one ``simclr-train: error: ...`` line; 1 when the loss
        became non-finite.
    """
    from segaug.errors import report_error, user_errors

    args, overrides = parse_args(argv)
    result = None
    try:
        with user_errors("simclr-train") as status:
            if args.config is None and args.resume is not None:
                saved = ckpt_io.load_checkpoint(args.resume)["config"]
                cfg = apply_overrides(Config.from_dict(saved), overrides)
            else:
                cfg = load_config(args.config, overrides)
            if args.print_config:
                import yaml

                print(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
                return 0
            resolve_device(cfg.train.device, name="config 'train.device'")  # named error
            result = train(cfg, resume=args.resume, overwrite=args.overwrite)
    except NonFiniteLossError as err:
        report_error("simclr-train", err)
        return 1
    finally:
        dist_utils.cleanup()
    if status.code or result is None:
        return status.code or 2
    if dist_utils.rank() == 0:
        print(f"done: {result.epoch} epochs, {result.step} steps, run dir {result.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

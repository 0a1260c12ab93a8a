"""What a training run writes besides checkpoints: the log, CSVs, TensorBoard and plots.

In the run directory, on rank 0:

* ``train.log``: the console log (:func:`setup_logging`, logger ``simclr.train``);
* ``metrics.csv``: one row per logged step (:data:`STEP_FIELDS`);
* ``epochs.csv``: one row per epoch (:data:`EPOCH_FIELDS`): loss, mask fallback rate,
  online probe accuracy, time;
* ``tb/``: TensorBoard events, when ``tensorboard`` is installed;
* ``loss.png`` and ``lr.png`` (:func:`write_plots`).

On resume the CSVs first drop the rows past the checkpoint, so a continued run's files
read as if it had never stopped.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp())
    >>> run = RunLog(out, resumed_at=None, tensorboard=False)
    >>> run.log_step({"step": 1, "epoch": 1, "loss": "0.5", "lr": "0.1"}, 0.5, 0.1, 100.0)
    >>> (out / "metrics.csv").read_text().splitlines()[1]
    '1,1,0.5,0.1,,,,,'
    >>> run.close()
"""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("simclr.train")
"""The training log (console on every rank at its level, ``train.log`` on rank 0)."""

STEP_FIELDS = [
    "step",
    "epoch",
    "loss",
    "lr",
    "images_per_s",
    "data_s",
    "augment_s",
    "compute_s",
    "online_probe_loss",
]
"""Columns of ``metrics.csv``."""

EPOCH_FIELDS = [
    "epoch",
    "step",
    "loss",
    "lr",
    "fallback_rate",
    "online_probe_acc",
    "epoch_s",
    "images_per_s",
]
"""Columns of ``epochs.csv``."""


class CSVLog:
    """Append-only CSV that, on resume, first drops the rows ``keep`` rejects.

    Args:
        path: The CSV file (rewritten with its header, then the kept rows).
        fields: Column names.
        keep: Which existing rows to keep (a resumed run); None starts the file afresh.
    """

    def __init__(self, path: Path, fields: list[str], keep: Callable[[dict], bool] | None) -> None:
        self.path, self.fields = path, fields
        rows: list[dict] = []
        if keep is not None and path.exists():
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if keep(r)]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict) -> None:
        """Append one row (missing columns stay empty)."""
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields).writerow(row)


def write_plots(out: Path) -> None:
    """``loss.png`` and ``lr.png`` from ``metrics.csv`` (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with (out / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    for key, name in (("loss", "loss.png"), ("lr", "lr.png")):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(steps, [float(r[key]) for r in rows])
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)


def setup_logging(out: Path | None) -> None:
    """Send :data:`log` to stderr, and to ``out/train.log`` when ``out`` is given."""
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    log.addHandler(stream)
    if out is not None:
        fh = logging.FileHandler(out / "train.log")
        fh.setFormatter(fmt)
        log.addHandler(fh)


class RunLog:
    """Rank 0's per-step and per-epoch records: the two CSVs, TensorBoard and plots.

    Args:
        out: The run directory.
        resumed_at: ``(step, epoch)`` of the checkpoint a resumed run starts from: rows
            after it are dropped from the CSVs. None for a fresh run.
        tensorboard: Write TensorBoard events (if ``tensorboard`` is installed).
    """

    def __init__(
        self, out: Path, resumed_at: tuple[int, int] | None, tensorboard: bool = True
    ) -> None:
        self.out = out
        step, epoch = resumed_at if resumed_at is not None else (0, 0)
        keep_s = (lambda r: int(r["step"]) <= step) if resumed_at is not None else None
        keep_e = (lambda r: int(r["epoch"]) <= epoch) if resumed_at is not None else None
        self.steps = CSVLog(out / "metrics.csv", STEP_FIELDS, keep_s)
        self.epochs = CSVLog(out / "epochs.csv", EPOCH_FIELDS, keep_e)
        self.tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tb"))
            except ImportError:
                self.tb = None

    def log_step(self, row: dict[str, Any], loss: float, lr: float, images_per_s: float) -> None:
        """One ``metrics.csv`` row and the step's TensorBoard scalars."""
        self.steps.write(row)
        if self.tb is not None:
            step = int(row["step"])
            self.tb.add_scalar("train/loss", loss, step)
            self.tb.add_scalar("train/lr", lr, step)
            self.tb.add_scalar("train/images_per_s", images_per_s, step)

    def log_epoch(self, row: dict[str, Any], plots: bool) -> None:
        """One ``epochs.csv`` row (floats to 6 significant digits), TensorBoard, plots."""
        self.epochs.write({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        if self.tb is not None:
            self.tb.add_scalar("epoch/fallback_rate", row["fallback_rate"], row["epoch"])
            self.tb.add_scalar("epoch/online_probe_acc", row["online_probe_acc"], row["epoch"])
        if plots:
            write_plots(self.out)

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self.tb is not None:
            self.tb.close()
            self.tb = None

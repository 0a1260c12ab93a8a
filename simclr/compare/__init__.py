"""``segaug-compare``: does a recipe reduce an encoder's reliance on the background?

For each recipe (and method, and batch size) and each seed, a study pretrains an encoder
with ``simclr-train``'s :func:`~simclr.train.train`, freezes it and measures it with an
evaluation protocol (:mod:`simclr.compare.protocols`), chosen from what the dataset can
do:

* ``backgrounds`` (:mod:`simclr.compare.backgrounds`), on a dataset with exact masks and
  exact backgrounds (``DatasetInfo.exact_backgrounds``: the offline SyntheticShapes
  data): the backgrounds challenge (Xiao et al. 2020) and object / background info,
  calibrated by an objects-alone upper anchor;
* ``transfer`` (:mod:`simclr.compare.transfer`), on any registered dataset: linear
  probe and kNN on the dataset's own labelled splits through
  :mod:`simclr.evaluate.suite` (the code path of ``simclr-eval``).

Every study also has **floors** (a randomly initialised encoder and raw pixels, through
the same probes) and the **baseline** (``simclr`` pretraining); every recipe gets the
**paired difference** from the baseline (same seeds) with a 95% t interval. Results
land in ``runs/compare-<timestamp>/`` (``report.md``, ``report.json``, the protocol's
bar chart, ``paired.png``, ``heatmap.png``); every finished run is saved as it ends, and
``--resume DIR`` skips the runs already done. The same runner is the methods ×
transform-sets study runner (methods x recipes x batch sizes, with wall time and peak
memory per cell).

The package: :mod:`~simclr.compare.settings` (what a study runs),
:mod:`~simclr.compare.plan` (its runs and their training configs),
:mod:`~simclr.compare.protocols` (the protocol base class and registry),
:mod:`~simclr.compare.runner` (running it), :mod:`~simclr.compare.summary`,
:mod:`~simclr.compare.report` and :mod:`~simclr.compare.plots` (the outputs) and
:mod:`~simclr.compare.cli` (the command line).

Usage::

    segaug-compare                                   # default study, about 8 min on 2 CPU cores
    segaug-compare --preset cpu                      # every recipe and the p sweeps
    segaug-compare --recipes independent_swap --sweep independent_swap.p=0.2,0.5,0.8
    segaug-compare --methods simclr byol --recipes thesis
    segaug-compare --preset study                    # methods x recipes x batch sizes
    segaug-compare --preset study --dataset cifar10 --data-root ~/data --masks masks/cifar10
    segaug-compare --preset gpu --device cuda        # 64 px, ResNet-18, hundreds of epochs

References:
    - [0]: Xiao, Engstrom, Ilyas, Madry, Noise or Signal: The Role of Image Backgrounds
      in Object Recognition, ICLR 2021, https://arxiv.org/abs/2006.09994
    - [1]: Ryali, Schwab, Morcos, Characterizing and Improving the Robustness of
      Self-Supervised Learning through Background Augmentations, 2021,
      https://arxiv.org/abs/2103.12719

Example:
    >>> from simclr.compare import CompareSettings, plan_runs
    >>> [r.row for r in plan_runs(CompareSettings(recipes=("thesis",), seeds=(0,)))]
    ['objects alone', 'simclr', 'thesis']
"""

from __future__ import annotations

from simclr.compare.backgrounds import BackgroundsProtocol, build_eval_sets
from simclr.compare.cli import main
from simclr.compare.plan import (
    ANCHOR,
    BASELINE,
    RunSpec,
    parse_sweep,
    plan_runs,
    sweep_rows,
    train_config,
)
from simclr.compare.plots import write_plots
from simclr.compare.protocols import PROTOCOLS, Protocol, get_protocol, register_protocol
from simclr.compare.report import render_markdown, study_table
from simclr.compare.runner import run_study
from simclr.compare.settings import (
    KNN_K,
    KNN_TEMPERATURE,
    L2_GRID,
    PRESETS,
    PROBE_FIT,
    CompareSettings,
    preset_settings,
)
from simclr.compare.summary import calibration, findings, summarise
from simclr.compare.transfer import (
    TransferProtocol,
    check_transfer_data,
    evaluate_transfer,
    transfer_settings,
)

__all__ = [
    "ANCHOR",
    "BASELINE",
    "BackgroundsProtocol",
    "CompareSettings",
    "KNN_K",
    "KNN_TEMPERATURE",
    "L2_GRID",
    "PRESETS",
    "PROBE_FIT",
    "PROTOCOLS",
    "Protocol",
    "RunSpec",
    "TransferProtocol",
    "build_eval_sets",
    "calibration",
    "check_transfer_data",
    "evaluate_transfer",
    "findings",
    "get_protocol",
    "main",
    "parse_sweep",
    "plan_runs",
    "preset_settings",
    "register_protocol",
    "render_markdown",
    "run_study",
    "study_table",
    "summarise",
    "sweep_rows",
    "train_config",
    "transfer_settings",
    "write_plots",
]

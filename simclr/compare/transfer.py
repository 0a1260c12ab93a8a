"""The ``transfer`` protocol: linear probe and kNN on any registered dataset's own splits.

Every frozen encoder goes through :func:`simclr.evaluate.suite.evaluate_dataset`, the
code path of ``simclr-eval``, with the study's probe settings (:func:`transfer_settings`);
the preprocessed splits are kept in memory from one encoder to the next. A dataset
without exact backgrounds has no objects-alone anchor, so the study gets floors, the
baseline row and the recipes, with the same paired statistics.

Example:
    >>> from simclr.compare.settings import CompareSettings
    >>> es = transfer_settings(CompareSettings(dataset="cifar10", probe_train=None))
    >>> es.datasets, es.protocols, es.knn_ks, es.max_train
    (['cifar10'], ('linear', 'knn'), (20,), None)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from simclr.compare.plan import BASELINE, RunSpec, rendered_data_options, renders_data
from simclr.compare.protocols import Protocol, register_protocol
from simclr.compare.settings import KNN_K, KNN_TEMPERATURE, L2_GRID, PROBE_FIT
from simclr.evaluate.format import knn_protocol, linear_probe_protocol

if TYPE_CHECKING:
    from simclr.compare.settings import CompareSettings
    from simclr.evaluate.suite import EvalSettings

__all__ = ["TransferProtocol", "check_transfer_data", "evaluate_transfer", "transfer_settings"]


def transfer_settings(s: CompareSettings) -> EvalSettings:
    """The ``simclr-eval`` settings of the ``transfer`` protocol: linear probe and kNN.

    The probe's L2 is chosen on the dataset's validation split (official, or 10% of each
    training class held out) from :data:`~simclr.compare.settings.L2_GRID`, then refit
    on train + validation; kNN uses k = :data:`~simclr.compare.settings.KNN_K` and
    T = :data:`~simclr.compare.settings.KNN_TEMPERATURE`. Held-out rows and subsets use
    seed 0 for every encoder, so all rows are probed on the same images.
    """
    from simclr.evaluate.suite import EvalSettings

    if renders_data(s):
        n = max(v for v in (s.probe_train, s.probe_val, s.eval_images) if v is not None)
        kwargs = {"size": s.image_size, "num_samples": n, **rendered_data_options(s)}
    else:
        kwargs = dict(s.data_params)
    return EvalSettings(
        datasets=[s.dataset],
        data_root=s.data_root,
        download=s.download,
        num_workers=s.num_workers,
        dataset_kwargs={s.dataset: kwargs} if kwargs else {},
        image_size=s.image_size,
        protocols=("linear", "knn"),
        floors=(),
        plots=(),
        l2_grid=L2_GRID,
        max_iter=PROBE_FIT["max_iter"],
        knn_ks=(KNN_K,),
        knn_temperature=KNN_TEMPERATURE,
        max_train=s.probe_train,
        max_test=s.eval_images,
        device=s.device,
        seed=0,
        progress=False,
    )


def check_transfer_data(s: CompareSettings) -> None:
    """Open the train and test splits before any training (a missing dataset fails now).

    Raises:
        ValueError: The dataset is missing or incomplete under ``data_root``.
    """
    from segaug.data import DatasetNotFoundError
    from simclr.compare.plan import train_config
    from simclr.evaluate.suite import load_split

    es = transfer_settings(s)
    for split in ("train", "test"):
        try:
            load_split(s.dataset, split, es)
        except ValueError as err:
            cause = err.__cause__
            msg = str(cause) if isinstance(cause, DatasetNotFoundError) else str(err)
            hint = " (or --set download=true)" if "download=True" in msg else ""
            raise ValueError(f"--dataset {s.dataset!r}: {msg}{hint}") from None
    if not renders_data(s):  # the pretraining data with its masks (bad specs fail here)
        from simclr.data import build_pretrain_dataset

        spec = RunSpec(BASELINE, "baseline", s.methods[0], BASELINE, (), s.seeds[0])
        try:
            ds = build_pretrain_dataset(train_config(s, spec, Path(s.out_dir)).data)
        except DatasetNotFoundError as err:
            raise ValueError(f"--dataset {s.dataset!r}: {err}") from None
        biggest = max(s.batch_axis())
        if len(ds) < biggest:
            raise ValueError(
                f"batch_size: {biggest} is more than the {len(ds)} training images of {s.dataset!r}"
            )


def evaluate_transfer(
    encoder: nn.Module,
    s: CompareSettings,
    mean: list[float],
    std: list[float],
    inputs: Any = None,
) -> dict[str, Any]:
    """The ``transfer`` protocol's metrics of one frozen encoder.

    ``inputs`` (a :class:`~simclr.evaluate.features.InputCache`) keeps the preprocessed
    splits in memory from one encoder to the next.

    Returns:
        ``{"linear", "knn", "metric", "splits", "summary"}``: linear-probe and kNN scores
        on the test split, in the dataset's headline metric (top-1, or mean per-class
        accuracy where that is the convention), the split sizes used, and
        ``evaluate_dataset``'s whole summary (extra test splits included).
    """
    from simclr.evaluate.suite import evaluate_dataset

    # no feature cache here (cache_dir None), so the encoder identity is only a label
    res = evaluate_dataset(
        s.dataset, encoder, "compare", transfer_settings(s), mean_std=(mean, std), inputs=inputs
    )
    return {
        "linear": res["summary"]["linear"],
        "knn": res["summary"][f"knn_k{KNN_K}"],
        "metric": res["metric"],
        "splits": res["splits"],
        "summary": res["summary"],  # every number, e.g. linear_test_biased on synthetic
    }


@register_protocol
class TransferProtocol(Protocol):
    """Linear probe and kNN on the dataset's own labelled splits, as ``simclr-eval``."""

    name = "transfer"
    description = "linear probe + kNN on the dataset's own splits (any registered dataset)"
    requirement = "labelled train and test splits"
    auto_rank = 1
    metric_keys = ("linear", "knn")
    paired_keys = ("linear", "knn")
    headline_keys = ("linear", "knn")
    plot_key = "linear"
    plot_note = ", test split"
    key_names = {"linear": "linear probe", "knn": f"kNN (k={KNN_K})"}
    whole_split_settings = ("probe_train", "eval_images")

    def validate(self, settings: CompareSettings) -> None:
        from dataclasses import replace

        # the probes' own checks (the device is checked when a run starts)
        replace(transfer_settings(settings), device="cpu").validate()

    def check_data(self, settings: CompareSettings) -> None:
        check_transfer_data(settings)

    def prepare(self, settings: CompareSettings) -> Any:
        """The dataset's preprocessed splits, kept in memory across encoders up to 2 GiB."""
        from simclr.evaluate.features import InputCache

        return InputCache(max_bytes=2 << 30)

    def evaluate(
        self,
        encoder: nn.Module,
        settings: CompareSettings,
        mean: list[float],
        std: list[float],
        prepared: Any,
    ) -> dict[str, Any]:
        return evaluate_transfer(encoder, settings, mean, std, inputs=prepared)

    def calibration_checks(
        self,
        method: str,
        anchor: dict[str, Any] | None,
        baseline: dict[str, Any] | None,
        floors: dict[str, dict[str, Any]],
        recipe_rows: Sequence[dict[str, Any]] = (),
    ) -> list[dict[str, Any]]:
        checks = []
        for key in self.paired_keys if baseline is not None and floors else ():
            best = max(floors, key=lambda f: floors[f][key]["mean"])
            margin = baseline[key]["mean"] - floors[best][key]["mean"]
            checks.append(
                {
                    "check": f"{method}: baseline {self.key_names[key]} >= 2 points above "
                    "every floor (else pretraining taught nothing this probe can read)",
                    "value": f"{100 * baseline[key]['mean']:.1f} vs {best} "
                    f"{100 * floors[best][key]['mean']:.1f}: {100 * margin:+.1f}",
                    "ok": margin >= 0.02,
                }
            )
        return checks

    def protocol_lines(self, settings: CompareSettings, report: dict[str, Any]) -> list[str]:
        es = transfer_settings(settings).to_dict()
        run = report["runs"][0] if report["runs"] else {}
        splits = run.get("splits", {})
        return [
            *super().protocol_lines(settings, report),
            "",
            "**Probes** (as `simclr-eval`, on frozen features):",
            "",
            linear_probe_protocol(es),
            knn_protocol(es),
            "",
            f"Train {splits.get('train', '?')}, validation {splits.get('val', '?')} "
            f"({splits.get('val_source', '?')}), test {splits.get('test', '?')} images; "
            f"metric {run.get('metric', '?')}.",
        ]

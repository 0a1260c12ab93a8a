"""Evaluation protocols of a study: the :class:`Protocol` base class and its registry.

A protocol is everything a study does with a frozen encoder and everything its report
says about it: which datasets it can run on (their capabilities, never their names),
what it prepares once (test sets, cached inputs), what it measures per encoder, which
numbers are summarised, paired with the baseline and shown in the study table, its
calibration checks and its columns and sentences in the report. The runner, the
summary, the report and the plots only ask the protocol object.

Two are built in: ``backgrounds`` (:class:`~simclr.compare.backgrounds.BackgroundsProtocol`,
the backgrounds challenge with object and background info, on datasets with exact
backgrounds) and ``transfer`` (:class:`~simclr.compare.transfer.TransferProtocol`,
linear probe and kNN on any registered dataset through the evaluation suite). A new
protocol is one subclass decorated with :func:`register_protocol`; ``--protocol auto``
tries the protocols by :attr:`Protocol.auto_rank` and takes the first the dataset
supports.

Example:
    >>> from segaug.data import get_dataset_info
    >>> auto_protocol(get_dataset_info("synthetic")).name
    'backgrounds'
    >>> transfer = auto_protocol(get_dataset_info("cifar10"))
    >>> transfer.name, transfer.paired_keys, transfer.key_names["knn"]
    ('transfer', ('linear', 'knn'), 'kNN (k=20)')
    >>> get_protocol("backgrounds").has_anchor, get_protocol("transfer").has_anchor
    (True, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from torch import nn

from segaug.registry import Registry
from simclr.evaluate.format import percent_stat

if TYPE_CHECKING:
    from segaug.data import DatasetInfo
    from simclr.compare.settings import CompareSettings

__all__ = [
    "PROTOCOLS",
    "Protocol",
    "auto_protocol",
    "data_sentence",
    "get_protocol",
    "pretraining_sentence",
    "register_protocol",
]


class Protocol:
    """How a study measures its encoders and reports the numbers.

    Subclasses set the class attributes and override what differs; the defaults
    describe a protocol whose metrics are plain fractions stored under their keys in
    each run's result (as :class:`~simclr.compare.transfer.TransferProtocol`).

    Attributes:
        name: Registry name (``--protocol``), also stored in the summary.
        description: One line for ``--help``.
        requirement: What a dataset must offer, in words (error messages).
        auto_rank: Order in which ``--protocol auto`` tries protocols (lower first);
            ``None``: never chosen automatically.
        has_anchor: The study gets the objects-alone upper-anchor row.
        metric_keys: Numbers summarised per row and floor (mean ± std over seeds).
        paired_keys: Numbers paired with the baseline (difference, 95% t interval).
        headline_keys: (linear probe, kNN) keys of the study table and heat map.
        headline_split: The split the headline numbers are measured on, in words.
        plot_key: Number of the bar chart (``<plot_key>.png``).
        plot_note: Added to the bar chart's title.
        gap_key: Number on which the gap closed between baseline and anchor is measured.
        key_names: Display names of the keys in tables, plots and findings.
        column_notes: What each results column means (printed under the table).
        whole_split_settings: Size settings that may be ``None`` (the whole split).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    requirement: ClassVar[str] = "nothing"
    auto_rank: ClassVar[int | None] = None
    has_anchor: ClassVar[bool] = False
    metric_keys: ClassVar[tuple[str, ...]] = ()
    paired_keys: ClassVar[tuple[str, ...]] = ()
    headline_keys: ClassVar[tuple[str, str]] = ("", "")
    headline_split: ClassVar[str] = "the test split"
    plot_key: ClassVar[str] = ""
    plot_note: ClassVar[str] = ""
    gap_key: ClassVar[str | None] = None
    key_names: ClassVar[dict[str, str]] = {}
    column_notes: ClassVar[dict[str, str]] = {}
    whole_split_settings: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ datasets
    def supports(self, info: DatasetInfo) -> bool:
        """Whether the protocol can run on a dataset with these capabilities."""
        return True

    def check_dataset(self, dataset: str) -> None:
        """Raise ``ValueError`` when ``dataset`` lacks what the protocol needs."""
        from segaug.data import DATASET_INFO, get_dataset_info
        from simclr.evaluate.format import quoted_names

        info = get_dataset_info(dataset)
        if self.supports(info):
            return
        able = [n for n, i in DATASET_INFO.items() if self.supports(i)]
        others = [p for p in PROTOCOLS.names() if get_protocol(p).supports(info)]
        raise ValueError(
            f"protocol: {self.name!r} needs {self.requirement}, which only "
            f"{quoted_names(able)} {'has' if len(able) == 1 else 'have'}; got dataset "
            f"{dataset!r} (use protocol {quoted_names(others, 'or')})"
        )

    # ------------------------------------------------------------------- running
    def validate(self, settings: CompareSettings) -> None:
        """The protocol's own checks of the settings (``ValueError``), before any work."""

    def check_data(self, settings: CompareSettings) -> None:
        """Open what the protocol reads, before the report folder is made (``ValueError``)."""

    def prepare(self, settings: CompareSettings) -> Any:
        """What every encoder is probed on, built once per study."""
        raise NotImplementedError(f"protocol {self.name!r} does not define prepare()")

    def evaluate(
        self,
        encoder: nn.Module,
        settings: CompareSettings,
        mean: list[float],
        std: list[float],
        prepared: Any,
    ) -> dict[str, Any]:
        """The numbers of one frozen encoder (a run's or a floor's).

        Args:
            encoder: The frozen encoder.
            settings: The study's settings.
            mean: Normalisation mean of the encoder's training views.
            std: Normalisation standard deviation.
            prepared: What :meth:`prepare` returned.

        Returns:
            The run's metrics, merged into its ``result.json``.
        """
        raise NotImplementedError(f"protocol {self.name!r} does not define evaluate()")

    # ------------------------------------------------------------------- summary
    def value(self, run: dict[str, Any], key: str) -> float:
        """Number ``key`` of one run's (or floor's) result."""
        return run[key]

    def calibration_checks(
        self,
        method: str,
        anchor: dict[str, Any] | None,
        baseline: dict[str, Any] | None,
        floors: dict[str, dict[str, Any]],
        recipe_rows: Sequence[dict[str, Any]] = (),
    ) -> list[dict[str, Any]]:
        """The instrument's checks for one method: ``[{"check", "value", "ok"}]``.

        Args:
            method: The method (batch size and budget) the rows belong to, as printed.
            anchor: Its objects-alone summary row, if any.
            baseline: Its baseline summary row, if any.
            floors: The floors' summary entries.
            recipe_rows: Its recipe rows (with their paired differences).
        """
        return []

    # -------------------------------------------------------------------- report
    def title(self, settings: CompareSettings) -> str:
        """The report's title."""
        return f"Study on `{settings.dataset}`"

    def protocol_lines(self, settings: CompareSettings, report: dict[str, Any]) -> list[str]:
        """The protocol paragraph of the report: data, pretraining and probes, in words."""
        return [
            f"**Protocol ({self.name}).** Pretraining on {data_sentence(settings)}: "
            f"{pretraining_sentence(settings)}"
        ]

    def result_columns(self) -> list[str]:
        """Titles of the protocol's columns in the results table."""
        return [self.key_names.get(k, k) for k in self.metric_keys]

    def row_cells(self, row: dict[str, Any]) -> list[str]:
        """The protocol's cells of a row in the results table."""
        return [percent_stat(row[k]) for k in self.metric_keys]

    def floor_cells(self, floor: dict[str, Any]) -> list[str]:
        """The protocol's cells of a floor in the results table."""
        return self.row_cells(floor)

    def report_sections(self, summary: dict[str, Any]) -> list[str]:
        """Markdown lines of the protocol's own report sections, after the paired differences."""
        return []


PROTOCOLS: Registry[type[Protocol]] = Registry("protocol")
"""Name -> :class:`Protocol` subclass (``--protocol``)."""

P = TypeVar("P", bound=type[Protocol])


def register_protocol(cls: P) -> P:
    """Class decorator: register a :class:`Protocol` subclass under its ``name``.

    Raises:
        ValueError: If the name is taken or not a lower-case identifier.
    """
    PROTOCOLS.register(cls.name)(cls)
    return cls


def get_protocol(name: str) -> Protocol:
    """The protocol registered as ``name``.

    Raises:
        ValueError: If ``name`` is unknown (the message lists the known ones).
    """
    return PROTOCOLS.get(name)()


def auto_protocol(info: DatasetInfo) -> Protocol:
    """What ``--protocol auto`` runs on a dataset: the first by ``auto_rank`` it supports.

    Raises:
        ValueError: If no automatic protocol supports the dataset.
    """
    ranked = sorted(
        (get_protocol(n) for n in PROTOCOLS.names()),
        key=lambda p: (p.auto_rank is None, p.auto_rank or 0),
    )
    for protocol in ranked:
        if protocol.auto_rank is not None and protocol.supports(info):
            return protocol
    raise ValueError(f"protocol: no protocol runs on dataset {info.name!r} automatically")


def data_sentence(s: CompareSettings) -> str:
    """What the runs pretrain on, in words (the reports' protocol paragraph)."""
    from segaug.data import get_dataset_info

    if not get_dataset_info(s.dataset).exact_backgrounds:
        return f"`{s.dataset}` (train split, {s.image_size} px, masks `{s.masks}`)"
    st = s.style
    if st:
        options = (
            f"objects {st.get('coverage')} of the image, rotation ±{st.get('max_rotation')}°, "
            f"{st.get('object_colour')} objects"
        )
    else:
        options = ", ".join(f"{k} {v}" for k, v in s.data_params.items()) or "default options"
    return (
        f"{s.num_samples} `{s.dataset}` images at {s.image_size} px ({options}; background "
        f"family follows the class with probability {s.bias})"
    )


def pretraining_sentence(s: CompareSettings) -> str:
    """How every run pretrains, in words (the reports' protocol paragraph)."""
    epochs = " or ".join(map(str, s.budget_axis()))
    return (
        f"{', '.join(s.methods)}, `{s.backbone}` (width {s.width}), {epochs} "
        f"epochs, batch {', '.join(map(str, s.batch_axis()))}, "
        f"{s.optimizer} lr {s.lr} × batch/256, temperature {s.temperature} "
        f"(SimCLR), crop scale {tuple(s.crop_scale)} for every recipe. Seeds "
        f"{', '.join(map(str, s.seeds))}, paired across rows (same initialisation and "
        "data order)."
    )

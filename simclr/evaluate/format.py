"""Formatting shared by every Markdown report: percentages, mean ± std, tables, probe protocols.

``simclr-eval``'s reports (:mod:`simclr.evaluate.report`) and ``segaug-compare``'s
(:mod:`simclr.compare.report`) write their numbers and describe their probes with these
helpers, so a number or a protocol reads the same in both. Accuracies are fractions in
[0, 1] and are printed in percent.

Example:
    >>> percent(0.1234), percent(None), percent(float("nan"), digits=2)
    ('12.3', '—', '—')
    >>> percent_stat({"mean": 0.5, "std": 0.1, "values": [0.4, 0.6]})
    '50.0 ± 10.0'
    >>> print("\\n".join(markdown_header(["row", "top-1 (%)"], "lr")))
    | row | top-1 (%) |
    |---|---:|
    >>> markdown_row(["`thesis`", percent(0.5)])
    '| `thesis` | 50.0 |'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "knn_protocol",
    "linear_probe_protocol",
    "markdown_header",
    "markdown_row",
    "percent",
    "percent_stat",
    "quoted_names",
]

MISSING = "—"
"""What a missing number (``None`` or NaN) prints as."""


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction in percent with ``digits`` decimals; ``—`` for ``None`` or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{100 * value:.{digits}f}"


def percent_stat(stat: Mapping[str, Any], std: bool = True, digits: int = 1) -> str:
    """``mean ± std`` in percent of a ``{"mean", "std", "values"}`` entry.

    The mean alone where there is one value (a single seed) or ``std`` is false.
    """
    mean = f"{100 * stat['mean']:.{digits}f}"
    if not std or len(stat["values"]) < 2:
        return mean
    return f"{mean} ± {100 * stat['std']:.{digits}f}"


def markdown_row(cells: Sequence[str]) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(cells) + " |"


def markdown_header(columns: Sequence[str], align: str = "") -> list[str]:
    """The header row and separator of a Markdown table.

    Args:
        columns: Column titles.
        align: One letter per column, ``l`` (left, also for missing letters) or ``r``
            (right, for numbers).
    """
    seps = ["---:" if align[i : i + 1] == "r" else "---" for i in range(len(columns))]
    return [markdown_row(columns), "|" + "|".join(seps) + "|"]


def linear_probe_protocol(settings: Mapping[str, Any]) -> str:
    """The linear probe in words, as a Markdown bullet.

    Args:
        settings: ``EvalSettings.to_dict()`` (``l2_grid``, ``solver``, ``max_iter``,
            ``standardize``).
    """
    grid = ", ".join(f"{v:g}" for v in sorted(settings["l2_grid"]))
    return (
        "- **Linear probe** (offline, frozen features, no augmentation): multinomial "
        f"logistic regression, mean cross-entropy + λ/2·‖W‖², solver `{settings['solver']}`"
        + (f" (max {settings['max_iter']} iterations, strong-Wolfe line search)"
           if settings["solver"] == "lbfgs" else "")
        + ("; features standardised with the training mean/std"
           if settings["standardize"] else "")
        + f". λ chosen on the validation split from {{{grid}}} by the dataset's metric, "
        "then refitted on train + validation and evaluated once on test."
    )  # fmt: skip


def knn_protocol(settings: Mapping[str, Any]) -> str:
    """The weighted kNN classifier in words, as a Markdown bullet.

    Args:
        settings: ``EvalSettings.to_dict()`` (``knn_ks``, ``knn_temperature``).
    """
    ks = ", ".join(str(k) for k in settings["knn_ks"])
    return (
        f"- **kNN**: cosine similarity on L2-normalised frozen features, k ∈ {{{ks}}}, "
        f"votes weighted exp(sim/T) with T = {settings['knn_temperature']:g}, summed per "
        "class; memory bank = the whole training split."
    )


def quoted_names(names: list[str], conjunction: str = "and") -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b' and 'c'``: names in an error message.

    Example:
        >>> quoted_names(["synthetic"]), quoted_names(["a", "b", "c"], "or")
        ("'synthetic'", "'a', 'b' or 'c'")
    """
    quoted = [repr(n) for n in names]
    if len(quoted) < 2:
        return "".join(quoted) or "none"
    return f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"

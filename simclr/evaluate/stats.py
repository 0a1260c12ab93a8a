"""Statistics a reader can trust: mean ± std over seeds, paired differences, 95% intervals.

Comparisons between pipelines are paired: pipeline A and the baseline are trained with
the same seeds (same initialisation, same data order), so the per-seed difference
removes the variation the two share. The 95% interval is Student's t interval of the
mean difference over ``n`` seeds (``n - 1`` degrees of freedom); with 3 seeds
``t = 4.30``, so only differences of about 2.5 standard deviations of the per-seed
difference leave zero outside. A difference is called *beyond seed noise* when its
interval excludes 0.

Example:
    >>> d = paired_difference([0.30, 0.32, 0.31], [0.20, 0.21, 0.22])
    >>> round(d.mean, 3), d.n, d.beyond_noise
    (0.1, 3, True)
    >>> round(gap_closed(recipe=0.30, baseline=0.20, anchor=0.60), 2)
    0.25
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as _scipy_stats

__all__ = ["mean_std", "PairedDifference", "paired_difference", "gap_closed"]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value)."""
    if len(values) == 0:
        raise ValueError("values is empty; expected at least one number")
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


@dataclass(frozen=True)
class PairedDifference:
    """Per-seed differences ``a - b`` summarised.

    Attributes:
        mean: Mean difference.
        std: Sample standard deviation of the differences (0 for one seed).
        low: Lower end of the 95% t interval (``nan`` for one seed).
        high: Upper end of the 95% t interval (``nan`` for one seed).
        n: Number of paired seeds.
        values: The per-seed differences.
    """

    mean: float
    std: float
    low: float
    high: float
    n: int
    values: tuple[float, ...]

    @property
    def beyond_noise(self) -> bool:
        """True when the 95% interval excludes zero (needs at least two seeds)."""
        return self.n >= 2 and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON), with ``beyond_noise``."""
        return {**asdict(self), "values": list(self.values), "beyond_noise": self.beyond_noise}


def paired_difference(a: list[float], b: list[float], confidence: float = 0.95) -> PairedDifference:
    """Summarise ``a[i] - b[i]`` over paired seeds with a Student-t interval.

    Args:
        a: Per-seed values of the candidate.
        b: Per-seed values of the reference, same seeds in the same order.
        confidence: Two-sided confidence level of the interval.

    Raises:
        ValueError: Empty or unequal lists, or a confidence outside (0, 1).
    """
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(
            f"a and b must be paired per seed (same non-zero length), got {len(a)} and {len(b)}"
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mean, std = mean_std(d.tolist())
    n = d.size
    if n < 2:
        low = high = math.nan
    else:
        half = float(_scipy_stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
        low, high = mean - half, mean + half
    return PairedDifference(mean, std, low, high, n, tuple(float(x) for x in d))


def pooled_half_width(
    differences: list[list[float]], confidence: float = 0.95
) -> tuple[float, int]:
    """Half-width of a paired t interval from the spread pooled over several rows.

    Each row's per-seed differences from the baseline contribute their sum of squares
    about their own mean; the pooled variance has ``sum(n_i - 1)`` degrees of freedom,
    and the half-width is for a row of the median seed count. It says which effect the
    study's seeds can resolve, more stably than any single row's interval. The rows
    share their baseline runs, so their differences are correlated and the degrees of
    freedom are an upper bound: the half-width is, if anything, slightly optimistic.

    Args:
        differences: Per row, the per-seed differences (rows of fewer than 2 seeds are
            left out).
        confidence: Two-sided confidence level.

    Returns:
        ``(half_width, degrees_of_freedom)``; ``(nan, 0)`` when no row has 2 seeds.

    Example:
        >>> half, df = pooled_half_width([[0.01, 0.03, 0.02], [0.05, 0.04, 0.06]])
        >>> round(half, 4), df
        (0.016, 4)
    """
    rows = [np.asarray(d, dtype=np.float64) for d in differences if len(d) >= 2]
    df = sum(d.size - 1 for d in rows)
    if df == 0:
        return math.nan, 0
    ss = sum(float(((d - d.mean()) ** 2).sum()) for d in rows)
    n = float(np.median([d.size for d in rows]))
    t = float(_scipy_stats.t.ppf(0.5 + confidence / 2, df))
    return t * math.sqrt(ss / df / n), df


def gap_closed(recipe: float, baseline: float, anchor: float) -> float:
    """Share of the baseline's lost object information that a recipe wins back.

    ``(recipe - baseline) / (anchor - baseline)``: 0 = no better than the baseline,
    1 = as good as the objects-alone anchor, negative = worse than the baseline.
    ``nan`` when the anchor does not exceed the baseline (nothing to close).
    """
    span = anchor - baseline
    if not span > 0:
        return math.nan
    return (recipe - baseline) / span

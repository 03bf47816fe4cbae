"""Pure statistics over raw samples (nanoseconds). No I/O, no clocks, no globals."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import fmean

import numpy as np

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass(frozen=True)
class Summary:
    """Distribution of per-message times in ns (pingpong: per round trip)."""

    count: int
    min_ns: float
    max_ns: float
    mean_ns: float
    median_ns: float
    stdev_ns: float
    p50_ns: float
    p90_ns: float
    p99_ns: float
    p999_ns: float

    @property
    def cv(self) -> float:
        """Coefficient of variation (stdev / mean); NaN for an empty or zero-mean summary."""
        return self.stdev_ns / self.mean_ns if self.mean_ns else math.nan

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def median(values: list[float]) -> float:
    """Median of a non-empty sequence (the mean of the middle two for even counts)."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median of no samples")
    mid = n // 2
    if n % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def summarize(samples_ns: list[float] | np.ndarray) -> Summary:
    """Summarise samples. Percentiles use linear interpolation (numpy's default), so
    p99.9 of 100 samples is an interpolation near the max, not an invented tail."""
    values = np.asarray(samples_ns, dtype=np.float64)
    if values.size == 0:
        raise ValueError("cannot summarise zero samples")
    p50, p90, p99, p999 = (float(v) for v in np.percentile(values, PERCENTILES))
    # Sample standard deviation (ddof=1): the samples are a draw, not the population.
    stdev = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return Summary(
        count=int(values.size),
        min_ns=float(values.min()),
        max_ns=float(values.max()),
        mean_ns=fmean(values.tolist()),
        median_ns=median(values.tolist()),
        stdev_ns=stdev,
        p50_ns=p50,
        p90_ns=p90,
        p99_ns=p99,
        p999_ns=p999,
    )


def per_second(count: float, duration_ns: float) -> float:
    """Rate of `count` events over `duration_ns`; NaN when nothing was timed."""
    if duration_ns <= 0:
        return math.nan
    return count * 1e9 / duration_ns

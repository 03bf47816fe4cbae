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


def median_ci(values: list[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median from order statistics.

    The number of samples below the true median is Binomial(n, 1/2), so the interval
    between order statistics k and n-k+1 covers it with probability >= `confidence`.
    Few samples give a wide interval (5 samples: [min, max] at 95%), never a false one.
    """
    from scipy.stats import binom

    ordered = np.sort(np.asarray(values, dtype=np.float64))
    n = ordered.size
    if n == 0:
        raise ValueError("confidence interval of no samples")
    # k = the largest rank with P(X <= k-1) < alpha/2; bounds are the k-th smallest and
    # k-th largest samples (n=10: 2nd and 9th, n=50: 18th and 33rd, as in the tables).
    k = int(binom.ppf((1.0 - confidence) / 2.0, n, 0.5))
    if k < 1:
        return float(ordered[0]), float(ordered[-1])
    return float(ordered[k - 1]), float(ordered[n - k])


def ci_half_width(values: list[float] | np.ndarray, confidence: float = 0.95) -> float:
    """Half-width of the median's confidence interval relative to the median."""
    low, high = median_ci(values, confidence)
    mid = median(list(values))
    return (high - low) / 2.0 / mid if mid else math.inf


def should_stop(
    repeat_values: list[float],
    *,
    min_repeats: int,
    max_repeats: int,
    target: float,
    elapsed_s: float,
    budget_s: float,
) -> tuple[bool, bool]:
    """The adaptive stopping rule. Returns (stop, noisy): stop once the median's CI is
    within +/-target, or when the repeat or time budget is spent (then noisy=True)."""
    n = len(repeat_values)
    if n < min_repeats:
        return False, False
    if ci_half_width(repeat_values) <= target:
        return True, False
    if n >= max_repeats or elapsed_s >= budget_s:
        return True, True
    return False, False

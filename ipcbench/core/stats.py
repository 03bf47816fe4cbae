"""Pure statistics over raw samples (nanoseconds). No I/O, no clocks, no globals."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
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
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    n = ordered.size
    if n == 0:
        raise ValueError("confidence interval of no samples")
    # k = the largest rank with P(X <= k-1) < alpha/2; bounds are the k-th smallest and
    # k-th largest samples (n=10: 2nd and 9th, n=50: 18th and 33rd, as in the tables).
    k = _binomial_half_ppf((1.0 - confidence) / 2.0, n)
    if k < 1:
        return float(ordered[0]), float(ordered[-1])
    return float(ordered[k - 1]), float(ordered[n - k])


def _binomial_half_ppf(q: float, n: int) -> int:
    """The smallest k with P(X <= k) >= q for X ~ Binomial(n, 1/2) (scipy's binom.ppf),
    computed exactly: the runner asks this after every session, and importing scipy
    into the harness would make every peer's fork dearer (tests/test_lean_harness.py)."""
    cumulative, wanted = 0, Fraction(q) * 2**n  # exact: no float overflow at large n
    for k in range(n + 1):
        cumulative += math.comb(n, k)
        if cumulative >= wanted:
            return k
    return n


def ci_half_width(values: list[float] | np.ndarray, confidence: float = 0.95) -> float:
    """Half-width of the median's confidence interval relative to the median."""
    low, high = median_ci(values, confidence)
    mid = median(list(values))
    return (high - low) / 2.0 / mid if mid else math.inf


def should_stop(
    values: list[float],
    *,
    min_count: int,
    max_count: int,
    target: float,
    elapsed_s: float,
    budget_s: float,
    spread: Callable[[list[float]], float] | None = None,
) -> tuple[bool, bool]:
    """The adaptive stopping rule over independent values (the runner's: one per
    session). Returns (stop, noisy): stop once `spread(values)` (default: the half-width
    of the median's CI) is within the target, or when the count or time budget is spent
    (then noisy=True). A NaN spread (too few values to judge) stops too."""
    n = len(values)
    if n < min_count:
        return False, False
    if not (spread or ci_half_width)(values) > target:
        return True, False
    if n >= max_count or elapsed_s >= budget_s:
        return True, True
    return False, False


# Expected range of n standard normal draws (the d2 constant of quality control): up to
# 8 sessions the median's 95% CI is [min, max] (median_ci), and the range is the best
# estimate of the spread there is.
_D2 = {2: 1.128, 3: 1.693, 4: 2.059, 5: 2.326, 6: 2.534, 7: 2.704, 8: 2.847}
# The median's sampling spread is sqrt(pi/2) ~ 1.2533 times the mean's.
_MEDIAN_EFFICIENCY = 1.2533


def log_spread_from_ci(low: float, high: float, n: int, confidence: float = 0.95) -> float:
    """Pure: the standard deviation of log session values implied by a row's session-level
    CI of the median (median_ci over n sessions). NaN when it cannot be told."""
    if n < 2 or not (0 < low <= high) or not math.isfinite(high):
        return math.nan
    width = math.log(high / low)
    if n in _D2:  # median_ci of <= 8 values is [min, max]: the range
        return width / _D2[n]
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2.0))
    return width / 2.0 * math.sqrt(n) / (z * _MEDIAN_EFFICIENCY)


CaseSpread = tuple[float, float, float, int]  # median, ci_low, ci_high, sessions


def session_p_value(a: CaseSpread, b: CaseSpread) -> float:
    """Pure: two-sided Welch p-value that two cases' session values (log scale) share a
    centre, each side given as (median, ci_low, ci_high, sessions). Sessions are the
    independent units: samples inside a session are not (they share its memory layout
    and cache state), so counting them would make every wobble significant."""
    from scipy.stats import ttest_ind_from_stats

    (mid_a, low_a, high_a, n_a), (mid_b, low_b, high_b, n_b) = a, b
    sd_a, sd_b = log_spread_from_ci(low_a, high_a, n_a), log_spread_from_ci(low_b, high_b, n_b)
    if not (math.isfinite(sd_a) and math.isfinite(sd_b)) or not (mid_a > 0 and mid_b > 0):
        return math.nan
    if sd_a == 0 and sd_b == 0:
        return 1.0 if mid_a == mid_b else 0.0
    result = ttest_ind_from_stats(math.log(mid_a), sd_a, n_a, math.log(mid_b), sd_b, n_b,
                                  equal_var=False)
    return float(result.pvalue)

"""Pure: the smallest change a comparison of two runs would call, case by case.

"No significant difference" says nothing without the size of change that would have
been called. That size depends on each run's session spread (verdict.py: at least
MIN_EFFECT, the session CIs apart, the sessions' Welch test): between two back-to-back
quick runs on a 2-vCPU cloud VM (AMD EPYC, quiet and beside a noisy neighbour) the rows
over the probe spread so far that a 20% slowdown of every case, put into the second
run's rows, was called on only 10-12% of the cases. compare says so under the agreement
lines, so a reader knows what the pairing could not have seen.

Asked of the verdict itself, not of a model beside it: B's row is moved onto A's figure
(its own spread kept) and shifted by a factor k; the detectable change of the case is
the smallest k at which the verdict calls B slower.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ipcbench.analysis.verdict import SLOWER, Verdict, row_value

# The change whose share of callable cases is reported beside the median: the known
# slowdown of the A/B check in docs/noise.md.
SHOWN_CHANGE = 0.20
# Past this factor a case counts as one where no change can be called.
MAX_FACTOR = 16.0
# Bisection steps on log(k) over [0, log MAX_FACTOR]: 2.8 / 2**12, well under 0.1%.
STEPS = 12

_TIME_COLUMNS = ("median_ns", "ci_low_ns", "ci_high_ns", "mean_ns", "stdev_ns")
_PROBE_COLUMNS = ("probe_ratio", "probe_ratio_ci_low", "probe_ratio_ci_high")

# (row of A, row of B) -> the verdict compare gives them (compare.judge_rows).
Judge = Callable[[Mapping, Mapping], Verdict]


def moved(base: Mapping, other: Mapping, factor: float) -> dict:
    """`other` with its figures moved to `base`'s times `factor`, its relative spread
    kept: the time columns by the medians' ratio, the probe columns by the probe
    ratios' (left as they are where either side has none)."""
    row = dict(other)
    for columns in (_TIME_COLUMNS, _PROBE_COLUMNS):
        here, there = row_value(base, columns[0]), row_value(other, columns[0])
        if not (here > 0 and there > 0):
            continue
        scale = here / there * factor
        for column in columns:
            row[column] = row_value(other, column) * scale
    return row


def _called(judge: Judge, base: Mapping, other: Mapping, factor: float) -> bool:
    """Whether B slower than A by `factor` (> 1) is called slower."""
    return judge(base, moved(base, other, factor)).label == SLOWER


def detectable_factor(judge: Judge, base: Mapping, other: Mapping) -> float:
    """The smallest factor k > 1 by which B slower than A is called slower (math.inf
    when not even MAX_FACTOR is). Bisection on log(k): a larger slowdown is never less
    significant. Slowdowns only: what the A/B check puts in (docs/noise.md); the
    verdict's rules are symmetric in log(k) but for MIN_EFFECT."""
    if not _called(judge, base, other, MAX_FACTOR):
        return math.inf
    low, high = 0.0, math.log(MAX_FACTOR)
    for _ in range(STEPS):
        middle = (low + high) / 2.0
        if _called(judge, base, other, math.exp(middle)):
            high = middle
        else:
            low = middle
    return math.exp(high)


@dataclass(frozen=True)
class Detectable:
    cases: int  # cases ok in both runs, baselines left out
    median_change: float  # half the cases could call a change of this much (k - 1)
    shown_found: float  # share of the cases where a SHOWN_CHANGE would be called

    def line(self, tag: str = "B") -> str:
        """One line of at most 80 columns."""
        if not self.cases:
            return ""
        shown = f"one of {SHOWN_CHANGE:.0%} on {self.shown_found:.0%}"
        if not math.isfinite(self.median_change):
            return (f"  {tag} vs A calls no slowdown up to {MAX_FACTOR:.0f}x on half the "
                    f"cases, {shown}")
        return (f"  {tag} vs A calls slowdowns of {self.median_change:.0%} or more on half "
                f"the cases, {shown}")


def detectable(judge: Judge, pairs: list[tuple[Mapping, Mapping]]) -> Detectable:
    """Over (row of A, row of B) pairs of cases ok in both runs."""
    factors = np.array([detectable_factor(judge, a, b) for a, b in pairs], dtype=float)
    if not factors.size:
        return Detectable(0, math.nan, math.nan)
    # The median of a set with infinities: np.median would average an inf in.
    middle = float(np.sort(factors)[(factors.size - 1) // 2])
    return Detectable(int(factors.size), middle - 1.0,
                      float(np.mean(factors <= 1.0 + SHOWN_CHANGE)))

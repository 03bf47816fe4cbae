"""Pure per-case verdicts: is B faster, slower or within noise of A on one case?

Verdict, per case, on the time per message (median_ns; ratio > 1 means
slower), or with metric="efficiency" on each row's time in units of its own run's
baseline (ratio = efficiency B / A, "more efficient" / "less efficient"); the summary
gives both as geometric means per run (compare.py):
  1. neither side ok (skipped, failed)    -> "not measured" (kept out of the verdict
     counts: nothing was compared); one side not ok -> "not comparable"
  2. |ratio - 1| < min_effect (10%)       -> "no significant difference" (too small to
     matter on this machine class, where identical runs differ by several percent)
  3. the session-level CIs overlap        -> "no significant difference"
  4. rows measured in >= 2 sessions (schema 4): a Welch test on the log session values,
     centred on their median with their spread recovered from each row's session-level
     CI (stats.session_p_value);
     p >= alpha (0.05)                    -> "no significant difference"
  5. older rows (one session, CI over its repeats): disjoint CIs decide, else a Welch
     test over the repeats at LEGACY_ALPHA; "unclear" when there is nothing to test with.
Sessions are the independent units: repeats inside one set of peer processes share its
memory layout and cache state and agree far more than two runs do, which is why
verdicts over repeats called a quarter of an A/A comparison "different". Calibrated on
synthetic runs (tests/test_reproducibility.py): <= 5% of A/A cases called different,
a 20% shift found in >= 95% of cases whose sessions spread by a few percent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ipcbench.core.stats import session_p_value
from ipcbench.core.units import format_fraction

SAME = "no significant difference"
FASTER = "faster"
SLOWER = "slower"
UNCLEAR = "unclear"
NOT_COMPARABLE = "not comparable"
NOT_MEASURED = "not measured"  # ok in neither run: no evidence either way
MORE_EFFICIENT = "more efficient"
LESS_EFFICIENT = "less efficient"
VERDICTS = (FASTER, SLOWER, MORE_EFFICIENT, LESS_EFFICIENT, SAME, UNCLEAR, NOT_COMPARABLE)
# Verdicts that found a real difference (what compare lists first, by effect size).
SIGNIFICANT = (FASTER, SLOWER, MORE_EFFICIENT, LESS_EFFICIENT)

# What compare can judge: time per message, or time in units of the run's own baseline.
METRICS = ("time", "efficiency")
# asv's default too: whole back-to-back runs on one machine drift by up to ~7% (their
# own raw-loop baselines show it), which no run's sessions can see; below 10% a change
# cannot be told from that drift. Sessions got tight enough for such drifts to pass a
# test at 5%: 19 of 236 quick A/A cases were called different at 5%, 7 at 10%.
MIN_EFFECT = 0.10
ALPHA = 0.05  # for session-level rows (schema 4)
LEGACY_ALPHA = 0.01  # for rows from before sessions: the old, repeat-level test
# Above this coefficient of variation a row is flagged noisy in the verdict's reason.
NOISY_CV = 0.2


@dataclass(frozen=True)
class Verdict:
    label: str
    ratio: float  # other / baseline time per message (> 1 = other is slower)
    p_value: float = math.nan
    reason: str = ""


def row_value(row: Mapping, column: str) -> float:
    """A numeric field of a row as a float; NaN when missing or not a number."""
    try:
        value = float(row.get(column, math.nan))
    except (TypeError, ValueError):
        return math.nan
    return value


def _count(row: Mapping, column: str) -> int:
    try:
        return int(row.get(column, 0) or 0)
    except (TypeError, ValueError):
        return 0


def _session_p(base: Mapping, other: Mapping) -> float:
    """p-value over session values, NaN unless both rows have >= 2 sessions."""
    spreads = [(row_value(r, "median_ns"), row_value(r, "ci_low_ns"),
                row_value(r, "ci_high_ns"), _count(r, "sessions")) for r in (base, other)]
    if min(spread[3] for spread in spreads) < 2:
        return math.nan
    return session_p_value(*spreads)


def _welch_p(base: Mapping, other: Mapping) -> float:
    """Two-sided Welch p-value from summaries; NaN when untestable."""
    n_a, n_b = _count(base, "repeats"), _count(other, "repeats")
    mean_a, mean_b = row_value(base, "mean_ns"), row_value(other, "mean_ns")
    sd_a, sd_b = row_value(base, "stdev_ns"), row_value(other, "stdev_ns")
    if min(n_a, n_b) < 2 or not all(map(math.isfinite, (mean_a, mean_b, sd_a, sd_b))):
        return math.nan
    if sd_a == 0 and sd_b == 0:
        # No spread at all: any difference in means is certain, none is no evidence.
        return 1.0 if mean_a == mean_b else 0.0
    from scipy import stats  # lazily: this module is also read by the command line

    result = stats.ttest_ind_from_stats(mean_a, sd_a, n_a, mean_b, sd_b, n_b, equal_var=False)
    return float(result.pvalue)


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool | None:
    """True/False when both (low, high) intervals are known, else None (nothing to say).
    Compare (on rows) and advise (on candidates) ask the same question through this."""
    if not all(map(math.isfinite, (*a, *b))):
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def _ci_overlap(base: Mapping, other: Mapping) -> bool | None:
    """Whether the rows' median confidence intervals overlap (None without CIs)."""
    low_a, high_a, low_b, high_b = (row_value(r, c) for r in (base, other)
                                    for c in ("ci_low_ns", "ci_high_ns"))
    return intervals_overlap((low_a, high_a), (low_b, high_b))


def case_verdict(base: Mapping, other: Mapping, *, min_effect: float = MIN_EFFECT,
                 alpha: float = ALPHA) -> Verdict:
    """Judge one matched case (two result rows as mappings)."""
    if base.get("status") != "ok" and other.get("status") != "ok":
        # Nothing was measured on either side: not evidence of "no difference".
        return Verdict(NOT_MEASURED, math.nan,
                       reason=f"{base.get('status')} in A, {other.get('status')} in B"
                       if base.get("status") != other.get("status")
                       else f"{base.get('status')} in both")
    if base.get("status") != "ok" or other.get("status") != "ok":
        return Verdict(NOT_COMPARABLE, math.nan,
                       reason=f"status {base.get('status')} vs {other.get('status')}")
    a, b = row_value(base, "median_ns"), row_value(other, "median_ns")
    if not (a > 0 and b > 0):
        return Verdict(NOT_COMPARABLE, math.nan, reason="missing median")
    ratio = b / a
    noisy = [f"cv {format_fraction(row_value(r, 'cv'))}" for r in (base, other)
             if row_value(r, "cv") > NOISY_CV]
    # The runner's own flag (schema v2): the CI target was not reached in its repeats.
    noisy += [f"{side} flagged noisy" for side, r in (("A", base), ("B", other))
              if str(r.get("noisy", "")).lower() == "true"]
    note = f"; noisy ({', '.join(noisy)})" if noisy else ""
    if abs(ratio - 1) < min_effect:
        return Verdict(SAME, ratio, reason=f"within ±{format_fraction(min_effect)}{note}")
    direction = SLOWER if ratio > 1 else FASTER
    overlap = _ci_overlap(base, other)
    session_p = _session_p(base, other)
    if not math.isnan(session_p):
        if overlap is True:
            return Verdict(SAME, ratio, session_p, f"session CIs overlap{note}")
        if session_p >= alpha:
            return Verdict(SAME, ratio, session_p,
                           f"sessions spread too wide: p={session_p:.2g} >= {alpha:g}{note}")
        return Verdict(direction, ratio, session_p, f"sessions: p={session_p:.2g}{note}")
    return _legacy_verdict(base, other, ratio, direction, overlap, note)


def _legacy_verdict(base: Mapping, other: Mapping, ratio: float, direction: str,
                    overlap: bool | None, note: str) -> Verdict:
    """Rows from before sessions (schema <= 3): the repeat-level rules they were made for."""
    p_value = _welch_p(base, other)
    alpha = LEGACY_ALPHA
    if overlap is True:
        return Verdict(SAME, ratio, p_value, f"confidence intervals overlap{note}")
    if overlap is False:
        return Verdict(direction, ratio, p_value, f"confidence intervals disjoint{note}")
    if math.isnan(p_value):
        return Verdict(UNCLEAR, ratio, p_value, f"fewer than 2 repeats or no stdev{note}")
    if p_value >= alpha:
        return Verdict(SAME, ratio, p_value, f"p={p_value:.2g} >= {alpha:g}{note}")
    return Verdict(direction, ratio, p_value, f"p={p_value:.2g}{note}")


def _normalized(row: Mapping) -> dict | None:
    """The row's times in units of its own in-run baseline (time x efficiency / median,
    i.e. 1 / efficiency for the median), so the time verdict's machinery (min effect,
    CIs, Welch) judges efficiency. Efficiency is proportional to 1 / median_ns for
    every pattern; None when the row has no efficiency (no baseline in its run)."""
    efficiency, median = row_value(row, "efficiency"), row_value(row, "median_ns")
    if not (efficiency > 0 and median > 0):
        return None
    factor = 1.0 / (efficiency * median)
    scaled = {c: row_value(row, c) * factor for c in ("median_ns", "mean_ns", "stdev_ns",
                                                 "ci_low_ns", "ci_high_ns", "floor_ns")}
    return {**row, **scaled}


def efficiency_verdict(base: Mapping, other: Mapping, *, min_effect: float = MIN_EFFECT,
                       alpha: float = ALPHA) -> Verdict:
    """Judge one matched case on efficiency; ratio = efficiency B / A (> 1 = B closer to
    its own hardware)."""
    if base.get("status") != "ok" or other.get("status") != "ok":
        return case_verdict(base, other, min_effect=min_effect, alpha=alpha)
    a, b = _normalized(base), _normalized(other)
    if a is None or b is None:
        return Verdict(NOT_COMPARABLE, math.nan, reason="no efficiency (no in-run baseline)")
    verdict = case_verdict(a, b, min_effect=min_effect, alpha=alpha)
    label = {FASTER: MORE_EFFICIENT, SLOWER: LESS_EFFICIENT}.get(verdict.label, verdict.label)
    ratio = 1.0 / verdict.ratio if verdict.ratio > 0 else math.nan
    return Verdict(label, ratio, verdict.p_value, verdict.reason)

"""Step detection over a history of runs: where did a case's figure move, and by how much?

Pure (numpy in, records out). Like asv's step_detect, the history is modelled as
piecewise constant plus noise and fitted by minimising, over the segmentations,

    gamma * (segments - 1)  +  sum over runs r, sessions s of  w_r * |x_rs - mu_seg(r)|

with x the log of each session's value (a step is a ratio, whatever the channel's
scale), mu a segment's weighted median and w_r = 1 / sessions of run r, so every run
weighs one whatever its session count. The L1 cost is robust: one wild session moves
a segment's median little and pays no more than its distance. The fit is exact
(optimal partitioning, O(runs^2) segments; a history holds tens of runs, not thousands).

The penalty is a noise-scaled rule, in log units:

    gamma = sigma * max(GAMMA_MIN, 2 ln(runs))

where sigma is the scatter of one run's level (median of its sessions) about its
segment's level, 1.4826 * MAD, found by a short fixed point: start from the smaller of
two robust guesses (the MAD of the run medians, which one odd run barely moves, and
the median successive difference / sqrt 2, which a lasting step barely moves), fit,
re-estimate from the runs in segments of two runs or more, refit until the segments
stop changing. It is never below the runs' own within-run standard error (1.4826 * MAD
of the sessions / sqrt(sessions)) nor SIGMA_FLOOR. A one-run blip of size d saves about
d, so it is called only past gamma: ~3 sigma in a short history, more in a long one
where noise has more chances to look like a step (as asv, gamma grows with ln n).
Finally, adjacent segments whose levels differ by less than min_effect (compare's 10%:
below it a rerun on this machine class moves) are merged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_EFFECT = 0.10
GAMMA_MIN = 3.0
SIGMA_FLOOR = 0.005  # 0.5%: identical synthetic values must not make every wiggle a step
_MAD_TO_SIGMA = 1.4826
_MAX_REFITS = 5  # the fixed point settles in one or two; a bound, never a hang


@dataclass(frozen=True)
class Step:
    """A change of level: from run `index` on, the figure is `after` instead of `before`
    (both in the values' own units: the segments' medians)."""

    index: int
    before: float
    after: float

    @property
    def ratio(self) -> float:
        return self.after / self.before


@dataclass(frozen=True)
class StepFit:
    """The fitted levels (one per run, NaN where a run has no value) and the steps
    between them, with the noise scale and penalty that decided them (log units)."""

    levels: tuple[float, ...]
    steps: tuple[Step, ...]
    sigma: float
    gamma: float


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    values, cumulative = values[order], np.cumsum(weights[order])
    return float(values[np.searchsorted(cumulative, cumulative[-1] / 2)])


class _Segments:
    """(weighted median, L1 cost) of runs start..stop-1 pooled, each pair computed once
    (the refits and merges ask for the same segments again)."""

    def __init__(self, logs: Sequence[np.ndarray]) -> None:
        self.logs = logs
        self.weights = [np.full(len(x), 1.0 / len(x)) for x in logs]
        self._known: dict[tuple[int, int], tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self.logs)

    def __call__(self, start: int, stop: int) -> tuple[float, float]:
        found = self._known.get((start, stop))
        if found is None:
            values = np.concatenate(self.logs[start:stop])
            weights = np.concatenate(self.weights[start:stop])
            mu = _weighted_median(values, weights)
            found = self._known[(start, stop)] = (mu, float(np.sum(weights * np.abs(values - mu))))
        return found


def _mad_sigma(deviations) -> float:
    deviations = np.abs(np.asarray(deviations, dtype=float))
    return _MAD_TO_SIGMA * float(np.median(deviations)) if deviations.size else 0.0


def within_sigma(logs: Sequence[np.ndarray]) -> float:
    """The median within-run standard error of a run's level (runs of 2+ sessions)."""
    errors = [_mad_sigma(x - np.median(x)) / math.sqrt(len(x)) for x in logs if len(x) >= 2]
    return float(np.median(errors)) if errors else 0.0


def first_sigma(medians: np.ndarray) -> float:
    """The fixed point's start: the smaller of the two robust guesses (see above)."""
    if len(medians) < 3:
        return 0.0
    spread = _mad_sigma(medians - np.median(medians))
    successive = _mad_sigma(np.diff(medians)) / math.sqrt(2)
    return min(spread, successive)


def residual_sigma(medians: np.ndarray, starts: list[int]) -> float | None:
    """Scatter of run medians about their segment's median, from segments of 2+ runs
    (a one-run segment fits its run exactly); None when there is no such segment."""
    bounds = [*starts, len(medians)]
    residuals = [medians[a:b] - np.median(medians[a:b])
                 for a, b in zip(bounds, bounds[1:], strict=False) if b - a >= 2]
    return _mad_sigma(np.concatenate(residuals)) if residuals else None


def _partition(segment: _Segments, gamma: float) -> list[int]:
    """Start indices of the optimal segments (0 first)."""
    n = len(segment)
    best = [0.0] + [math.inf] * n
    cut = [0] * (n + 1)
    for stop in range(1, n + 1):
        for start in range(stop):
            total = best[start] + (gamma if start else 0.0) + segment(start, stop)[1]
            if total < best[stop]:
                best[stop], cut[stop] = total, start
    starts, stop = [], n
    while stop > 0:
        starts.append(cut[stop])
        stop = cut[stop]
    return sorted(starts)


def _merge_small(segment: _Segments, starts: list[int], min_effect: float) -> list[int]:
    """Drop the boundary between the two adjacent segments closest in level while they
    differ by less than min_effect (levels refitted after every merge)."""
    limit = math.log1p(min_effect)
    while len(starts) > 1:
        bounds = [*starts, len(segment)]
        mus = [segment(a, b)[0] for a, b in zip(bounds, bounds[1:], strict=False)]
        gaps = [abs(b - a) for a, b in zip(mus, mus[1:], strict=False)]
        smallest = int(np.argmin(gaps))
        if gaps[smallest] >= limit:
            break
        del starts[smallest + 1]
    return starts


def detect_steps(values: Sequence[Sequence[float]], *, min_effect: float = MIN_EFFECT) -> StepFit:
    """Steps in a history: values[r] holds run r's session values (positive; an empty
    run is a gap, fitted around and given a NaN level)."""
    present = [r for r, v in enumerate(values)
               if len(v) and all(math.isfinite(x) and x > 0 for x in v)]
    levels = [math.nan] * len(values)
    if not present:
        return StepFit(tuple(levels), (), math.nan, math.nan)
    logs = [np.log(np.asarray(values[r], dtype=float)) for r in present]
    medians = np.array([np.median(x) for x in logs])
    floor = max(within_sigma(logs), SIGMA_FLOOR)
    sigma = max(first_sigma(medians), floor)
    factor = max(GAMMA_MIN, 2 * math.log(len(logs)))
    segment = _Segments(logs)
    starts = _partition(segment, sigma * factor)
    for _ in range(_MAX_REFITS):
        found = residual_sigma(medians, starts)
        if found is None:
            break
        sigma = max(found, floor)
        refit = _partition(segment, sigma * factor)
        if refit == starts:
            break
        starts = refit
    gamma = sigma * factor
    starts = _merge_small(segment, starts, min_effect)
    bounds = [*starts, len(logs)]
    mus = [segment(a, b)[0] for a, b in zip(bounds, bounds[1:], strict=False)]
    for mu, a, b in zip(mus, bounds, bounds[1:], strict=False):
        for i in range(a, b):
            levels[present[i]] = math.exp(mu)
    steps = tuple(Step(present[start], math.exp(before), math.exp(after))
                  for start, before, after in zip(starts[1:], mus, mus[1:], strict=False))
    return StepFit(tuple(levels), steps, sigma, gamma)

"""Pure: paired ratios between the channels of one workload, over the run's blocks.

A workload is a case without its channel (pattern, size, procs, placement, payload, start
method, rate): the question "which channel?" is asked within one. The runner measures a
workload's channels as blocks: one session of each, back to back, in a shuffled order
(harness/runner.py). Block b of every channel ran within a second or so of the others,
so a drift of the host (tens of seconds on a cloud VM, up to 20% between two runs) moves
all of them alike, and it cancels in the ratio of a channel to its block's reference:
the geometric mean of every channel of that block. A channel's paired ratio is the median
of its per-block ratios, its CI the distribution-free CI of that median over blocks
(stats.median_ci, like a case's absolute CI over sessions).

Rankings rest on these ratios: channel a is clearly faster than b only when their paired
CIs do not overlap (clearly_faster); otherwise the two are a tie, whatever the margin.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, fields

from ipcbench.core.schema import Case
from ipcbench.core.stats import median, median_ci

# The case keys that name a channel; every other key names the workload.
CHANNEL_KEYS = ("mechanism", "variant")
WORKLOAD_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Case)
                                       if f.name not in CHANNEL_KEYS)


def workload_of(case: Case) -> tuple:
    """The values of WORKLOAD_KEYS: cases with equal workloads are compared as rivals."""
    return tuple(getattr(case, name) for name in WORKLOAD_KEYS)


@dataclass(frozen=True)
class PairedRatio:
    """A channel's time per message over its block's reference (< 1 = faster than the
    workload's typical channel), with the 95% CI of that median over `blocks` blocks."""

    ratio: float
    ci_low: float
    ci_high: float
    blocks: int

    @property
    def half_width(self) -> float:
        """Half the CI relative to the ratio (the precision the target is judged by)."""
        return (self.ci_high - self.ci_low) / 2.0 / self.ratio if self.ratio > 0 else math.inf


UNPAIRED = PairedRatio(math.nan, math.nan, math.nan, 0)


def paired_ratios(values: Mapping[Hashable, Mapping[int, float]]) -> dict[Hashable, PairedRatio]:
    """channel -> {block index: value_ns} -> channel -> its PairedRatio.

    Only blocks every channel measured are used (a block missing a channel would have
    another reference); a channel alone in its workload has ratio 1 with a zero-width
    CI. Values must be positive; with no common block every ratio is UNPAIRED."""
    if not values:
        return {}
    common = set.intersection(*(set(blocks) for blocks in values.values()))
    common = {b for b in common if all(values[c][b] > 0 for c in values)}
    if not common:
        return {channel: UNPAIRED for channel in values}
    ratios: dict[Hashable, list[float]] = {channel: [] for channel in values}
    for block in sorted(common):
        logs = [math.log(values[channel][block]) for channel in values]
        reference = math.exp(sum(logs) / len(logs))
        for channel in values:
            ratios[channel].append(values[channel][block] / reference)
    result = {}
    for channel, series in ratios.items():
        low, high = median_ci(series)
        result[channel] = PairedRatio(median(series), low, high, len(series))
    return result


def clearly_faster(a: PairedRatio, b: PairedRatio) -> bool:
    """Pure: a's time per message is below b's beyond doubt (disjoint paired CIs)."""
    return a.ci_high < b.ci_low


# Rows without paired ratios (schema <= 5): below this lead a "winner" is a tie, the
# best-channel map's rule before paired blocks.
LEGACY_TIE_MARGIN = 0.05


def paired_of(row: Mapping) -> PairedRatio | None:
    """A result row's paired ratio (its ratio columns), None where it has none."""
    values = []
    for column in ("ratio", "ratio_ci_low", "ratio_ci_high"):
        try:
            values.append(float(row.get(column, math.nan)))
        except (TypeError, ValueError):
            values.append(math.nan)
    return PairedRatio(*values, blocks=0) if all(map(math.isfinite, values)) else None


def clearly_ahead(first: Mapping, second: Mapping, lead: float) -> bool:
    """Pure: the row `first` is ahead of the row `second` beyond doubt: their paired CIs
    part (clearly_faster); rows without paired ratios: `first` leads by `lead` (a
    fraction) of LEGACY_TIE_MARGIN or more. What the best-channel map and the A/A
    winners both call a confident winner."""
    a, b = paired_of(first), paired_of(second)
    if a is not None and b is not None:
        return clearly_faster(a, b)
    return bool(lead >= LEGACY_TIE_MARGIN)

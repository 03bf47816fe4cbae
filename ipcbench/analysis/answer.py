"""The run's answer: per workload, the fastest channel, its figure, the runner-up and by
how much it trails, or a tie. Pure, over result rows; render/answer.py writes the block.

A workload is a case without its channel (core/paired.py): its ok rows are the rivals,
ranked by the pattern's figure of merit (Pattern.metric) as advise and the best-channel
map rank them. The best is ahead only when core/paired.clearly_ahead says so (disjoint
paired CIs; rows without paired ratios: a lead of 5% or more); otherwise it is a tie,
whatever the margin. Like with like: a channel whose procs mean something else than its
pattern's (core/traits.py) is named apart at 2+ procs, never ranked. Rows measured at a
set rate (--rate) are not full-speed figures: they are not answered here (advise --rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ipcbench.core import patterns
from ipcbench.core.paired import clearly_ahead
from ipcbench.core.results import ResultRow
from ipcbench.core.schema import BASELINE_MECHANISM, DEFAULT_PAYLOAD, PLACEMENTS
from ipcbench.core.traits import PLAIN, ChannelTraits


@dataclass(frozen=True)
class WorkloadAnswer:
    pattern: str
    size_bytes: int
    procs: int
    placement: str
    payload: str
    start_method: str
    best: ResultRow | None  # None: no ok row to rank
    runner_up: ResultRow | None
    # How far the best is ahead of the runner-up, as a fraction (0.25 = the runner-up
    # takes 25% longer / moves 20% less); NaN without a runner-up.
    margin: float
    tie: bool  # best and runner-up are not apart beyond doubt (clearly_ahead)
    busy_polls: bool  # the best spins on a CPU per peer
    apart: tuple[ResultRow, ...]  # ok rows whose procs mean something else, best first
    not_ok: int  # rows of the workload that failed or timed out

    @property
    def kind(self) -> patterns.Pattern:
        return patterns.get(self.pattern)

    def figure(self, row: ResultRow) -> float:
        return float(getattr(row, self.kind.metric))


def _figure(row: ResultRow) -> float:
    value = getattr(row, patterns.get(row.pattern).metric)
    return float(value) if row.status == "ok" and math.isfinite(value) and value > 0 else math.nan


def workload_key(row: ResultRow) -> tuple:
    """Reading order of workloads: by pattern, placement, payload kind (bytes first) and
    start method, so each group's workloads sit together; then size and procs."""
    return (patterns.PATTERN_NAMES.index(row.pattern),
            PLACEMENTS.index(row.placement) if row.placement in PLACEMENTS else len(PLACEMENTS),
            row.payload != DEFAULT_PAYLOAD, row.payload, row.start_method,
            row.size_bytes, row.procs)


def margin_of(kind: patterns.Pattern, best: float, other: float) -> float:
    """Pure: how far `best` is ahead of `other`, as a fraction (best.py's margin)."""
    return best / other - 1 if kind.higher_is_better else other / best - 1


def answer_workload(rows: Sequence[ResultRow], traits: ChannelTraits = PLAIN) -> WorkloadAnswer:
    """One workload's answer from its rows (all of one workload)."""
    first = rows[0]
    kind = patterns.get(first.pattern)
    ok = [r for r in rows if math.isfinite(_figure(r))]
    ranked = sorted(ok, key=lambda r: (-_figure(r) if kind.higher_is_better else _figure(r),
                                       r.mechanism, r.variant))
    apart = tuple(r for r in ranked if traits.unlike(r.mechanism, r.pattern, r.procs))
    ranked = [r for r in ranked if r not in apart]
    best = ranked[0] if ranked else None
    runner = ranked[1] if len(ranked) > 1 else None
    margin, tie = math.nan, False
    if best is not None and runner is not None:
        margin = margin_of(kind, _figure(best), _figure(runner))
        tie = not clearly_ahead(best.as_dict(), runner.as_dict(), margin)
    return WorkloadAnswer(
        first.pattern, first.size_bytes, first.procs, first.placement, first.payload,
        first.start_method, best, runner, margin, tie,
        best is not None and traits.busy_polls(best.mechanism, best.variant), apart,
        sum(r.status in ("failed", "timeout") for r in rows))


def answers(rows: Sequence[ResultRow], traits: ChannelTraits = PLAIN) -> list[WorkloadAnswer]:
    """Every full-speed workload with a measured row (ok, failed or timed out), in
    reading order (workload_key); skipped rows, baselines, rate and depth rows are not
    asked."""
    by_workload: dict[tuple, list[ResultRow]] = {}
    for row in rows:
        if (row.status == "skipped" or row.mechanism == BASELINE_MECHANISM
                or row.rate_per_s or row.depth):
            continue
        by_workload.setdefault(workload_key(row), []).append(row)
    return [answer_workload(by_workload[key], traits) for key in sorted(by_workload)]

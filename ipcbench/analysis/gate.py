"""Pure: the regression gate of `compare --fail-slower PCT`, for CI.

A case fails the gate when compare's own verdict on it is "slower" (verdict.py: the
session-level CIs apart and a Welch test over sessions, over the probe where both runs
have one) and B's time per message is more than PCT percent above A's. The gate adds no
statistics of its own: it fails on exactly the changes compare calls slower and lists,
so a change within noise, or below --min-effect, never fails it, however large its
point estimate. (Repeat-level statistics, which pytest-benchmark's compare-fail reads,
called 49 cases of two identical runs regressions: repeats inside one set of peer
processes agree far more closely than two runs do.)

Hardware baseline rows are not gated: they measure the machine, not a channel. Cases
measured on one side only ("not comparable") are counted, not gated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ipcbench.analysis.compare import Comparison, by_effect
from ipcbench.analysis.verdict import NOT_COMPARABLE, SLOWER
from ipcbench.core.schema import BASELINE_MECHANISM


@dataclass(frozen=True)
class GateFailure:
    tag: str  # the run (B, C, ...) that is slower than A
    case: Mapping[str, object]  # the case's key columns and values
    ratio: float  # time per message B / A (> 1 + threshold)
    p_value: float
    basis: str  # "probe" or "absolute" (compare_frames)

    @property
    def slower_pct(self) -> float:
        return (self.ratio - 1) * 100


@dataclass(frozen=True)
class Gate:
    threshold_pct: float
    judged: int  # channel cases ok in both runs of a pairing, summed over pairings
    not_comparable: int  # channel cases ok in one run only (not gated)
    failures: tuple[GateFailure, ...]  # largest slowdown first within each pairing

    @property
    def passed(self) -> bool:
        return not self.failures


def gate(comparison: Comparison, threshold_pct: float) -> Gate:
    """Every pairing's channel cases compare called slower by more than threshold_pct."""
    if comparison.metric != "time":
        raise ValueError("--fail-slower judges time per message: it cannot be combined "
                         f"with --metric {comparison.metric}")
    limit = 1 + threshold_pct / 100
    failures, judged, not_comparable = [], 0, 0
    for tag, table in zip(comparison.tags[1:], comparison.tables, strict=True):
        channels = table[table["mechanism"] != BASELINE_MECHANISM]
        judged += int(channels["both_ok"].astype(bool).sum())
        not_comparable += int((channels["verdict"] == NOT_COMPARABLE).sum())
        slower = by_effect(channels)
        slower = slower[(slower["verdict"] == SLOWER) & (slower["ratio"] > limit)]
        failures += [GateFailure(tag, MappingProxyType({k: row[k] for k in comparison.keys}),
                                 float(row["ratio"]), float(row["p_value"]), str(row["basis"]))
                     for row in slower.to_dict("records")]
    return Gate(threshold_pct, judged, not_comparable, tuple(failures))

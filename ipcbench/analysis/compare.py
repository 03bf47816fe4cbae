"""Compare result sets: match cases across runs, judge each (verdict.py), and sum a
pairing up as geometric means (how much faster, how much more efficient than run A).

Pure: Run records in, DataFrames and records out. Writers are in ipcbench.render.

Speed and efficiency can disagree: a machine with a faster memory system is faster on
every case yet may get a smaller share of its own hardware (efficiency = figure / the
same run's in-run baseline, see ipcbench/harness/baselines.py), so both are given: a
machine can be ranked by either.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ipcbench.analysis.agreement import Agreement, agreement
from ipcbench.analysis.detectable import Detectable, detectable
from ipcbench.analysis.frames import case_keys, unique_cases
from ipcbench.analysis.runs import Run
from ipcbench.analysis.sameness import machine_drift, memory_drift, settings_difference
from ipcbench.analysis.verdict import (
    ALPHA,
    FASTER,
    LESS_EFFICIENT,
    METRICS,
    MIN_EFFECT,
    MORE_EFFICIENT,
    NOT_MEASURED,
    SIGNIFICANT,
    SLOWER,
    VERDICTS,
    Verdict,
    case_verdict,
    efficiency_verdict,
    row_value,
)
from ipcbench.core.results import ResultsError
from ipcbench.core.schema import BASELINE_MECHANISM


def run_tags(count: int) -> list[str]:
    """Short tags A, B, C... used in tables and legends (labels are long)."""
    return [chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(count)]


@dataclass(frozen=True)
class Matching:
    keys: list[str]
    matched: pd.DataFrame  # key columns + every other column suffixed _a / _b
    only_base: pd.DataFrame  # key columns of cases only in the baseline
    only_other: pd.DataFrame


def match_cases(base: pd.DataFrame, other: pd.DataFrame) -> Matching:
    """Pair rows of two result frames on the case identity (CASE_KEYS)."""
    keys = case_keys(base, other)
    # Copies: frames built column by column (migrations, derived columns) are fragmented,
    # and merging them made pandas print a PerformanceWarning to the user.
    a, b = unique_cases(base).copy(), unique_cases(other).copy()
    merged = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    side = merged["_merge"]
    return Matching(
        keys=keys,
        matched=merged[side == "both"].drop(columns="_merge").reset_index(drop=True),
        only_base=merged.loc[side == "left_only", keys].reset_index(drop=True),
        only_other=merged.loc[side == "right_only", keys].reset_index(drop=True),
    )


def _side(record: Mapping, suffix: str) -> dict:
    return {k[: -len(suffix)]: v for k, v in record.items() if k.endswith(suffix)}


def _both_ok(a: Mapping, b: Mapping) -> bool:
    return a.get("status") == "ok" and b.get("status") == "ok"


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (use {' or '.join(METRICS)})")


def over_probe(row: Mapping) -> dict | None:
    """The row with its figures in units of its blocks' probes (probe_ratio and its CI as
    the median and CI), so the verdict's machinery judges the change a host's drift does
    not move; None for a row without probes (older files, --no-baselines)."""
    values = [row_value(row, c) for c in ("probe_ratio", "probe_ratio_ci_low",
                                           "probe_ratio_ci_high", "median_ns")]
    if row.get("status") != "ok" or not all(v > 0 and math.isfinite(v) for v in values):
        return None
    ratio, low, high, median = values
    scale = ratio / median
    return {**row, "median_ns": ratio, "ci_low_ns": low, "ci_high_ns": high,
            "mean_ns": row_value(row, "mean_ns") * scale,
            "stdev_ns": row_value(row, "stdev_ns") * scale}


def judge_rows(a: Mapping, b: Mapping, *, min_effect: float = MIN_EFFECT,
               alpha: float = ALPHA, metric: str = "time") -> tuple[Verdict, str]:
    """The verdict on one matched case (a row of each run) and its basis: "probe" when
    both rows carry figures over their blocks' probes and the metric is time (a drift
    of the host between the runs cancels there), else "absolute"."""
    _check_metric(metric)
    if metric == "efficiency":
        return efficiency_verdict(a, b, min_effect=min_effect, alpha=alpha), "absolute"
    probed_a, probed_b = over_probe(a), over_probe(b)
    if probed_a is not None and probed_b is not None:
        return case_verdict(probed_a, probed_b, min_effect=min_effect, alpha=alpha), "probe"
    return case_verdict(a, b, min_effect=min_effect, alpha=alpha), "absolute"


def pairing_detectable(matching: Matching, *, min_effect: float = MIN_EFFECT,
                       alpha: float = ALPHA) -> Detectable:
    """The change in time this pairing can call (detectable.py), over the cases ok in
    both runs, baselines left out."""
    pairs = []
    for record in matching.matched.to_dict("records"):
        a, b = _side(record, "_a"), _side(record, "_b")
        if _both_ok(a, b) and record.get("mechanism") != BASELINE_MECHANISM:
            pairs.append((a, b))

    def judge(base: Mapping, other: Mapping) -> Verdict:
        return judge_rows(base, other, min_effect=min_effect, alpha=alpha)[0]

    return detectable(judge, pairs)


def compare_frames(base: pd.DataFrame, other: pd.DataFrame, *, min_effect: float = MIN_EFFECT,
                   alpha: float = ALPHA, metric: str = "time") -> tuple[pd.DataFrame, Matching]:
    """One row per matched case: keys, both statuses, medians, their CIs and efficiencies,
    ratio, p_value, verdict, reason, basis. metric="time": ratio = time B / A;
    "efficiency": efficiency B / A."""
    _check_metric(metric)  # before matching: refused even when no case matches
    matching = match_cases(base, other)
    records = []
    for record in matching.matched.to_dict("records"):
        a, b = _side(record, "_a"), _side(record, "_b")
        verdict, basis = judge_rows(a, b, min_effect=min_effect, alpha=alpha, metric=metric)
        records.append({
            **{k: record[k] for k in matching.keys},
            "both_ok": _both_ok(a, b),
            "status_a": a.get("status"),
            "status_b": b.get("status"),
            "median_ns_a": row_value(a, "median_ns"),
            "median_ns_b": row_value(b, "median_ns"),
            # The session-level CIs of the absolute medians, as each run measured them.
            **{f"{c}_{side}": row_value(row, c) for side, row in (("a", a), ("b", b))
               for c in ("ci_low_ns", "ci_high_ns")},
            "efficiency_a": row_value(a, "efficiency"),
            "efficiency_b": row_value(b, "efficiency"),
            "ratio": verdict.ratio,
            "p_value": verdict.p_value,
            "verdict": verdict.label,
            "reason": verdict.reason,
            "basis": basis,
        })
    columns = [*matching.keys, "both_ok", "status_a", "status_b", "median_ns_a", "median_ns_b",
               "ci_low_ns_a", "ci_high_ns_a", "ci_low_ns_b", "ci_high_ns_b", "efficiency_a",
               "efficiency_b", "ratio", "p_value", "verdict", "reason", "basis"]
    table = pd.DataFrame(records, columns=columns)
    return table.sort_values(["pattern", *[k for k in matching.keys if k != "pattern"]],
                             ignore_index=True), matching


@dataclass(frozen=True)
class Comparison:
    runs: list[Run]
    tables: list[pd.DataFrame]  # tables[i] compares runs[i + 1] with runs[0]
    matchings: list[Matching] = field(default_factory=list)
    min_effect: float = MIN_EFFECT
    alpha: float = ALPHA
    metric: str = "time"
    mechanisms: tuple[str, ...] = ()
    # Per pairing measured with other settings than A (sameness.py): one short line
    # each for the terminal, and the detail for compare.md and the report.
    settings_notes: tuple[str, ...] = ()
    settings_details: tuple[str, ...] = ()
    # Per pairing: how far B agrees with A (agreement.py: what an A/A test reads).
    agreements: tuple[Agreement, ...] = ()
    # Per pairing: the change in time it could call (detectable.py; time metric only).
    detectables: tuple[Detectable, ...] = ()

    @property
    def tags(self) -> list[str]:
        return run_tags(len(self.runs))

    @property
    def keys(self) -> list[str]:
        """The case-key columns the runs were matched on."""
        return self.matchings[0].keys


def compare_runs(runs: Sequence[Run], *, min_effect: float = MIN_EFFECT,
                 alpha: float = ALPHA, metric: str = "time",
                 mechanisms: Sequence[str] = ()) -> Comparison:
    """Every run against the first, on time per message or on efficiency; `mechanisms`
    keeps only those channels. ResultsError if a run shares no case with the first."""
    if len(runs) < 2:
        raise ResultsError("compare needs at least two result sets")
    if mechanisms:
        known = set().union(*(set(r.frame["mechanism"]) for r in runs))
        unknown = [m for m in mechanisms if m not in known]
        if unknown:
            raise ResultsError(f"no rows of mechanism {unknown[0]!r} in these runs")
        runs = [replace(r, frame=r.frame[r.frame["mechanism"].isin(mechanisms)]) for r in runs]
    tables, matchings, raised, detectables = [], [], [], []
    for tag, run in zip(run_tags(len(runs))[1:], runs[1:], strict=True):
        # The CIs cover what each run's sessions saw; a host that drifted during a run
        # (core/drift.py) moves a rerun's absolute figures by as much, unseen by them.
        # Figures over the probe move with the host: there the CIs decide alone.
        effect = min_effect
        if metric != "time" or not (has_probes(runs[0]) and has_probes(run)):
            effect = max(min_effect, 2 * run_drift(runs[0]), 2 * run_drift(run))
        if effect > min_effect:
            raised.append((f"note: {tag} vs A: changes below {effect:.0%} are not called "
                           "(twice the host's drift, machine.json)",) * 2)
        table, matching = compare_frames(runs[0].frame, run.frame, min_effect=effect,
                                         alpha=alpha, metric=metric)
        if table.empty:
            raise ResultsError(f"{run.csv_path} has no case in common with {runs[0].csv_path}")
        tables.append(table)
        matchings.append(matching)
        if metric == "time":
            detectables.append(pairing_detectable(matching, min_effect=effect, alpha=alpha))
    tags = run_tags(len(runs))
    notes = [settings_difference(runs[0], run, matching.matched, tag)
             for tag, run, matching in zip(tags[1:], runs[1:], matchings, strict=True)]
    notes += [drift(runs[0], run, tag) for tag, run in zip(tags[1:], runs[1:], strict=True)
              for drift in (machine_drift, memory_drift)]
    notes = [n for n in notes + raised if n[0]]
    agreements = tuple(agreement(runs[0].frame, run.frame, matching.keys)
                       for run, matching in zip(runs[1:], matchings, strict=True))
    return Comparison(list(runs), tables, matchings, min_effect, alpha, metric,
                      tuple(mechanisms), tuple(n[0] for n in notes), tuple(n[1] for n in notes),
                      agreements, tuple(detectables))


def run_drift(run: Run) -> float:
    """How far the run's host drifted during it (machine.json; 0 when unknown)."""
    recorded = (run.machine or {}).get("resolution") or {}
    try:
        value = float(recorded.get("drift") or 0.0)
    except (TypeError, ValueError, AttributeError):
        return 0.0
    return value if math.isfinite(value) and 0 < value < 10 else 0.0


def has_probes(run: Run) -> bool:
    """Whether the run's ok rows carry figures over the blocks' probes."""
    frame = run.frame
    return "probe_ratio" in frame and bool(
        pd.to_numeric(frame["probe_ratio"], errors="coerce").notna().any())


def verdict_counts(table: pd.DataFrame, metric: str | None = None) -> dict[str, int]:
    """Cases per verdict; with a metric, only the labels that metric can give. Cases
    measured ok in neither run are not counted (not_measured gives their number)."""
    counts = table["verdict"].value_counts()
    skip = {"time": (MORE_EFFICIENT, LESS_EFFICIENT), "efficiency": (FASTER, SLOWER)}
    return {v: int(counts.get(v, 0)) for v in VERDICTS if v not in skip.get(metric, ())}


def not_measured(table: pd.DataFrame) -> int:
    """Matched cases that were ok in neither run (skipped or failed on both sides)."""
    return int((table["verdict"] == NOT_MEASURED).sum())


def by_effect(table: pd.DataFrame) -> pd.DataFrame:
    """The table with significant changes first, each group by effect size (|log
    ratio|, largest first), as `pyperf compare_to` lists them; unmeasured last."""
    ratio = pd.to_numeric(table["ratio"], errors="coerce")
    effect = np.abs(np.log(ratio.where(ratio > 0)))
    group = np.where(table["verdict"].isin(SIGNIFICANT), 0,
                     np.where(table["verdict"] == NOT_MEASURED, 2, 1))
    order = pd.DataFrame({"group": group, "effect": -effect.fillna(-1.0)}, index=table.index)
    return table.loc[order.sort_values(["group", "effect"], kind="stable").index]


def one_sided(comparison: Comparison) -> list[tuple[str, pd.DataFrame]]:
    """(description, case keys) for cases present on only one side of each pairing."""
    tags = comparison.tags
    parts = []
    for tag, matching in zip(tags[1:], comparison.matchings, strict=True):
        if not matching.only_base.empty:
            parts.append((f"only in A (not in {tag})", matching.only_base))
        if not matching.only_other.empty:
            parts.append((f"only in {tag} (not in A)", matching.only_other))
    return parts


def geometric_mean(values) -> float:
    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    array = array[np.isfinite(array) & (array > 0)]
    return float(np.exp(np.log(array).mean())) if array.size else math.nan


def pair_summary(table: pd.DataFrame) -> dict:
    """Geometric means over matched cases of one pairing (B vs A), baseline rows left
    out (they are the hardware, not channels): speed = time A / time B (> 1 = B faster),
    efficiency = efficiency B / efficiency A (> 1 = B gets closer to its hardware)."""
    # Only cases ok on both sides: a case called "not comparable" because a side failed
    # must not count towards a speed ratio the same report gives.
    rows = table[(table["mechanism"] != BASELINE_MECHANISM) & table["both_ok"].astype(bool)]
    speed_ratios = rows["median_ns_a"] / rows["median_ns_b"]
    efficiency_ratios = rows["efficiency_b"] / rows["efficiency_a"]
    return {
        "speed_cases": int(np.isfinite(speed_ratios).sum()),
        "speed": geometric_mean(speed_ratios),
        "efficiency_cases": int(np.isfinite(efficiency_ratios).sum()),
        "efficiency": geometric_mean(efficiency_ratios),
    }


def ranking(tags: list[str], tables: list[pd.DataFrame], metric: str) -> list[tuple[str, float]]:
    """Runs best first by the geometric mean vs A of the chosen metric (A = 1.0)."""
    key = "efficiency" if metric == "efficiency" else "speed"
    scores = [(tags[0], 1.0)] + [(tag, pair_summary(t)[key])
                                for tag, t in zip(tags[1:], tables, strict=True)]
    return sorted(scores, key=lambda item: -item[1] if math.isfinite(item[1]) else math.inf)


def gil_note(runs: Sequence[Run]) -> str:
    """A line saying how the runs differ in the GIL ("" when they do not): a GIL and a
    no-GIL run of a free-threaded build are compared as such, never taken for one
    machine's drift."""
    states = []
    for run in runs:
        frame = run.frame
        gil = "GIL" if "gil_enabled" not in frame or frame["gil_enabled"].all() else "no GIL"
        free = "free_threaded" in frame and bool(frame["free_threaded"].any())
        states.append(f"{run.name}: {gil}{' (free-threaded build)' if free else ''}")
    if len({s.split(': ', 1)[1] for s in states}) <= 1:
        return ""
    return "note: the runs differ in the GIL, which is part of every difference: " + \
        "; ".join(states)

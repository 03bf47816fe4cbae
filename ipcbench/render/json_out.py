"""Machine-readable output of `run`, `compare` and `advise` (--json PATH): the facts the
terminal shows, as plain JSON documents. docs/json.md documents every field and unit.

Pure: records in, dicts out, and `dumps` for the text. Every document carries
"schema": "ipcbench-<command>/<version>"; a version is bumped when a field changes
meaning or goes away (new fields may be added within a version). Figures keep the
units of results.csv (ns, B/s, msgs/s, fractions); a figure that was not measured is
null, never NaN (which strict JSON parsers refuse).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ipcbench.analysis.advise import Advice, Candidate, Cell
from ipcbench.analysis.advise_rate import RateAdvice
from ipcbench.analysis.compare import (
    Comparison,
    by_effect,
    not_measured,
    one_sided,
    pair_summary,
    verdict_counts,
)
from ipcbench.analysis.gate import Gate
from ipcbench.analysis.verdict import SIGNIFICANT, SLOWER
from ipcbench.core import patterns
from ipcbench.core.results import ResultRow
from ipcbench.core.schema import BASELINE_MECHANISM, CASE_KEYS
from ipcbench.render.machines import machines_document, view_of
from ipcbench.render.run_table import channel, groups, unsupported

VERSION = 1


def schema(command: str) -> str:
    return f"ipcbench-{command}/{VERSION}"


def _plain(value: object) -> object:
    """JSON-ready: non-finite floats as None, numpy scalars and paths as Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(document: Mapping) -> str:
    """The document as strict JSON text (no NaN), ending in a newline."""
    return json.dumps(_plain(document), indent=2, allow_nan=False) + "\n"


# --- compare -------------------------------------------------------------------------


def _side(row: Mapping, suffix: str) -> dict:
    return {"status": row[f"status_{suffix}"], "median_ns": row[f"median_ns_{suffix}"],
            "ci_low_ns": row[f"ci_low_ns_{suffix}"], "ci_high_ns": row[f"ci_high_ns_{suffix}"],
            "efficiency": row[f"efficiency_{suffix}"]}


def _compared_case(row: Mapping, keys: Sequence[str]) -> dict:
    return {**{k: row[k] for k in keys}, "a": _side(row, "a"), "b": _side(row, "b"),
            "ratio": row["ratio"], "p_value": row["p_value"], "verdict": row["verdict"],
            "reason": row["reason"], "basis": row["basis"],
            "significant": row["verdict"] in SIGNIFICANT, "slower": row["verdict"] == SLOWER}


def gate_document(gate: Gate) -> dict:
    return {"threshold_pct": gate.threshold_pct, "passed": gate.passed,
            "judged": gate.judged, "not_comparable": gate.not_comparable,
            "failures": [{"run": f.tag, **dict(f.case), "ratio": f.ratio,
                          "slower_pct": f.slower_pct, "p_value": f.p_value, "basis": f.basis}
                         for f in gate.failures]}


def compare_document(comparison: Comparison, gate: Gate | None = None) -> dict:
    """Every pairing (each run against A): its verdict counts, geometric means and every
    matched case, significant changes first by effect size (as the terminal lists them)."""
    tags = comparison.tags
    view = view_of(comparison)
    one_sided_cases = {description: len(keys) for description, keys in one_sided(comparison)}
    pairings = []
    for tag, table in zip(tags[1:], comparison.tables, strict=True):
        summary = pair_summary(table)
        pairings.append({
            "run": tag, "against": tags[0],
            "matched": len(table),
            "verdict_counts": verdict_counts(table),
            "not_measured": not_measured(table),
            "only_in_a": one_sided_cases.get(f"only in A (not in {tag})", 0),
            "only_in_run": one_sided_cases.get(f"only in {tag} (not in A)", 0),
            "speed": summary["speed"], "speed_cases": summary["speed_cases"],
            "efficiency": summary["efficiency"],
            "efficiency_cases": summary["efficiency_cases"],
            "cases": [_compared_case(row, comparison.keys)
                      for row in by_effect(table).to_dict("records")],
        })
    return {
        "schema": schema("compare"),
        "metric": comparison.metric,
        "min_effect": comparison.min_effect,
        "alpha": comparison.alpha,
        "mechanisms": list(comparison.mechanisms),
        "runs": [{"tag": tag, "label": run.label, "results_csv": run.csv_path}
                 for tag, run in zip(tags, comparison.runs, strict=True)],
        "notes": list(comparison.settings_notes),
        "pairings": pairings,
        "gate": None if gate is None else gate_document(gate),
        # Runs from several machines: each one's best channel per workload (else null).
        "machines_side_by_side": None if view is None else machines_document(view),
    }


# --- advise --------------------------------------------------------------------------


def _cell(cell: Cell) -> dict:
    return {"size_bytes": cell.size_bytes, "procs": cell.procs, "placement": cell.placement,
            "payload": cell.payload, "start_method": cell.start_method}


def _candidate(candidate: Candidate, best: Candidate, kind: patterns.Pattern) -> dict:
    # As the terminal's "vs best" column: how many times worse than the best (1 = best).
    behind = (best.figure / candidate.figure if kind.higher_is_better
              else candidate.figure / best.figure)
    return {"channel": candidate.name, "mechanism": candidate.mechanism,
            "variant": candidate.variant, "figure": candidate.figure, "vs_best": behind,
            "efficiency": candidate.efficiency, "noisy": candidate.noisy,
            "ci_low_ns": candidate.low_ns, "ci_high_ns": candidate.high_ns,
            "ratio_ci_low": candidate.ratio_low, "ratio_ci_high": candidate.ratio_high}


def advise_document(advice: Advice, size_bytes: int, procs: int) -> dict:
    """advise's answer: the workload asked, the cell it is based on, the best channel,
    the runner-up and margin, the caveats and the ranked top candidates."""
    kind, best = advice.kind, advice.best
    runner = advice.runner_up
    return {
        "schema": schema("advise"),
        "mode": "full-speed",
        "asked": {"pattern": advice.pattern, "size_bytes": size_bytes, "procs": procs},
        "metric": kind.metric, "metric_label": kind.metric_label, "unit": advice.unit,
        "higher_is_better": kind.higher_is_better,
        "cell": _cell(advice.cell), "exact": advice.exact,
        "best": _candidate(best, best, kind),
        "runner_up": None if runner is None else _candidate(runner, best, kind),
        "margin": advice.margin, "within_noise": advice.within_noise,
        "caveats": list(advice.caveats),
        "ranking": [_candidate(c, best, kind) for c in advice.ranking],
        "nearest_cells": [_cell(c) for c in advice.nearest_cells],
    }


def rate_advice_document(advice: RateAdvice, size_bytes: int, procs: int) -> dict:
    """advise --rate's answer: channels by one-way p99 at the load, and those that
    could not keep up."""
    return {
        "schema": schema("advise"),
        "mode": "rate",
        "asked": {"pattern": advice.pattern, "size_bytes": size_bytes, "procs": procs,
                  "rate_per_s": advice.rate_per_s},
        "cell": _cell(advice.cell),
        "best": advice.ranking[0].name if advice.ranking else None,
        "ranking": [{"channel": c.name, "mechanism": c.mechanism, "variant": c.variant,
                     "measured_rate_per_s": c.rate_per_s, "achieved_per_s": c.achieved_per_s,
                     "p50_ns": c.p50_ns, "p99_ns": c.p99_ns} for c in advice.ranking],
        "saturated": list(advice.saturated),
        "caveats": list(advice.caveats),
    }


# --- run -----------------------------------------------------------------------------


def _ci_half(row: ResultRow) -> float:
    low, high, mid = row.ci_low_ns, row.ci_high_ns, row.median_ns
    return (high - low) / 2 / mid if mid > 0 else math.nan


def _summary_row(row: ResultRow, workload: int, rank: int, best: bool) -> dict:
    kind = patterns.get(row.pattern)
    ok = row.status == "ok"
    return {**{k: getattr(row, k) for k in CASE_KEYS}, "channel": channel(row),
            "workload": workload, "rank": rank, "best": best,
            "status": row.status, "reason": row.reason,
            "metric": kind.metric, "unit": kind.unit,
            "figure": getattr(row, kind.metric) if ok else None,
            "median_ns": row.median_ns, "ci_low_ns": row.ci_low_ns,
            "ci_high_ns": row.ci_high_ns, "ci_half_width": _ci_half(row),
            "ratio": row.ratio, "ratio_ci_low": row.ratio_ci_low,
            "ratio_ci_high": row.ratio_ci_high,
            "p99_ns": row.lat_p99_ns if kind.open_loop else row.p99_ns,
            "msgs_per_s": row.msgs_per_s, "cpu_ns_per_msg": row.cpu_s_per_msg * 1e9,
            "efficiency": row.efficiency, "sessions": row.sessions,
            "noisy": row.noisy, "noise": row.noise, "saturated": row.saturated}


def run_document(rows: Sequence[ResultRow], folder: Path) -> dict:
    """The end-of-run summary: every measured case in the table's order (workloads in
    case order, channels best first), then the cases not run and why."""
    cases = []
    for index, block in enumerate(groups(rows)):
        for rank, row in enumerate(block, 1):
            best = rank == 1 and row.status == "ok" and len(block) > 1
            cases.append(_summary_row(row, index, rank, best))
    skipped = [{**{k: getattr(r, k) for k in CASE_KEYS}, "reason": r.reason,
                "unsupported": unsupported(r)} for r in rows
               if r.status == "skipped" and r.mechanism != BASELINE_MECHANISM]
    return {"schema": schema("run"), "run_folder": folder,
            "results_csv": folder / "results.csv", "cases": cases, "skipped": skipped}

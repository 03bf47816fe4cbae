"""Processes, interpreters, threads: per workload, the best channel between each kind of
peer and what it costs against the best between processes. The question behind it: "do
I need processes at all?" (docs/in-process.md). Pure: a results frame in, a frame out.

A workload is a pattern, placement, size, process count and start method, raw bytes
only (what every kind carries). Only workloads measured with at least two kinds of
peer are kept: one kind alone has nothing to be compared with.
"""

from __future__ import annotations

import pandas as pd

from ipcbench.analysis.frames import in_reading_order, unique_cases
from ipcbench.core import patterns
from ipcbench.core.schema import BASELINE_MECHANISM, DEFAULT_PAYLOAD

PEER_KINDS = ("processes", "interpreters", "threads")
WORKLOAD = ["pattern", "placement", "size_bytes", "procs", "start_method"]


def _cost_vs(value: float, reference: float, higher_is_better: bool) -> float:
    """How many times the reference's cost: a time over the reference time, or the
    reference rate over a rate (1.0 = as cheap as processes, 2.0 = twice the cost)."""
    return reference / value if higher_is_better else value / reference


def kinds_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per workload measured with 2+ kinds of peer: for each kind its best
    channel (`<kind>`), figure (`<kind>_value`) and cost against the best process
    channel (`<kind>_vs_processes`; absent where no process channel ran)."""
    if "peer_kind" not in frame or frame.empty:
        return pd.DataFrame()
    ok = unique_cases(frame[(frame["status"] == "ok")
                            & (frame["mechanism"] != BASELINE_MECHANISM)
                            & (frame["payload"] == DEFAULT_PAYLOAD)])
    records = []
    for key, group in ok.groupby(WORKLOAD, sort=False):
        kind = patterns.get(key[0])
        values = pd.to_numeric(group[kind.metric], errors="coerce")
        group = group.assign(_value=values)[values > 0]
        bests = {}
        for peer_kind, part in group.groupby("peer_kind"):
            best = part.loc[part["_value"].idxmax() if kind.higher_is_better
                            else part["_value"].idxmin()]
            bests[peer_kind] = best
        if len(bests) < 2:
            continue
        record = dict(zip(WORKLOAD, key, strict=True))
        reference = bests.get("processes")
        for peer_kind in [*PEER_KINDS, *sorted(set(bests) - set(PEER_KINDS))]:
            best = bests.get(peer_kind)
            record[peer_kind] = "" if best is None else f"{best['mechanism']}/{best['variant']}"
            record[f"{peer_kind}_value"] = float("nan") if best is None else best["_value"]
            record[f"{peer_kind}_vs_processes"] = (
                float("nan") if best is None or reference is None
                else _cost_vs(best["_value"], reference["_value"], kind.higher_is_better))
        records.append(record)
    if not records:
        return pd.DataFrame()
    table = pd.DataFrame(records)
    order = {c: in_reading_order(c, table[c]) for c in ("pattern", "placement",
                                                         "start_method")}
    return table.sort_values(
        ["pattern", "placement", "start_method", "size_bytes", "procs"],
        key=lambda s: s.map(lambda v: order[s.name].index(v)) if s.name in order else s,
        kind="stable").reset_index(drop=True)

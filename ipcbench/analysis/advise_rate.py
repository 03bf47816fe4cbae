"""`ipcbench advise --rate R`: the channel with the lowest one-way p99 at a given load.

Pure, over the open-loop rows of a run (run --rate). For the measured cell nearest the
workload (size on a log2 scale, then senders; placement, payload and start method picked
as plain advise picks them), each channel is judged at the lowest measured rate at or
above R that it kept up with (not saturated): a channel that saturated at or below R
cannot carry the load and is listed as such, never ranked. Without a measured rate at or
above R the highest one below is used, with a caveat: extrapolating latency towards
saturation is exactly what this view exists to avoid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ipcbench.analysis.advise import (
    _DIMS,
    Cell,
    _check_inputs,
    _narrow,
    _nearest_cells,
    chosen_line,
)
from ipcbench.core import patterns
from ipcbench.core.results import ResultsError
from ipcbench.core.schema import BASELINE_MECHANISM


@dataclass(frozen=True)
class LoadedChoice:
    mechanism: str
    variant: str
    rate_per_s: int  # the measured rate this figure is from
    achieved_per_s: float
    p50_ns: float
    p99_ns: float

    @property
    def name(self) -> str:
        return f"{self.mechanism}/{self.variant}"


@dataclass(frozen=True)
class RateAdvice:
    pattern: str
    rate_per_s: int  # asked for
    cell: Cell
    ranking: tuple[LoadedChoice, ...]  # lowest p99 first
    saturated: tuple[str, ...]  # channels that could not keep up with the rate
    caveats: tuple[str, ...]
    chosen: tuple[str, ...] = ()  # for the dimensions left open (Advice.chosen)


def _loaded_rows(frame: pd.DataFrame, kind: patterns.Pattern,
                 wanted: dict) -> tuple[pd.DataFrame, list[str]]:
    usable = frame[(frame["status"] == "ok") & (frame["mechanism"] != BASELINE_MECHANISM)]
    # A steady schedule at each channel's own depth: bursts and depths are other questions.
    if "burst" in usable:
        usable = usable[(usable["burst"] == 1) & (usable["depth"] == 0)]
    rows = usable[(usable["pattern"] == kind.name) & (usable["rate_per_s"] > 0)
                  & pd.to_numeric(usable["lat_p99_ns"], errors="coerce").gt(0)].copy()
    if rows.empty:
        raise ResultsError(f"the run has no {kind.name} rows measured at a rate "
                           "(measure some with `ipcbench run --rate ...`)")
    for dim in _DIMS:
        rows[dim] = rows[dim].astype(str)
    return _narrow(rows, kind.name, wanted)


def _choice(row: pd.Series) -> LoadedChoice:
    return LoadedChoice(str(row["mechanism"]), str(row["variant"]), int(row["rate_per_s"]),
                        float(row["achieved_per_s"]), float(row["lat_p50_ns"]),
                        float(row["lat_p99_ns"]))


def _judge(series: pd.DataFrame, rate_per_s: int) -> tuple[LoadedChoice | None, bool, bool]:
    """One channel's rows of the cell -> (row to rank, saturated at the load, from a
    rate below the one asked)."""
    series = series.sort_values("rate_per_s")
    at_or_above = series[series["rate_per_s"] >= rate_per_s]
    if len(at_or_above):
        first = at_or_above.iloc[0]
        if bool(first["saturated"]):
            return None, True, False
        return _choice(first), False, False
    below = series.iloc[-1]
    if bool(below["saturated"]):
        return None, True, True
    return _choice(below), False, True


def advise_rate(frame: pd.DataFrame, size_bytes: int, procs: int, pattern: str,
                rate_per_s: int, placement: str | None = None, payload: str | None = None,
                start_method: str | None = None) -> RateAdvice:
    wanted = {"placement": placement, "payload": payload, "start_method": start_method}
    kind = _check_inputs(size_bytes, procs, pattern, wanted)
    if not kind.open_loop:
        names = ", ".join(p.name for p in patterns.PATTERNS.values() if p.open_loop)
        raise ValueError(f"--rate applies to {names}, not {pattern!r}")
    if rate_per_s < 1:
        raise ValueError(f"invalid rate {rate_per_s!r}: must be at least 1 message per second")
    caveats: list[str] = []
    rows, chosen = _loaded_rows(frame, kind, wanted)
    cells, _ = _nearest_cells(rows, kind, size_bytes, procs, caveats)
    cell = cells[0]
    rows = rows[(rows["size_bytes"] == cell.size_bytes) & (rows["procs"] == cell.procs)]
    ranked, saturated, extrapolated = [], [], []
    for (mechanism, variant), series in rows.groupby(["mechanism", "variant"], sort=True):
        choice, full, below = _judge(series, rate_per_s)
        if full:
            saturated.append(f"{mechanism}/{variant}")
        elif choice is not None:
            ranked.append(choice)
            if below:
                extrapolated.append(f"{choice.name} (at {choice.rate_per_s}/s)")
    if extrapolated:
        caveats.append(f"no rate at or above {rate_per_s}/s measured for "
                       f"{', '.join(extrapolated)}: its p99 there may be higher")
    if not ranked:
        caveats.append(f"no channel kept up with {rate_per_s}/s in this cell")
    ranked.sort(key=lambda c: (c.p99_ns if math.isfinite(c.p99_ns) else math.inf, c.name))
    return RateAdvice(kind.name, rate_per_s, cell, tuple(ranked), tuple(saturated),
                      tuple(caveats), tuple(chosen))


def rate_advice_text(advice: RateAdvice) -> str:
    from ipcbench.core.units import format_rate_msgs, format_time_ns

    cell = advice.cell.describe()
    lines = [chosen_line(advice.chosen)] if advice.chosen else []
    if advice.ranking:
        best = advice.ranking[0]
        lines.append(f"At {format_rate_msgs(advice.rate_per_s)} per sender ({cell}), "
                     f"{best.name} has the lowest one-way p99: {format_time_ns(best.p99_ns)} "
                     f"(p50 {format_time_ns(best.p50_ns)}, measured at "
                     f"{format_rate_msgs(best.rate_per_s)}).")
    else:
        lines.append(f"At {format_rate_msgs(advice.rate_per_s)} per sender ({cell}) no "
                     "measured channel keeps up.")
    if advice.saturated:
        lines.append(f"  cannot keep up (saturated): {', '.join(advice.saturated)}")
    lines += [f"  caveat: {c}" for c in advice.caveats]
    if advice.ranking:
        lines += ["", f"  {'channel':<24} {'measured at':>14} {'p50':>10} {'p99':>10}"]
        lines += [f"  {c.name:<24} {format_rate_msgs(c.rate_per_s):>14} "
                  f"{format_time_ns(c.p50_ns):>10} {format_time_ns(c.p99_ns):>10}"
                  for c in advice.ranking]
    return "\n".join(lines)

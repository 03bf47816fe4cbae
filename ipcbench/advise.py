"""`ipcbench advise`: which channel to use for a workload, from a measured run.

Pure functions over a results frame: pick the measured cell closest to the workload, rank
its ok rows by the pattern's figure of merit, say how sure that is; `advise_run` reads.

Figure of merit: pingpong -> lowest p50_ns (round trip); stream/fanout -> highest
bytes_per_s; counter -> highest msgs_per_s (increments/s). Mechanism `baseline` rows are
hardware references, never candidates. "Within noise": both rows' ci_low_ns/ci_high_ns
overlap; without CIs, a ~95% interval of the median from cv (or stdev_ns/median_ns) and
the repeat count. Nearest cell: size on a log2 scale, then procs; ties to the smaller.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass

import pandas as pd

from ipcbench.results import ResultsError, read_results
from ipcbench.schema import READABLE_PAYLOAD_KINDS
from ipcbench.sizes import format_size

# pattern -> (column, True when higher is better, unit of the column, what `efficiency`
# is relative to)
METRICS = {
    "pingpong": ("p50_ns", False, "ns", "raw os.pipe round trip"),
    "stream": ("bytes_per_s", True, "B/s", "memcpy bandwidth"),
    "fanout": ("bytes_per_s", True, "B/s", "memcpy bandwidth"),
    "counter": ("msgs_per_s", True, "msgs/s", "uncontended lock increments"),
}
PLACEMENTS = ("unpinned", "same-core", "cross-core")
PAYLOADS = READABLE_PAYLOAD_KINDS
START_METHODS = ("fork", "spawn", "forkserver")
BASELINE = "baseline"
TOP_N = 3
# dimension -> (value of a row without it and preferred value when the user left it
# open (else the run's most common one), allowed values)
_DIMS = {"placement": ("unpinned", PLACEMENTS), "payload": ("bytes", PAYLOADS),
         "start_method": ("unknown", START_METHODS)}


@dataclass(frozen=True)
class Cell:
    size_bytes: int
    procs: int
    placement: str
    payload: str
    start_method: str

    def describe(self) -> str:
        return (f"{format_size(self.size_bytes)} x {self.procs} procs, {self.placement}, "
                f"payload {self.payload}, start method {self.start_method}")


@dataclass(frozen=True)
class Candidate:
    mechanism: str
    variant: str
    figure: float  # in Advice.unit
    efficiency: float = math.nan
    noisy: bool = False
    low_ns: float = math.nan  # ~95% interval of the median time per message
    high_ns: float = math.nan

    @property
    def name(self) -> str:
        return f"{self.mechanism}/{self.variant}"


@dataclass(frozen=True)
class Advice:
    pattern: str
    unit: str  # of every figure: "ns", "B/s" or "msgs/s"
    cell: Cell  # the measured cell the advice is based on
    exact: bool  # cell is the requested workload
    best: Candidate
    runner_up: Candidate | None
    margin: float  # how many times better the best is than the runner-up (>= 1; NaN alone)
    within_noise: bool
    caveats: tuple[str, ...]
    nearest_cells: tuple[Cell, ...]  # measured cells nearest the workload, best first
    ranking: tuple[Candidate, ...]  # top candidates, best first

    @property
    def figure(self) -> float:
        return self.best.figure


def format_figure(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "-"
    steps = {"ns": (("s", 1e9), ("ms", 1e6), ("µs", 1e3)),
             "B/s": (("GiB/s", 2**30), ("MiB/s", 2**20), ("KiB/s", 2**10)),
             "msgs/s": (("M msgs/s", 1e6), ("k msgs/s", 1e3))}[unit]
    for name, factor in steps:
        if abs(value) >= factor:
            return f"{value / factor:.3g} {name}"
    return f"{value:.3g} {unit}"


def _num(row: pd.Series, column: str) -> float:
    return float(pd.to_numeric(row.get(column, math.nan), errors="coerce"))


def _interval_ns(row: pd.Series) -> tuple[float, float]:
    low, high = _num(row, "ci_low_ns"), _num(row, "ci_high_ns")
    if math.isfinite(low) and math.isfinite(high):
        return low, high
    median = _num(row, "median_ns")
    cv = _num(row, "cv")
    if not math.isfinite(cv) and median > 0:
        cv = _num(row, "stdev_ns") / median
    if not (math.isfinite(cv) and median > 0):
        return math.nan, math.nan
    half = 2 * cv / math.sqrt(max(int(_num(row, "repeats") or 1), 1)) * median
    return median - half, median + half


def _overlap(a: Candidate, b: Candidate) -> bool | None:
    if not all(map(math.isfinite, (a.low_ns, a.high_ns, b.low_ns, b.high_ns))):
        return None
    return a.low_ns <= b.high_ns and b.low_ns <= a.high_ns


def _pick(rows: pd.DataFrame, dim: str, wanted: str | None, caveats: list[str]) -> str:
    counts = rows[dim].value_counts()
    measured = sorted(counts.index)
    if wanted in measured:
        return wanted
    preferred = _DIMS[dim][0]
    choice = preferred if preferred in measured else max(measured, key=lambda v: (counts[v], v))
    name, others = dim.replace("_", " "), ", ".join(v for v in measured if v != choice)
    if wanted is not None:
        caveats.append(f"{name} {wanted} was not measured (run has {', '.join(measured)}); "
                       f"advice based on {choice}")
    elif others:
        caveats.append(f"run also has {name} {others}; chose {choice} "
                       f"(pass --{dim.replace('_', '-')} to pick)")
    return choice


def advise(frame: pd.DataFrame, size_bytes: int, procs: int, pattern: str,
           placement: str | None = None, payload: str | None = None,
           start_method: str | None = None) -> Advice:
    """Recommend the fastest mechanism/variant for a workload from one run's rows."""
    wanted = {"placement": placement, "payload": payload, "start_method": start_method}
    for what, value, allowed in (("pattern", pattern, tuple(METRICS)),
                                 *((d, wanted[d], _DIMS[d][1]) for d in _DIMS)):
        if value is not None and value not in allowed:
            raise ValueError(f"unknown {what} {value!r} (choose from {', '.join(allowed)})")
    for what, value in (("size", size_bytes), ("procs", procs)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"invalid {what} {value!r}: must be a whole number >= 1")
    column, higher, unit, _ = METRICS[pattern]
    if column not in frame:
        raise ResultsError(f"the run has no {column} column, needed to rank {pattern} rows")
    usable = frame[(frame["status"] == "ok") & (frame["mechanism"] != BASELINE)]
    rows = usable[(usable["pattern"] == pattern)
                  & pd.to_numeric(usable[column], errors="coerce").notna()].copy()
    if rows.empty:
        have = ", ".join(sorted(set(usable["pattern"]))) or "none"
        raise ResultsError(f"the run has no ok {pattern} rows to advise from "
                           f"(patterns with ok rows: {have})")
    caveats: list[str] = []
    for dim, (missing, _) in _DIMS.items():
        rows[dim] = rows[dim].fillna(missing).astype(str) if dim in rows else missing
        rows = rows[rows[dim] == _pick(rows, dim, wanted[dim], caveats)]

    def distance(cell: tuple[int, int]) -> tuple[float, int, int, int]:
        size_gap = 0.0 if pattern == "counter" else abs(math.log2(cell[0] / size_bytes))
        return (size_gap, abs(cell[1] - procs), cell[0], cell[1])

    measured = set(zip(rows["size_bytes"].astype(int), rows["procs"].astype(int), strict=True))
    ordered = sorted(measured, key=distance)
    size_used, procs_used = ordered[0]
    first = rows.iloc[0]
    cells = tuple(Cell(s, n, first["placement"], first["payload"], first["start_method"])
                  for s, n in ordered[:TOP_N])
    exact = distance(ordered[0])[:2] == (0.0, 0)
    if not exact:
        near = "; ".join(f"{format_size(c.size_bytes)} x {c.procs}" for c in cells)
        caveats.insert(0, f"{format_size(size_bytes)} x {procs} procs was not measured; advice "
                          f"based on the nearest cell {cells[0].describe()} (nearest: {near})")
    cell_rows = rows[(rows["size_bytes"] == size_used) & (rows["procs"] == procs_used)]
    cell_rows = cell_rows.drop_duplicates(["mechanism", "variant"], keep="last")
    ranked = cell_rows.sort_values(column, ascending=not higher, kind="stable")
    candidates = tuple(
        Candidate(str(r["mechanism"]), str(r["variant"]), _num(r, column), _num(r, "efficiency"),
                  str(r.get("noisy", "")).lower() == "true", *_interval_ns(r))
        for _, r in ranked.iterrows())
    best, runner_up = candidates[0], (candidates[1] if len(candidates) > 1 else None)
    margin, within_noise = math.nan, False
    if runner_up is None:
        caveats.append(f"only {best.name} was measured in this cell: nothing to compare")
    else:
        a, b = best.figure, runner_up.figure
        margin = a / b if higher else b / a
        tied = [c.name for c in candidates[1:] if _overlap(best, c)]
        within_noise = runner_up.name in tied
        if tied:
            caveats.append(f"{best.name} is within noise of {', '.join(tied)} "
                           "(their intervals overlap): treat them as a tie")
        elif _overlap(best, runner_up) is None:
            caveats.append("no spread recorded for the top two: the margin may be noise")
    flagged = [c.name for c in candidates[:2] if c.noisy]
    if flagged:
        caveats.append(f"{', '.join(flagged)} flagged noisy (CI target not reached)")
    return Advice(pattern, unit, cells[0], exact, best, runner_up, margin, within_noise,
                  tuple(caveats), cells, candidates[:TOP_N])


def advise_run(path: str | os.PathLike[str], size_bytes: int, procs: int, pattern: str,
               placement: str | None = None, payload: str | None = None,
               start_method: str | None = None) -> Advice:
    """advise() on a run folder or results.csv."""
    return advise(read_results(path), size_bytes, procs, pattern, placement, payload,
                  start_method)


def render(advice: Advice, size_bytes: int, procs: int) -> str:
    """A short paragraph and a table of the top candidates (plain text)."""
    best, runner, unit = advice.best, advice.runner_up, advice.unit
    what = "p50 round trip" if advice.pattern == "pingpong" else "throughput"
    text = (f"For {advice.pattern} of {format_size(size_bytes)} with {procs} procs, use "
            f"{best.name}: {what} {format_figure(best.figure, unit)}")
    if math.isfinite(best.efficiency):
        text += f" (efficiency {best.efficiency:.2f} vs the run's {METRICS[advice.pattern][3]})"
    text += "."
    if runner is not None:
        text += (f" Runner-up: {runner.name} at {format_figure(runner.figure, unit)}; "
                 f"{best.name} is {advice.margin:.2f}x ({advice.margin - 1:.0%}) faster.")
    text += f" Based on {'the' if advice.exact else 'the nearest'} measured cell: " \
            f"{advice.cell.describe()}."
    lines = [text, *(f"  caveat: {c}" for c in advice.caveats), ""]
    header = ("rank", "mechanism/variant", "figure", "vs best", "median CI", "noisy")
    table = [header]
    for rank, c in enumerate(advice.ranking, 1):
        ratio = (c.figure / best.figure if unit == "ns" else best.figure / c.figure)
        spread = (c.high_ns - c.low_ns) / (c.high_ns + c.low_ns)
        interval = f"±{spread:.1%}" if math.isfinite(spread) else "-"
        table.append((str(rank), c.name, format_figure(c.figure, unit),
                      "best" if rank == 1 else f"{ratio:.2f}x slower", interval,
                      "yes" if c.noisy else ""))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
              for r in table]
    return "\n".join(lines)

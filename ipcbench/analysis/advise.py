"""`ipcbench advise`: which channel to use for a workload, from a measured run.

Pure functions over a results frame: pick the measured cell closest to the workload, rank
its ok rows by the pattern's figure of merit (Pattern.metric, .higher_is_better), say how
sure that is; `advise_run` reads. The text is written by render.terminal.advice_text.

Like with like: a channel whose procs mean something else than its pattern's (declared
by its mechanism, core/traits.py: the executor's ping-pong is one task at a time through
a pool of procs workers, not procs pairs) is no rival at more than one proc; it is named
apart, with its figure, never ranked. A winner that busy-polls says what it costs in CPU.

Placement, payload kind and start method are what the run measured: a value it did not
measure (for the pattern) is refused; left open, the only one measured, else the
preferred one (_DIMS), else the most common, and `Advice.chosen` says which.

Mechanism `baseline` rows are hardware references, never candidates. "Within noise":
both rows' paired-ratio CIs overlap (ratio_ci_low/high: measured in the same blocks, so a
drift of the host cancels; core/paired.py); rows without them (older files): their
ci_low_ns/ci_high_ns overlap; without CIs, a ~95% interval of the median from cv (or
stdev_ns/median_ns) and the repeat count. Nearest cell: size on a log2 scale, then
procs; ties to the smaller.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass

import pandas as pd

from ipcbench.analysis.verdict import intervals_overlap
from ipcbench.core import patterns
from ipcbench.core.payload_kinds import READABLE_PAYLOAD_KINDS
from ipcbench.core.results import ResultsError, read_results
from ipcbench.core.schema import (
    BASELINE_MECHANISM,
    DEFAULT_PAYLOAD,
    DEFAULT_PLACEMENT,
    PLACEMENTS,
    PREFERRED_PLACEMENTS,
    START_METHODS,
    check_choice,
)
from ipcbench.core.sizes import format_size
from ipcbench.core.traits import PLAIN, ChannelTraits, busy_poll_note

TOP_N = 3
# dimension -> (value of a row without it, allowed values, preferred values in order
# when the user left it open; none of them measured: the run's most common)
_DIMS = {"placement": (DEFAULT_PLACEMENT, PLACEMENTS, PREFERRED_PLACEMENTS),
         "payload": (DEFAULT_PAYLOAD, READABLE_PAYLOAD_KINDS, (DEFAULT_PAYLOAD,)),
         "start_method": ("unknown", START_METHODS, ())}


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
    ratio_low: float = math.nan  # 95% interval of the paired ratio (core/paired.py)
    ratio_high: float = math.nan
    cpu_s_per_msg: float = math.nan
    busy_polls: bool = False  # its peers spin on a CPU each (core/traits.py)

    @property
    def name(self) -> str:
        return f"{self.mechanism}/{self.variant}"


@dataclass(frozen=True)
class Advice:
    pattern: str
    unit: str  # of every figure: Pattern.unit ("ns", "B/s" or "msgs/s")
    cell: Cell  # the measured cell the advice is based on
    exact: bool  # cell is the requested workload
    best: Candidate
    runner_up: Candidate | None
    margin: float  # how many times better the best is than the runner-up (>= 1; NaN alone)
    within_noise: bool
    caveats: tuple[str, ...]
    nearest_cells: tuple[Cell, ...]  # measured cells nearest the workload, best first
    ranking: tuple[Candidate, ...]  # top candidates, best first
    # What was chosen for the dimensions the user left open ("placement same-core
    # (also measured: cross-core)"), in _DIMS order; empty when every one was given.
    chosen: tuple[str, ...] = ()
    # Channels of the cell whose procs mean something else (never ranked), best first.
    apart: tuple[Candidate, ...] = ()

    @property
    def figure(self) -> float:
        return self.best.figure

    @property
    def kind(self) -> patterns.Pattern:
        return patterns.get(self.pattern)


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
    """Whether two candidates are within noise: by their paired CIs where both have
    them, else by their absolute ones."""
    paired = intervals_overlap((a.ratio_low, a.ratio_high), (b.ratio_low, b.ratio_high))
    if paired is not None:
        return paired
    return intervals_overlap((a.low_ns, a.high_ns), (b.low_ns, b.high_ns))


def _order(dim: str, value: str) -> tuple[int, str]:
    allowed = _DIMS[dim][1]
    return (allowed.index(value) if value in allowed else len(allowed), value)


def _narrow(rows: pd.DataFrame, pattern: str, wanted: dict) -> tuple[pd.DataFrame, list[str]]:
    """Rows of the given dimensions' values (refused in one line when the run did not
    measure one for this pattern), then of the chosen value of each open one."""
    for dim, value in wanted.items():
        measured = sorted(set(rows[dim]), key=lambda v: _order(dim, v))
        if value is not None and value not in measured:
            raise ValueError(f"{dim.replace('_', ' ')} {value} was not measured for {pattern} "
                             f"in this run (it has: {', '.join(measured)})")
        if value is not None:
            rows = rows[rows[dim] == value]
    chosen = []
    for dim, value in wanted.items():
        if value is None:
            choice, others = _choose(rows, dim)
            rows = rows[rows[dim] == choice]
            chosen.append(f"{dim.replace('_', ' ')} {choice}"
                          + (f" (also measured: {', '.join(others)})" if others else ""))
    return rows, chosen


def chosen_line(chosen: tuple[str, ...]) -> str:
    """The one line saying what was chosen for the dimensions left open ("" for none)."""
    return f"not given, so chosen: {'; '.join(chosen)}" if chosen else ""


def _choose(rows: pd.DataFrame, dim: str) -> tuple[str, list[str]]:
    """An open dimension's value: the preferred one measured, else the most common;
    and the other values measured."""
    counts = rows[dim].value_counts()
    measured = sorted(counts.index, key=lambda v: _order(dim, v))
    preferred = [v for v in _DIMS[dim][2] if v in measured]
    choice = preferred[0] if preferred else max(measured, key=lambda v: (counts[v], v))
    return choice, [v for v in measured if v != choice]


def _check_inputs(size_bytes: int, procs: int, pattern: str, wanted: dict) -> patterns.Pattern:
    kind = patterns.get(pattern)
    for dim, value in wanted.items():
        if value is not None:
            check_choice(dim.replace("_", " "), value, _DIMS[dim][1])
    for what, value in (("size", size_bytes), ("procs", procs)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"invalid {what} {value!r}: must be a whole number >= 1")
    return kind


def _candidate_rows(frame: pd.DataFrame, kind: patterns.Pattern,
                    wanted: dict) -> tuple[pd.DataFrame, list[str]]:
    """Ok channel rows of the pattern with a figure, narrowed to one placement, payload
    kind and start method (_narrow), and what was chosen for the open ones."""
    column = kind.metric
    if column not in frame:
        raise ResultsError(f"the run has no {column} column, needed to rank {kind.name} rows")
    usable = frame[(frame["status"] == "ok") & (frame["mechanism"] != BASELINE_MECHANISM)]
    if "rate_per_s" in usable:  # full-speed figures only (advise --rate reads the others)
        usable = usable[usable["rate_per_s"] == 0]
    if "depth" in usable:  # each channel at its own depth (a --depth sweep is charted)
        usable = usable[usable["depth"] == 0]
    rows = usable[(usable["pattern"] == kind.name)
                  & pd.to_numeric(usable[column], errors="coerce").notna()].copy()
    if rows.empty:
        have = ", ".join(sorted(set(usable["pattern"]))) or "none"
        raise ResultsError(f"the run has no ok {kind.name} rows to advise from "
                           f"(patterns with ok rows: {have})")
    for dim, (missing, _, _) in _DIMS.items():
        rows[dim] = rows[dim].fillna(missing).astype(str) if dim in rows else missing
    return _narrow(rows, kind.name, wanted)


def _apart_mask(rows: pd.DataFrame, kind: patterns.Pattern, traits: ChannelTraits) -> pd.Series:
    """Rows whose procs mean something else than the pattern's (never ranked)."""
    return pd.Series([traits.unlike(str(m), kind.name, int(n))
                      for m, n in zip(rows["mechanism"], rows["procs"], strict=True)],
                     index=rows.index, dtype=bool)


def _nearest_cells(rows: pd.DataFrame, kind: patterns.Pattern, size_bytes: int, procs: int,
                   caveats: list[str]) -> tuple[tuple[Cell, ...], bool]:
    """The measured cells nearest the workload (best first) and whether the first is it."""
    def distance(cell: tuple[int, int]) -> tuple[float, int, int, int]:
        size_gap = abs(math.log2(cell[0] / size_bytes)) if kind.sized else 0.0
        return (size_gap, abs(cell[1] - procs), cell[0], cell[1])

    measured = set(zip(rows["size_bytes"].astype(int), rows["procs"].astype(int), strict=True))
    ordered = sorted(measured, key=distance)
    first = rows.iloc[0]
    cells = tuple(Cell(s, n, first["placement"], first["payload"], first["start_method"])
                  for s, n in ordered[:TOP_N])
    exact = distance(ordered[0])[:2] == (0.0, 0)
    if not exact:
        near = "; ".join(f"{format_size(c.size_bytes)} x {c.procs}" for c in cells)
        caveats.insert(0, f"{format_size(size_bytes)} x {procs} procs was not measured; advice "
                          f"based on the nearest cell {cells[0].describe()} (nearest: {near})")
    return cells, exact


def _ranked(rows: pd.DataFrame, kind: patterns.Pattern, cell: Cell,
            traits: ChannelTraits) -> tuple[Candidate, ...]:
    cell_rows = rows[(rows["size_bytes"] == cell.size_bytes) & (rows["procs"] == cell.procs)]
    cell_rows = cell_rows.drop_duplicates(["mechanism", "variant"], keep="last")
    ranked = cell_rows.sort_values(kind.metric, ascending=not kind.higher_is_better,
                                   kind="stable")
    return tuple(
        Candidate(str(r["mechanism"]), str(r["variant"]), _num(r, kind.metric),
                  _num(r, "efficiency"), str(r.get("noisy", "")).lower() == "true",
                  *_interval_ns(r), _num(r, "ratio_ci_low"), _num(r, "ratio_ci_high"),
                  _num(r, "cpu_s_per_msg"),
                  traits.busy_polls(str(r["mechanism"]), str(r["variant"])))
        for _, r in ranked.iterrows())


def _apart_caveat(apart: tuple[Candidate, ...], kind: patterns.Pattern, procs: int,
                  traits: ChannelTraits) -> list[str]:
    """One line per declared meaning: the channels kept out of the ranking, with figures."""
    by_meaning: dict[str, list[str]] = {}
    for c in apart:
        by_meaning.setdefault(traits.procs_meaning(c.mechanism, kind.name), []).append(
            f"{c.name} {kind.format(c.figure)}")
    return [f"not ranked, their {procs} procs are {meaning}, not {kind.procs_label}: "
            f"{', '.join(names)}" for meaning, names in by_meaning.items()]


def _busy_caveat(candidates: tuple[Candidate, ...], kind: patterns.Pattern) -> list[str]:
    best = candidates[0]
    if not best.busy_polls:
        return []
    sleeper = next((c for c in candidates if not c.busy_polls), None)
    return [f"{best.name} {busy_poll_note(best.cpu_s_per_msg)}"
            + (f"; the fastest without: {sleeper.name} at {kind.format(sleeper.figure)}"
               if sleeper is not None else "")]


def _margin(candidates: tuple[Candidate, ...], kind: patterns.Pattern,
            caveats: list[str]) -> tuple[float, bool]:
    """How many times better the best is than the runner-up, and whether within noise."""
    best = candidates[0]
    if len(candidates) < 2:
        caveats.append(f"only {best.name} was measured in this cell: nothing to compare")
        return math.nan, False
    runner_up = candidates[1]
    a, b = best.figure, runner_up.figure
    margin = a / b if kind.higher_is_better else b / a
    tied = [c.name for c in candidates[1:] if _overlap(best, c)]
    paired = all(math.isfinite(v) for c in candidates[:2] for v in (c.ratio_low, c.ratio_high))
    if tied:
        which = "paired CIs" if paired else "intervals"
        caveats.append(f"{best.name} is within noise of {', '.join(tied)} "
                       f"(their {which} overlap): treat them as a tie")
    elif _overlap(best, runner_up) is None:
        caveats.append("no spread recorded for the top two: the margin may be noise")
    return margin, runner_up.name in tied


def advise(frame: pd.DataFrame, size_bytes: int, procs: int, pattern: str,
           placement: str | None = None, payload: str | None = None,
           start_method: str | None = None, traits: ChannelTraits = PLAIN) -> Advice:
    """Recommend the fastest mechanism/variant for a workload from one run's rows.
    `traits`: what the mechanisms declare (ipcbench.mechanisms.channel_traits(); the
    analysis floor cannot read the registry); PLAIN treats every channel alike."""
    wanted = {"placement": placement, "payload": payload, "start_method": start_method}
    kind = _check_inputs(size_bytes, procs, pattern, wanted)
    caveats: list[str] = []
    rows, chosen = _candidate_rows(frame, kind, wanted)
    apart_rows = _apart_mask(rows, kind, traits)
    if apart_rows.all():
        raise ResultsError(f"the run's {kind.name} rows there are all of channels whose "
                           f"procs mean something else than {kind.procs_label}")
    cells, exact = _nearest_cells(rows[~apart_rows], kind, size_bytes, procs, caveats)
    candidates = _ranked(rows[~apart_rows], kind, cells[0], traits)
    apart = _ranked(rows[apart_rows], kind, cells[0], traits)
    margin, within_noise = _margin(candidates, kind, caveats)
    flagged = [c.name for c in candidates[:2] if c.noisy]
    if flagged:
        caveats.append(f"{', '.join(flagged)} flagged noisy (may not reproduce within 10%)")
    caveats += _busy_caveat(candidates, kind)
    caveats += _apart_caveat(apart, kind, cells[0].procs, traits)
    runner_up = candidates[1] if len(candidates) > 1 else None
    return Advice(kind.name, kind.unit, cells[0], exact, candidates[0], runner_up, margin,
                  within_noise, tuple(caveats), cells, candidates[:TOP_N], tuple(chosen),
                  apart)


def advise_run(path: str | os.PathLike[str], size_bytes: int, procs: int, pattern: str,
               placement: str | None = None, payload: str | None = None,
               start_method: str | None = None, traits: ChannelTraits = PLAIN) -> Advice:
    """advise() on a run folder or results.csv."""
    frame = read_results(path)  # validated: no NaN, zero or negative figures
    return advise(frame, size_bytes, procs, pattern, placement, payload, start_method, traits)

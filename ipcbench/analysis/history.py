"""History over runs: per machine and case, the figure run after run with its CI, and the
steps in it (steps.py) found from the session-level values.

Runs in, records out (pure apart from reading the files). Runs are put in time order
(their first row's timestamp, then machine.json's, then the folder name) and kept apart
by machine: a step between two machines is a different machine, not a regression.

What the steps are found on: each run's sessions (sessions.csv, one value per session,
the same p50 the row's median is taken over). Where every run of a case has each
session's probe (a raw os.pipe round trip around the session, harness/baselines.py),
the values are session / probe: a host that drifts slows the probe as much as the
channel, so the ratio keeps what changed in the channel ("probe" basis, as compare).
Otherwise the absolute values ("absolute"); a run without sessions.csv gives its row's
median as its one value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ipcbench.analysis.runs import Run, load_run
from ipcbench.analysis.steps import MIN_EFFECT, Step, StepFit, detect_steps
from ipcbench.core.results import ResultsError
from ipcbench.core.schema import CASE_KEYS

SESSIONS_FILE = "sessions.csv"
BASES = ("probe", "absolute")


def find_runs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Each path a run folder, a results.csv, or a folder holding runs at any depth
    (results/<machine_id>/<time>/ is the default layout). ResultsError names a path
    that holds none."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_file() or (path / "results.csv").is_file():
            found.append(path)
            continue
        inside = sorted(p.parent for p in path.rglob("results.csv")) if path.is_dir() else []
        if not inside:
            raise ResultsError(f"{str(path)!r} is not a run folder and holds none "
                               "(no results.csv in it)")
        found += inside
    return found


def run_time(run: Run) -> str:
    """When the run was measured (UTC, ISO): its first row's time, else machine.json's."""
    stamps = run.frame.get("timestamp_utc")
    stamps = stamps.dropna().astype(str) if stamps is not None else pd.Series(dtype=str)
    stamps = stamps[stamps != ""]
    return str(stamps.min()) if len(stamps) else str(run.machine.get("collected_utc") or "")


def read_session_values(folder: Path) -> dict[tuple, list[tuple[float, float]]]:
    """Case key -> [(session value ns, probe ns or 0)] from a run's sessions.csv; {} when
    there is none or it lacks the case keys (a log too old to key sessions by case).
    A torn last line (a kill mid-write) parses short and is dropped."""
    path = folder / SESSIONS_FILE
    if not path.is_file():
        return {}
    try:
        frame = pd.read_csv(path, on_bad_lines="skip", keep_default_na=False,
                            dtype={k: str for k in ("mechanism", "variant", "pattern",
                                                    "start_method", "placement", "payload")})
    except (OSError, ValueError, pd.errors.ParserError):
        return {}
    if not set(CASE_KEYS) | {"p50_ns"} <= set(frame.columns):
        return {}
    value = pd.to_numeric(frame["p50_ns"], errors="coerce")
    probe = (pd.to_numeric(frame["probe_ns"], errors="coerce") if "probe_ns" in frame
             else pd.Series(0.0, index=frame.index))
    found: dict[tuple, list[tuple[float, float]]] = {}
    for record, v, p in zip(frame[list(CASE_KEYS)].itertuples(index=False), value, probe,
                            strict=True):
        if math.isfinite(v) and v > 0:
            key = tuple(_key_value(k, x) for k, x in zip(CASE_KEYS, record, strict=True))
            found.setdefault(key, []).append((float(v), float(p) if p == p else 0.0))
    return found


def _key_value(column: str, value):
    return int(value) if column in ("size_bytes", "procs", "rate_per_s") else str(value)


@dataclass(frozen=True)
class HistoryRun:
    run: Run
    time_utc: str
    sessions: dict  # case key -> [(value ns, probe ns)]

    @property
    def name(self) -> str:
        return self.run.name


@dataclass(frozen=True)
class CaseHistory:
    """One case on one machine, run after run (the machine's runs, in time order; NaN
    figures where a run has no ok row of the case)."""

    machine_id: str
    key: tuple  # the values of CASE_KEYS
    runs: tuple[str, ...]
    times_utc: tuple[str, ...]
    median_ns: tuple[float, ...]
    ci_low_ns: tuple[float, ...]
    ci_high_ns: tuple[float, ...]
    statuses: tuple[str, ...]  # "ok", "failed", ..., "" where the run lacks the case
    basis: str  # what the steps were found on: "probe" or "absolute"
    fit: StepFit

    @property
    def case(self) -> dict:
        return dict(zip(CASE_KEYS, self.key, strict=True))

    @property
    def label(self) -> str:
        c = self.case
        return (f"{c['mechanism']}/{c['variant']} {c['pattern']} {_size(c['size_bytes'])} "
                f"x{c['procs']} {c['placement']}"
                + ("" if c["payload"] == "bytes" else f" {c['payload']}")
                + ("" if c["start_method"] == "fork" else f" {c['start_method']}")
                + (f" at {c['rate_per_s']}/s" if c["rate_per_s"] else ""))


def _size(size_bytes: int) -> str:
    from ipcbench.core.sizes import format_size

    return format_size(int(size_bytes))


@dataclass(frozen=True)
class History:
    machines: dict  # machine id -> tuple of its run names, in time order
    cases: tuple[CaseHistory, ...]
    min_effect: float

    def steps(self) -> list[tuple[CaseHistory, Step]]:
        return [(case, step) for case in self.cases for step in case.fit.steps]


def load_history(paths: Sequence[str | os.PathLike[str]]) -> list[HistoryRun]:
    runs = [load_run(p) for p in find_runs(paths)]
    folders = [r.folder.resolve() for r in runs]
    if len(set(folders)) != len(folders):
        raise ResultsError("a run was given twice (directly and inside a folder?)")
    return [HistoryRun(r, run_time(r), read_session_values(r.folder)) for r in runs]


def history(runs: Sequence[HistoryRun], *, min_effect: float = MIN_EFFECT,
            baselines: bool = False) -> History:
    """Every case's history per machine. Channel rows at full speed and open-loop rows;
    the in-run baseline rows too when `baselines` (they measure the machine)."""
    if len(runs) < 2:
        raise ResultsError("history needs at least two runs")
    by_machine: dict[str, list[HistoryRun]] = {}
    for item in sorted(runs, key=lambda h: (h.time_utc, str(h.run.folder))):
        by_machine.setdefault(item.run.machine_id, []).append(item)
    cases = []
    for machine_id, items in sorted(by_machine.items()):
        cases += _machine_cases(machine_id, items, min_effect, baselines)
    return History({m: tuple(i.name for i in items) for m, items in sorted(by_machine.items())},
                   tuple(cases), min_effect)


def _rows(item: HistoryRun, baselines: bool) -> pd.DataFrame:
    run = item.run
    frame = run.frame if baselines else run.frame[run.frame["mechanism"] != "baseline"]
    return frame.drop_duplicates(subset=list(CASE_KEYS), keep="last")


def _machine_cases(machine_id: str, items: list[HistoryRun], min_effect: float,
                   baselines: bool) -> list[CaseHistory]:
    tables = [{tuple(_key_value(k, r[k]) for k in CASE_KEYS): r
               for r in _rows(item, baselines).to_dict("records")} for item in items]
    keys = sorted(set().union(*tables), key=lambda k: tuple(str(v) for v in k))
    out = []
    for key in keys:
        rows = [table.get(key) for table in tables]
        if not any(r is not None and r.get("status") == "ok" for r in rows):
            continue  # never measured on this machine: nothing to follow
        figures = [_figures(r) for r in rows]
        sessions = [item.sessions.get(key, []) if r is not None and r.get("status") == "ok"
                    else [] for item, r in zip(items, rows, strict=True)]
        basis = "probe" if all(s and all(p > 0 for _, p in s) for s, f in
                               zip(sessions, figures, strict=True) if f[0] == f[0]) else "absolute"
        values = [_values(s, f[0], basis) for s, f in zip(sessions, figures, strict=True)]
        out.append(CaseHistory(
            machine_id, key, tuple(i.name for i in items), tuple(i.time_utc for i in items),
            *(tuple(f[n] for f in figures) for n in range(3)),
            tuple("" if r is None else str(r.get("status")) for r in rows), basis,
            detect_steps(values, min_effect=min_effect)))
    return out


def _figures(row: dict | None) -> tuple[float, float, float]:
    """(median, CI low, CI high) in ns of an ok row; NaN otherwise."""
    if row is None or row.get("status") != "ok":
        return (math.nan,) * 3
    return tuple(_number(row.get(c)) for c in ("median_ns", "ci_low_ns", "ci_high_ns"))


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) and number > 0 else math.nan


def _values(sessions: list[tuple[float, float]], median_ns: float, basis: str) -> list[float]:
    if basis == "probe":
        return [v / p for v, p in sessions]
    if sessions:
        return [v for v, _ in sessions]
    return [median_ns] if median_ns == median_ns else []

"""sessions.csv: every finished session of a run, appended as it ends.

A case's row is written only when its last session ends, and sessions of all cases are
interleaved over the whole run; without this log a run killed late would lose nearly
everything it measured. `--resume` reads it back and measures only the missing sessions,
so the resumed row is built from exactly the sessions the first run finished plus new ones.
"""

from __future__ import annotations

import csv
from dataclasses import fields
from pathlib import Path

from ipcbench.core.payload_kinds import RENAMED_PAYLOADS
from ipcbench.core.results import SCHEMA_VERSION, CsvAppender
from ipcbench.core.schema import CASE_KEYS, Case
from ipcbench.core.session_stats import SessionResult
from ipcbench.system.disturbance import Disturbance

FILENAME = "sessions.csv"
# The raw latencies are not logged here (--samples writes them to files of their own).
_RESULT_FIELDS = tuple(f.name for f in fields(SessionResult)
                       if f.name not in ("disturbance", "latencies_ns"))
_DISTURBANCE_FIELDS = tuple(f.name for f in fields(Disturbance))
COLUMNS = ("schema_version", *CASE_KEYS, *_RESULT_FIELDS, *_DISTURBANCE_FIELDS)
_INT_FIELDS = {"size_bytes", "procs", "rate_per_s", "depth", "burst", "index", "samples", "repeats",
               "messages", "ctx_switches", "schema_version", "lat_samples"}
_TEXT_FIELDS = set(CASE_KEYS) - _INT_FIELDS


class SessionLog:
    def __init__(self, run_dir: Path) -> None:
        self._appender = CsvAppender(Path(run_dir) / FILENAME, COLUMNS)

    def append(self, case: Case, result: SessionResult) -> None:
        values = {name: getattr(result, name) for name in _RESULT_FIELDS}
        values.update({name: getattr(result.disturbance, name) for name in _DISTURBANCE_FIELDS})
        values.update({name: getattr(case, name) for name in CASE_KEYS})
        values["schema_version"] = SCHEMA_VERSION
        self._appender.append_values(values)


def _parse(name: str, text: str) -> object:
    if name in _TEXT_FIELDS:
        return text
    if name in _INT_FIELDS:
        return int(text)
    return float(text) if text != "" else float("nan")


def values_in_run_order(run_dir: Path) -> tuple[list[tuple], list[float]]:
    """(case keys, session values in ns) of every logged session, in the order they
    were measured (the log is appended as sessions end): what core/drift.py reads."""
    keys, values = [], []
    for case, result in _logged(run_dir):
        keys.append(case.key)
        values.append(result.value_ns)
    return keys, values


def read_sessions(run_dir: Path) -> dict[Case, list[SessionResult]]:
    """The logged sessions of a run folder, per case, in session order ({} when there is
    no log). A torn last line (a kill mid-write) is skipped: that session is re-measured."""
    found: dict[Case, list[SessionResult]] = {}
    for case, result in _logged(run_dir):
        found.setdefault(case, []).append(result)
    return {case: sorted(items, key=lambda s: s.index) for case, items in found.items()}


def _logged(run_dir: Path):
    """(case, session) of every whole line of the log, in file order."""
    path = Path(run_dir) / FILENAME
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        if next(reader, None) != list(COLUMNS):
            return  # another ipcbench version's log: measure those sessions again
        for record in reader:
            if len(record) != len(COLUMNS):
                continue
            try:
                values = {n: _parse(n, t) for n, t in zip(COLUMNS, record, strict=True)}
            except ValueError:
                continue
            values["payload"] = RENAMED_PAYLOADS.get(values["payload"], values["payload"])
            case = Case(**{name: values[name] for name in CASE_KEYS})
            yield case, SessionResult(
                **{name: values[name] for name in _RESULT_FIELDS},
                disturbance=Disturbance(**{name: values[name] for name in _DISTURBANCE_FIELDS}),
            )

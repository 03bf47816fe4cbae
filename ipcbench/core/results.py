"""Result rows and their CSV form: crash-safe appends, validated reads.

A file records its `schema_version`; older versions are upgraded on read one step at a
time (migrations.py, which also lists what each version changed), newer ones refused.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where files are read, never while measuring: a
    import pandas as pd  # harness holding it paid ~3 ms per fork (test_lean_harness.py)

from ipcbench.core.migrations import upgrade
from ipcbench.core.patterns import PATTERNS
from ipcbench.core.payload_kinds import RENAMED_PAYLOADS
from ipcbench.core.schema import (
    BASELINE_MECHANISM,
    CASE_KEYS,
    DEFAULT_PAYLOAD,
    DEFAULT_PLACEMENT,
    STATUSES,
    Case,
)
from ipcbench.system.safefile import open_fd, refuse_link, safe_dir

# Bump on any change to COLUMNS or their meaning, with a step in migrations.py.
SCHEMA_VERSION = 10


class ResultsError(ValueError):
    """A results file that cannot be used; the message is one line meant for the user."""


@dataclass(frozen=True, kw_only=True)  # keyword-only: 40 positional fields would be a trap
class ResultRow:
    """One finished case. Validated at construction so a bad row never reaches a file.

    The `_ns` figures are per message (pingpong: per round trip, counter: per increment),
    built from session-level values (session_stats.case_figures): median_ns = p50_ns is
    the median over sessions of each session's median message; floor_ns the fastest
    session's. For pingpong a session's samples are its round trips; for the other
    patterns each sample is one repeat's mean time per message, so their percentiles
    describe repeat-to-repeat spread.
    """

    schema_version: int
    run_id: str
    timestamp_utc: str
    machine_id: str
    mechanism: str
    variant: str
    pattern: str
    size_bytes: int
    procs: int
    start_method: str
    placement: str = DEFAULT_PLACEMENT
    payload: str = DEFAULT_PAYLOAD
    rate_per_s: int = 0
    depth: int = 0
    burst: int = 1
    status: str
    reason: str = ""
    repeats: int = 0
    warmup: int = 0
    messages: int = 0
    duration_ns: float = math.nan
    median_ns: float = math.nan
    mean_ns: float = math.nan
    stdev_ns: float = math.nan
    min_ns: float = math.nan
    p50_ns: float = math.nan
    p90_ns: float = math.nan
    p99_ns: float = math.nan
    p999_ns: float = math.nan
    max_ns: float = math.nan
    cv: float = math.nan
    bytes_per_s: float = math.nan
    msgs_per_s: float = math.nan
    verified: bool = False
    # The 95% CI of median_ns over sessions.
    ci_low_ns: float = math.nan
    ci_high_ns: float = math.nan
    # The fastest session's value, and half the interquartile range of the sessions'
    # values over their median (a fraction; NaN with one session): core/session_stats.py.
    floor_ns: float = math.nan
    middle_spread: float = math.nan
    noisy: bool = False
    cpu_s_per_msg: float = math.nan
    ctx_switches_per_msg: float = math.nan
    # Throughput cases: bytes_per_s / memcpy bandwidth; latency cases: the raw os.pipe
    # round trip / this round trip; counter: increments/s / uncontended lock increments/s.
    efficiency: float = math.nan
    order_seed: int = -1
    sessions: int = 0
    noise: str = ""
    foreign_cpu_frac: float = math.nan
    steal_frac: float = math.nan
    # The peers' run delay (waiting for a CPU while runnable) per timed ns, median over
    # sessions; sessions with far more than usual were measured again (`remeasured`).
    run_delay_frac: float = math.nan
    remeasured: int = 0
    # The sessions' middle spread and the CI of the paired ratio within the run's precision.
    target_met: bool = False
    # Time per message over its block's reference (the geometric mean of the workload's
    # channels in the same block), median over blocks, and its 95% CI (core/paired.py).
    ratio: float = math.nan
    ratio_ci_low: float = math.nan
    ratio_ci_high: float = math.nan
    # Time per message over the session's probe (a raw os.pipe round trip measured just
    # before and after each session), median over sessions, and its 95% CI: the figure compare reads
    # across runs, since a drift of the host moves the probe too.
    probe_ratio: float = math.nan
    probe_ratio_ci_low: float = math.nan
    probe_ratio_ci_high: float = math.nan
    # The run's reference probe under this placement when the row was written (the 2nd
    # percentile of its probes so far, session_stats.reference_probe_ns), in ns: every
    # time of the row is at that state of the host, each session scaled by it over its
    # own probe (session_stats.standardized). 0 = the times are as measured (no probe:
    # the pytest front end, a session without one).
    probe_ref_ns: float = 0.0
    # Per sender: messages per second reached (open loop: against rate_per_s).
    achieved_per_s: float = math.nan
    saturated: bool = False
    # One-way latency of every message (stream, fanout): percentiles are medians over
    # sessions of each session's percentile, max the largest seen.
    lat_samples: int = 0
    lat_p50_ns: float = math.nan
    lat_p90_ns: float = math.nan
    lat_p99_ns: float = math.nan
    lat_p999_ns: float = math.nan
    lat_max_ns: float = math.nan
    samples_file: str = ""
    python: str = ""
    ipcbench_version: str = ""
    # What the run's Python was and what the peers were: the GIL in force (False on a
    # free-threaded build run without it), whether the build is free-threaded, and the
    # peers as processes, threads (of one process) or interpreters (of one process).
    gil_enabled: bool = True
    free_threaded: bool = False
    peer_kind: str = "processes"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"invalid status {self.status!r} (one of {', '.join(STATUSES)})")
        if self.status == "ok":
            if not self.verified:
                raise ValueError("an ok row must have a verified payload")
            if math.isnan(self.median_ns) or self.messages <= 0:
                raise ValueError("an ok row needs timed messages and a median")
        elif not self.reason:
            raise ValueError(f"a {self.status} row needs a reason")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def case(self) -> Case:
        return Case(**{name: getattr(self, name) for name in CASE_KEYS})


# The case key is declared once (schema.Case); the row must carry it, in that order.
assert [f.name for f in fields(ResultRow) if f.name in CASE_KEYS] == list(CASE_KEYS)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ResultRow))
_INT_COLUMNS = (
    "schema_version",
    "size_bytes",
    "procs",
    "repeats",
    "warmup",
    "messages",
    "order_seed",
    "sessions",
    "rate_per_s",
    "depth",
    "burst",
    "lat_samples",
    "remeasured",
)
_BOOL_COLUMNS = ("verified", "noisy", "saturated", "target_met", "gil_enabled",
                 "free_threaded")
# Read as text, never guessed: "3.10" is not the float 3.1, and a hex run id such as
# "123e45678901" is not a number.
_TEXT_COLUMNS = tuple(f.name for f in fields(ResultRow) if f.type == "str")


def _format(value: object) -> object:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def row_to_csv_line(row: ResultRow) -> str:
    return values_to_csv_line(asdict(row).values())


def values_to_csv_line(values: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_format(v) for v in values])
    return buffer.getvalue()


class CsvAppender:
    """Appends rows to results.csv so that a crash at any moment leaves only whole rows.

    Each row is one os.write of one complete line on an O_APPEND descriptor, then
    fsync: earlier rows are never rewritten, and a killed run loses at most the row
    being written (and never half of it, for lines below the pipe/page size)."""

    def __init__(self, path: Path, columns: tuple[str, ...] = COLUMNS) -> None:
        self.path = refuse_link(Path(path))  # never write through a planted link
        self.columns = columns
        safe_dir(self.path.parent)
        if self.path.exists() and self.path.stat().st_size > 0:
            if check_header(self.path) != list(columns):
                # Mixed headers would make the file unreadable: never append across schemas.
                raise ResultsError(
                    f"{self.path} was written with other columns (an older or newer "
                    f"ipcbench, schema != {SCHEMA_VERSION}); write to a new run folder"
                )
            _repair_torn_tail(self.path)
        else:
            self._write(",".join(columns) + "\n")

    def append(self, row: ResultRow) -> None:
        self._write(row_to_csv_line(row))

    def append_values(self, values: dict[str, object]) -> None:
        """One record of another table (sessions.csv), in this file's column order."""
        self._write(values_to_csv_line(values[name] for name in self.columns))

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        fd = open_fd(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            size = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)
            except OSError:
                _cut_back(fd, size)  # a full disk: never leave half a line behind
                raise
            if written != len(data):
                _cut_back(fd, size)
                raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)


def _cut_back(fd: int, size: int) -> None:
    """Truncate to `size` (the file as it was before a failed write); best effort: a
    line it cannot remove is dropped by _repair_torn_tail on the next append."""
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass


def _repair_torn_tail(path: Path) -> None:
    """Drop a final line with no newline (a write cut short by a crash)."""
    fd = open_fd(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0)
        if data and not data.endswith(b"\n"):
            os.ftruncate(fd, data.rfind(b"\n") + 1)
            os.fsync(fd)
    finally:
        os.close(fd)


def check_header(path: Path) -> list[str]:
    # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column's name.
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except UnicodeDecodeError:
        raise ResultsError(f"{path} is not UTF-8 text (not an ipcbench results CSV, or "
                           "damaged)") from None
    if "schema_version" not in header or "mechanism" not in header:
        raise ResultsError(f"{path} is not an ipcbench results CSV (no schema_version column)")
    return header


def results_path(path: str | os.PathLike[str]) -> Path:
    """The results.csv a reader is pointed at: the path itself, or the one in a run folder.

    A directory where the file should be is named as such (not as a missing
    ".../results.csv/results.csv")."""
    path = Path(path)
    if not path.is_dir():
        return path
    inner = path / "results.csv"
    if inner.is_dir():
        raise ResultsError(f"{inner} is a directory, not a results file")
    if not inner.exists() and path.name == "results.csv":
        raise ResultsError(f"{path} is a directory, not a results file "
                           "(pass a run folder or its results.csv)")
    return inner


def _read_text(path: Path) -> str:
    """The whole file as text (results files are small), or one line naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc.strerror}") from None
    try:
        # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column's name.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ResultsError(f"{path} is not UTF-8 text (byte {data[exc.start]:#04x} on line "
                           f"{line})") from None


def _whole_rows(text: str, path: Path) -> tuple[str, list[int]]:
    """`text` without a torn last row, and the file line on which each data row starts.

    A run killed mid-write leaves its last row cut short (no newline, or fewer fields):
    that row is dropped with a one-line warning, as --resume drops it before measuring
    the case again. A short or long row anywhere else is damage, refused naming it."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines)
    header = next(reader, [])
    rows: list[tuple[int, int]] = []  # (index of the row's first line, number of fields)
    consumed = reader.line_num
    for record in reader:
        first, consumed = consumed, reader.line_num
        if record:  # a blank line is no row (pandas skips it too)
            rows.append((first, len(record)))
    if rows:
        first, width = rows[-1]
        if width != len(header) or not text.endswith(("\n", "\r")):
            print(f"ipcbench: warning: {path} row {len(rows)} (line {first + 1}) is cut short "
                  "(a run killed mid-write?); read without it", file=sys.stderr)
            rows.pop()
            text = "".join(lines[:first])
    for number, (first, width) in enumerate(rows, start=1):
        if width != len(header):
            raise ResultsError(f"{path} row {number} (line {first + 1}) has {width} fields, "
                               f"the header {len(header)}")
    return text, [first + 1 for first, _ in rows]


def read_results(path: str | os.PathLike[str], allow_empty: bool = False) -> pd.DataFrame:
    """Load results.csv (or a run folder holding one), upgrading older schema versions.

    The one place every reader (plot, report, compare, advise, --resume, the notebook)
    validates what it reads: ResultsError with a one-line message naming the file for a
    missing, foreign, non-UTF-8, newer-schema or (unless `allow_empty`: a resumed run
    killed before its first row) empty file, a damaged row, an ok row with an unusable
    figure and a case measured twice; a torn last row is dropped with a warning."""
    import pandas as pd

    path = results_path(path)
    if not path.is_file():
        raise ResultsError(f"no results file at {path}")
    header = check_header(path)
    # Columns every version has (placement, payload, rate, depth came later; migrations
    # add them).
    required = (
        "schema_version",
        *(k for k in CASE_KEYS
          if k not in ("placement", "payload", "rate_per_s", "depth", "burst")),
        "status",
    )
    missing = [c for c in required if c not in header]
    if missing:
        raise ResultsError(f"{path} is not an ipcbench results CSV (missing {', '.join(missing)})")
    text, row_lines = _whole_rows(_read_text(path), path)
    try:
        text_dtypes = {c: str for c in _TEXT_COLUMNS if c in header}
        frame = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""],
                            dtype=text_dtypes)
    except pd.errors.ParserError as exc:
        raise ResultsError(f"{path} is malformed: {str(exc).splitlines()[0]}") from None
    if frame.empty:
        if allow_empty:
            return frame
        raise ResultsError(f"{path} holds no result rows")
    versions = pd.to_numeric(frame["schema_version"], errors="coerce")
    if versions.isna().any():
        raise ResultsError(f"{path} has a non-numeric schema_version")
    newest = int(versions.max())
    if newest > SCHEMA_VERSION:
        raise ResultsError(
            f"{path} has schema_version {newest}, newer than this ipcbench reads "
            f"({SCHEMA_VERSION}); upgrade ipcbench"
        )
    # One file has one header, hence one version (CsvAppender never mixes them).
    frame = upgrade(frame, int(versions.min()))
    frame["schema_version"] = SCHEMA_VERSION
    # Old kinds whose meaning changed keep their rows, under a name of their own.
    frame["payload"] = frame["payload"].replace(RENAMED_PAYLOADS)
    for column in ("reason", "noise", "samples_file"):
        frame[column] = frame[column].fillna("")
    for column in _BOOL_COLUMNS:
        if column in frame:
            frame[column] = frame[column].astype(str).str.lower() == "true"
    for column in _INT_COLUMNS:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype(int)
    # pandas and the csv pass above agree on what a row is (both skip blank lines).
    lines = row_lines if len(row_lines) == len(frame) else None
    check_figures(frame, path, lines)
    _refuse_repeated_cases(frame, path, lines)
    return frame


# What every reader of ok rows (charts, report, advise) draws or ranks: present, and in
# ok rows a finite positive number, or the file is refused in one line.
FIGURE_COLUMNS = ("median_ns", "p50_ns", "msgs_per_s")
# bytes_per_s is empty where the pattern moves no payload (counter), required elsewhere.
_BYTES_COLUMN = "bytes_per_s"


def _where(path: Path, frame: pd.DataFrame, lines: list[int] | None, position: int) -> str:
    """'<file> row 3 (line 4)': the data row a message is about, counted from 1."""
    line = f" (line {lines[position]})" if lines is not None else ""
    return f"{path} row {position + 1}{line}"


def check_figures(frame: pd.DataFrame, path: str | os.PathLike[str],
                  lines: list[int] | None = None) -> pd.DataFrame:
    """`frame` if its ok rows carry usable figures, else a one-line ResultsError naming
    the row, column and value (a NaN, zero or negative figure would crash a chart, turn
    into a negative round trip in advice, or rank a channel by a figure it never had).
    `lines`: the file line of each row, for the message. read_results calls it."""
    import pandas as pd

    missing = [c for c in (*FIGURE_COLUMNS, _BYTES_COLUMN) if c not in frame]
    if missing:
        raise ResultsError(f"{path} is not an ipcbench results CSV (missing {', '.join(missing)})")
    ok = (frame["status"] == "ok").to_numpy()
    no_payload = {name for name, p in PATTERNS.items() if not p.moves_payload}
    may_be_empty = frame["pattern"].isin(no_payload).to_numpy()
    for column in (*FIGURE_COLUMNS, _BYTES_COLUMN):
        values = pd.to_numeric(frame[column], errors="coerce").astype(float).to_numpy()
        usable = (values > 0) & (values < math.inf)
        if column == _BYTES_COLUMN:
            usable |= may_be_empty & pd.isna(values)
        bad = ok & ~usable
        if bad.any():
            position = int(bad.argmax())
            first = frame.iloc[position]
            raise ResultsError(
                f"{_where(Path(path), frame, lines, position)}: ok row {first['mechanism']}/"
                f"{first['variant']} {first['pattern']} has {column} {str(first[column])!r} "
                "(must be a positive number)")
    return frame


def _refuse_repeated_cases(frame: pd.DataFrame, path: Path, lines: list[int] | None) -> None:
    """A measured case written twice is refused, naming it and both rows.

    The harness writes each case once (--resume skips the cases that have a row), so a
    repeat means a file merged by hand or damaged; the readers' unique_cases would keep
    the last row silently and rank on whichever measurement came last. Baseline rows may
    repeat: --resume measures an incomplete or failed baseline set again, and readers
    take the newest (the one the resumed cases were judged against)."""
    keys = list(CASE_KEYS)
    channels = (frame["mechanism"] != BASELINE_MECHANISM).to_numpy()
    repeated = frame.duplicated(subset=keys, keep=False).to_numpy() & channels
    if not repeated.any():
        return
    first = int(repeated.argmax())
    key = frame.iloc[first][keys]
    same = (frame[keys] == key).all(axis=1).to_numpy() & channels
    second = int(same[first + 1:].argmax()) + first + 1
    case = " ".join(f"{k}={key[k]}" for k in keys)
    where = _where(path, frame, lines, second).removeprefix(f"{path} ")
    raise ResultsError(f"{_where(path, frame, lines, first)} and {where} hold the same case "
                       f"({case}); keep one of them")


def rows_from_frame(frame: pd.DataFrame) -> list[ResultRow]:
    """Rebuild validated ResultRow records (the inverse of writing them)."""
    text_columns = {f.name for f in fields(ResultRow) if f.type == "str"}
    records = []
    for record in frame.to_dict("records"):
        kwargs = {name: record[name] for name in COLUMNS if name in record}
        for name in text_columns & kwargs.keys():
            value = kwargs[name]
            kwargs[name] = "" if value is None or value != value else str(value)  # NaN -> ""
        for name in _BOOL_COLUMNS:
            kwargs[name] = str(kwargs.get(name)).lower() == "true"
        records.append(ResultRow(**kwargs))
    return records


def done_case_keys(frame: pd.DataFrame) -> set[tuple[object, ...]]:
    """Case keys already present with a final status (used by --resume)."""
    return {tuple(r) for r in frame[list(CASE_KEYS)].itertuples(index=False, name=None)}


def write_rows(path: Path, rows: Iterable[ResultRow]) -> None:
    appender = CsvAppender(path)
    for row in rows:
        appender.append(row)

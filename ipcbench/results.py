"""Result rows and their CSV form: schema version, crash-safe appends, validated reads.

SCHEMA_VERSION history (bump on any change to COLUMNS or their meaning, and add a
step to _MIGRATIONS so older files still load):
  1 - first release: identity, case keys, status/reason, per-message stats in ns,
      throughput (bytes_per_s, msgs_per_s), verification flag.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

SCHEMA_VERSION = 1
STATUSES = ("ok", "skipped", "failed", "timeout")
CASE_KEYS = ("mechanism", "variant", "pattern", "size_bytes", "procs", "start_method")


class ResultsError(ValueError):
    """A results file that cannot be used; the message is one line meant for the user."""


@dataclass(frozen=True)
class ResultRow:
    """One finished case. Validated at construction so a bad row never reaches a file.

    The `_ns` figures are per message (pingpong: per round trip, counter: per increment).
    For pingpong they summarise every round trip; for stream and counter each sample is
    one repeat's mean time per message, so the percentiles describe repeat-to-repeat spread.
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
    python: str = ""
    ipcbench_version: str = ""

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


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ResultRow))
_INT_COLUMNS = ("schema_version", "size_bytes", "procs", "repeats", "warmup", "messages")
# Read as text, never guessed: "3.10" is not the float 3.1, and a hex run id such as
# "123e45678901" is not a number.
_TEXT_COLUMNS = tuple(f.name for f in fields(ResultRow) if f.type == "str")


def _format(value: object) -> object:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def row_to_csv_line(row: ResultRow) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_format(v) for v in asdict(row).values()])
    return buffer.getvalue()


class CsvAppender:
    """Appends rows to results.csv so that a crash at any moment leaves only whole rows.

    Each row is one os.write of one complete line on an O_APPEND descriptor, then
    fsync: earlier rows are never rewritten, and a killed run loses at most the row
    being written (and never half of it, for lines below the pipe/page size)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size > 0:
            check_header(self.path)
            _repair_torn_tail(self.path)
        else:
            self._write(",".join(COLUMNS) + "\n")

    def append(self, row: ResultRow) -> None:
        self._write(row_to_csv_line(row))

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)


def _repair_torn_tail(path: Path) -> None:
    """Drop a final line with no newline (a write cut short by a crash)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with open(path, "r+b") as handle:
            handle.truncate(keep)


def check_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if "schema_version" not in header or "mechanism" not in header:
        raise ResultsError(f"{path} is not an ipcbench results CSV (no schema_version column)")
    return header


# version -> function upgrading a frame from that version to version + 1.
_MIGRATIONS: dict[int, Callable[[pd.DataFrame], pd.DataFrame]] = {}


def read_results(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Load results.csv (or a run folder holding one), upgrading older schema versions.

    Raises ResultsError with a one-line message for a missing, foreign, empty or
    newer-schema file."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.csv"
    if not path.is_file():
        raise ResultsError(f"no results file at {path}")
    header = check_header(path)
    missing = [c for c in ("schema_version", *CASE_KEYS, "status") if c not in header]
    if missing:
        raise ResultsError(f"{path} is not an ipcbench results CSV (missing {', '.join(missing)})")
    try:
        text = {c: str for c in _TEXT_COLUMNS if c in header}
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=text)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path} is malformed: {str(exc).splitlines()[0]}") from None
    if frame.empty:
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
    frame["schema_version"] = versions.astype(int)
    for version in range(int(versions.min()), SCHEMA_VERSION):
        older = frame["schema_version"] == version
        if older.any():
            upgraded = _MIGRATIONS[version](frame[older].copy())
            upgraded["schema_version"] = version + 1
            frame = pd.concat([frame[~older], upgraded], ignore_index=True)
    frame["reason"] = frame["reason"].fillna("")
    for column in _INT_COLUMNS:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype(int)
    return frame


def rows_from_frame(frame: pd.DataFrame) -> list[ResultRow]:
    """Rebuild validated ResultRow records (the inverse of writing them)."""
    text_columns = {f.name for f in fields(ResultRow) if f.type == "str"}
    records = []
    for record in frame.to_dict("records"):
        kwargs = {name: record[name] for name in COLUMNS if name in record}
        for name in text_columns & kwargs.keys():
            value = kwargs[name]
            kwargs[name] = "" if value is None or value != value else str(value)  # NaN -> ""
        kwargs["verified"] = str(kwargs.get("verified")).lower() == "true"
        records.append(ResultRow(**kwargs))
    return records


def done_case_keys(frame: pd.DataFrame) -> set[tuple[object, ...]]:
    """Case keys already present with a final status (used by --resume)."""
    return {tuple(r) for r in frame[list(CASE_KEYS)].itertuples(index=False, name=None)}


def write_rows(path: Path, rows: Iterable[ResultRow]) -> None:
    appender = CsvAppender(path)
    for row in rows:
        appender.append(row)

"""Loading a run for analysis: results.csv + machine.json -> a Run record, and the
small pure helpers every chart and comparison shares (case identity, series keys).

Analysis reads files only; it never imports the runner or mechanism implementations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ipcbench.results import CASE_KEYS, ResultsError, read_results

# Columns a future schema may add that split one CASE_KEYS cell into several cases
# (e.g. CPU placement). When present they join the identity, so two placements are
# never averaged or matched against each other by mistake.
IDENTITY_EXTRAS = ("placement", "payload")
# Rows of this mechanism are the run's in-run hardware baselines (memcpy, raw os.pipe,
# uncontended lock): drawn as labelled reference lines, never as a channel.
BASELINE_MECHANISM = "baseline"
# What a file without a `payload` column measured (the schema before payload kinds).
DEFAULT_PAYLOAD = "bytes"

# Which figure of a row each pattern is judged by, and whether higher is better.
# fanout (1 producer -> N consumers) is a throughput pattern, judged like stream.
PATTERN_METRIC = {
    "pingpong": ("p50_ns", False),
    "stream": ("bytes_per_s", True),
    "fanout": ("bytes_per_s", True),
    "counter": ("msgs_per_s", True),
}
THROUGHPUT_PATTERNS = ("stream", "fanout")
SIZE_PATTERNS = ("pingpong", *THROUGHPUT_PATTERNS)  # charted against message size
# Dimensions that get their own panel row (or figure) instead of being mixed in a panel.
FACET_COLUMNS = ("pattern", "placement", "payload")


@dataclass(frozen=True)
class Run:
    """One result set as the analysis side sees it."""

    csv_path: Path
    frame: pd.DataFrame
    machine: dict = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.csv_path.parent

    @property
    def name(self) -> str:
        return self.folder.resolve().name or str(self.folder)

    @property
    def ok(self) -> pd.DataFrame:
        """Ok rows of measured channels (the baseline rows are not channels)."""
        return measured(self.frame[self.frame["status"] == "ok"])

    @property
    def baselines(self) -> pd.DataFrame:
        """Ok in-run baseline rows (one set per placement)."""
        frame = self.frame
        return frame[(frame["status"] == "ok") & (frame["mechanism"] == BASELINE_MECHANISM)]

    @property
    def machine_id(self) -> str:
        value = self.machine.get("machine_id") or _first_text(self.frame, "machine_id")
        return str(value or "unknown")

    @property
    def cpu_model(self) -> str:
        return str(self.machine.get("cpu_model") or "unknown CPU")

    @property
    def python_version(self) -> str:
        value = self.machine.get("python_version") or _first_text(self.frame, "python")
        impl = self.machine.get("python_implementation") or ""
        return f"{impl} {value}".strip() if value else "unknown"

    @property
    def label(self) -> str:
        """Who measured this: CPU model, short machine id and run folder."""
        return f"{self.cpu_model} · {self.machine_id[:8]} · {self.name}"


def _first_text(frame: pd.DataFrame, column: str) -> str:
    if column not in frame:
        return ""
    values = frame[column].dropna().astype(str)
    values = values[values != ""]
    return values.iloc[0] if len(values) else ""


def load_machine(folder: Path) -> dict:
    """machine.json as a dict; {} when absent or unreadable (metadata is optional:
    a CSV copied out of its folder must still plot)."""
    path = Path(folder) / "machine.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_run(path: str | os.PathLike[str]) -> Run:
    """Read a run folder or a results.csv (ResultsError with one line if unusable)."""
    path = Path(path)
    csv_path = path / "results.csv" if path.is_dir() else path
    frame = with_payload(read_results(csv_path))
    return Run(csv_path=csv_path, frame=frame, machine=load_machine(csv_path.parent))


def with_payload(frame: pd.DataFrame) -> pd.DataFrame:
    """A file written before payload kinds measured bytes: say so, so runs old and new
    match on the same case identity."""
    if "payload" in frame:
        return frame.assign(payload=frame["payload"].fillna(DEFAULT_PAYLOAD))
    return frame.assign(payload=DEFAULT_PAYLOAD)


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of measured channels only (drops the in-run baseline rows)."""
    return frame[frame["mechanism"] != BASELINE_MECHANISM]


def baseline_value(baselines: pd.DataFrame, variant: str, pattern: str, column: str,
                   placement: str | None = None) -> float | None:
    """One baseline figure (e.g. memcpy bytes_per_s) for a placement, None if absent.
    memcpy has a row per message size: the largest one (64 MiB, beyond the caches) is
    the figure drawn as the memory reference line."""
    rows = baselines[(baselines["variant"] == variant) & (baselines["pattern"] == pattern)]
    if placement is not None and "placement" in rows:
        rows = rows[rows["placement"] == placement]
    if "size_bytes" in rows:
        rows = rows.sort_values("size_bytes", kind="stable")
    values = pd.to_numeric(rows[column], errors="coerce").dropna() if column in rows else []
    return float(values.iloc[-1]) if len(values) and values.iloc[-1] > 0 else None


def facet_columns(frame: pd.DataFrame, candidates: Sequence[str] = FACET_COLUMNS) -> list[str]:
    """The facet dimensions that actually vary in these rows (one panel row each)."""
    return [c for c in candidates if c in frame and frame[c].nunique(dropna=True) > 1]


def iter_facets(frame: pd.DataFrame, columns: Sequence[str]):
    """Yield (key dict, rows) per facet, patterns in reading order, the rest sorted."""
    if not columns:
        yield {}, frame
        return
    order = {p: i for i, p in enumerate(PATTERN_METRIC)}

    def rank(item):
        return tuple((order.get(v, 99), "") if c == "pattern" else (0, str(v))
                     for c, v in item[0].items())

    yield from sorted(iter_series(frame, columns), key=rank)


def facet_label(key: dict) -> str:
    return " · ".join(f"{v}" if k != "payload" else f"{v} payload" for k, v in key.items())


def load_runs(paths: Sequence[str | os.PathLike[str]]) -> list[Run]:
    return [load_run(p) for p in paths]


def require_ok_rows(run: Run) -> None:
    if run.ok.empty:
        raise ResultsError(
            f"{run.csv_path} has no ok rows to draw ({status_summary(run.frame)})"
        )


def status_summary(frame: pd.DataFrame) -> str:
    """'3 failed, 2 skipped' for the rows that are not ok; 'all ok' otherwise."""
    counts = frame.loc[frame["status"] != "ok", "status"].value_counts()
    if counts.empty:
        return "all ok"
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def left_out_note(frame: pd.DataFrame, patterns: Sequence[str]) -> str:
    """Caption text saying how many rows of these patterns a chart does not draw."""
    rows = measured(frame[frame["pattern"].isin(patterns)])
    bad = rows[rows["status"] != "ok"]
    if bad.empty:
        return f"all {len(rows)} {'/'.join(patterns)} rows drawn"
    return (
        f"{len(bad)} of {len(rows)} {'/'.join(patterns)} rows not drawn "
        f"(status != ok: {status_summary(rows)})"
    )


def case_keys(*frames: pd.DataFrame) -> list[str]:
    """CASE_KEYS plus any identity extras, as far as every given frame carries them
    (read_results upgrades old files, so in practice all of CASE_KEYS is there)."""
    known = [c for c in (*CASE_KEYS, *IDENTITY_EXTRAS) if all(c in f for f in frames)]
    return list(dict.fromkeys(known))  # an extra may since have joined CASE_KEYS


def unique_cases(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per case; a case written twice (a resumed or merged file) keeps its last
    row, which is the most recent measurement."""
    return frame.drop_duplicates(subset=case_keys(frame), keep="last")


def series_columns(frame: pd.DataFrame, facets: Sequence[str] = ()) -> list[str]:
    """Columns that make one line on a chart: mechanism/variant, plus start method or an
    identity extra only when the run actually varies it (keeps legends short) and it is
    not already a facet (a panel row of its own)."""
    columns = ["mechanism", "variant"]
    for extra in ("start_method", *IDENTITY_EXTRAS):
        if extra in frame and frame[extra].nunique(dropna=True) > 1 and extra not in facets:
            columns.append(extra)
    return columns


def series_label(key: dict) -> str:
    label = f"{key.get('mechanism')}/{key.get('variant')}"
    extras = [str(v) for k, v in key.items() if k not in ("mechanism", "variant")]
    return f"{label} ({', '.join(extras)})" if extras else label


def iter_series(frame: pd.DataFrame, columns: Sequence[str]):
    """Yield (key dict, rows) per series in a stable, registry-independent order."""
    if frame.empty:
        return
    for values, rows in frame.groupby(list(columns), sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(columns, values, strict=True)), rows


# machine.json keys shown side by side in reports, in reading order.
METADATA_KEYS = (
    "machine_id", "hostname", "cpu_model", "logical_cpus", "physical_cpus", "ram_bytes",
    "os", "kernel", "python_implementation", "python_version", "numpy_version",
    "default_start_method", "cpu_affinity", "cpu_governor", "dev_shm_bytes",
    "ipcbench_version", "collected_utc",
)


def _metadata_value(key: str, value: object) -> str:
    if value is None or value == "":
        return "–"
    if key.endswith("_bytes") and isinstance(value, (int, float)):
        return f"{value / (1 << 30):.1f} GiB"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def metadata_table(runs: Sequence[Run], tags: Sequence[str]) -> pd.DataFrame:
    """Machine metadata of each run side by side (rows = keys, columns = run tags).
    Any key may be missing from machine.json: it shows as '–'."""
    keys = list(METADATA_KEYS)
    for run in runs:  # keep keys a newer collector adds, after the known ones
        keys += [k for k in run.machine if k not in keys]
    data = {
        tag: [run.name, f"{len(run.ok)} ok of {len(run.frame)}"]
        + [_metadata_value(k, {"machine_id": run.machine_id, **run.machine}.get(k)) for k in keys]
        for tag, run in zip(tags, runs, strict=True)
    }
    return pd.DataFrame(data, index=["run folder", "rows", *keys])

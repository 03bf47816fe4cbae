"""Loading a run for analysis: results.csv + machine.json -> a Run record.

read_results already upgrades older schema versions (placement, payload), so every
frame a Run holds carries the whole case key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ipcbench.core import units
from ipcbench.core.results import ResultsError, read_results, results_path
from ipcbench.core.schema import BASELINE_MECHANISM


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
        """Ok rows of measured channels at full speed (closed loop, rate_per_s 0) and
        their own depth (depth 0): what every ranking, chart and verdict compares
        (baseline rows are not channels)."""
        rows = measured(self.frame[self.frame["status"] == "ok"])
        return rows[(rows["rate_per_s"] == 0) & (rows["depth"] == 0)]

    @property
    def depths(self) -> pd.DataFrame:
        """Ok full-speed rows at a depth the run set (run --depth): the depth sweep."""
        rows = measured(self.frame[self.frame["status"] == "ok"])
        return rows[(rows["rate_per_s"] == 0) & (rows["depth"] > 0)]

    @property
    def open_loop(self) -> pd.DataFrame:
        """Ok rows measured at a given rate (run --rate), steady or in bursts (--burst),
        at each channel's own depth: the latency-under-load views."""
        rows = measured(self.frame[self.frame["status"] == "ok"])
        return rows[(rows["rate_per_s"] > 0) & (rows["depth"] == 0)]

    @property
    def baselines(self) -> pd.DataFrame:
        """Ok in-run baseline rows (one set per placement)."""
        frame = self.frame
        return frame[(frame["status"] == "ok")
                     & (frame["mechanism"] == BASELINE_MECHANISM)]

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
    csv_path = results_path(path)
    # read_results validates every row (figures, torn tail, repeated cases) for all readers.
    return Run(csv_path=csv_path, frame=read_results(csv_path),
               machine=load_machine(csv_path.parent))


def load_runs(paths: Sequence[str | os.PathLike[str]]) -> list[Run]:
    return [load_run(p) for p in paths]


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of measured channels only (drops the in-run baseline rows)."""
    return frame[frame["mechanism"] != BASELINE_MECHANISM]


def baseline_value(baselines: pd.DataFrame, ref, placement: str | None = None) -> float | None:
    """One baseline figure (a patterns.BaselineRef: e.g. memcpy bytes_per_s) for a
    placement; None if the run did not measure it. memcpy has a row per message size:
    the largest one (64 MiB, beyond the caches) is the figure drawn as the memory line."""
    rows = baselines[(baselines["variant"] == ref.variant)
                     & (baselines["pattern"] == ref.pattern)]
    if placement is not None and "placement" in rows:
        rows = rows[rows["placement"] == placement]
    if "size_bytes" in rows:
        rows = rows.sort_values("size_bytes", kind="stable")
    column = ref.column
    values = pd.to_numeric(rows[column], errors="coerce").dropna() if column in rows else []
    return float(values.iloc[-1]) if len(values) and values.iloc[-1] > 0 else None


def require_ok_rows(run: Run) -> None:
    if run.ok.empty and run.open_loop.empty and run.depths.empty:
        raise ResultsError(
            f"{run.csv_path} has no ok rows to draw ({status_summary(run.frame)})"
        )


def status_summary(frame: pd.DataFrame) -> str:
    """'3 failed, 2 skipped' for the rows that are not ok; 'all ok' otherwise."""
    counts = frame.loc[frame["status"] != "ok", "status"].value_counts()
    if counts.empty:
        return "all ok"
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def left_out_note(frame: pd.DataFrame, pattern_names: Sequence[str]) -> str:
    """Caption text saying how many rows of these patterns a chart does not draw."""
    rows = measured(frame[frame["pattern"].isin(pattern_names)])
    bad = rows[rows["status"] != "ok"]
    names = "/".join(pattern_names)
    if bad.empty:
        return f"all {len(rows)} {names} rows drawn"
    return (f"{len(bad)} of {len(rows)} {names} rows not drawn "
            f"(status != ok: {status_summary(rows)})")


# machine.json keys shown side by side in reports, in reading order.
METADATA_KEYS = (
    "machine_id", "hostname", "cpu_model", "logical_cpus", "physical_cpus", "ram_bytes",
    "os", "kernel", "python_implementation", "python_version", "numpy_version",
    "default_start_method", "cpu_affinity", "cpu_governor", "dev_shm_bytes",
    "ipcbench_version", "collected_utc",
)


def _metadata_value(key: str, value: object) -> str:
    if value is None or value == "":
        return units.MISSING
    if key.endswith("_bytes") and isinstance(value, (int, float)):
        return f"{value / (1 << 30):.1f} GiB"  # RAM and /dev/shm: binary, as the OS says
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        # resolution: what the run could tell apart, as fractions (rows is a count).
        return ", ".join(f"{k} {_dict_value(key, v)}" for k, v in value.items())
    return str(value)


def _dict_value(key: str, value: object) -> str:
    if key == "resolution" and isinstance(value, float):
        return units.format_fraction(value)
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

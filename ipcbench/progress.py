"""Progress bar and end-of-run summary (rich, on stderr / stdout).

The bar is redrawn only between cases (auto_refresh off): a refresh thread waking up
during a measurement would steal CPU from the peers on a 2-core machine."""

from __future__ import annotations

import math
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ipcbench.results import ResultRow
from ipcbench.schema import Case
from ipcbench.sizes import format_size


class RunProgress:
    def __init__(self, total: int, enabled: bool = True) -> None:
        self.enabled = enabled and total > 0
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            auto_refresh=False,
            transient=False,
        )
        self._task = self._progress.add_task("starting", total=total)
        self.failures = 0

    def __enter__(self) -> RunProgress:
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._progress.stop()

    def starting(self, case: Case) -> None:
        if self.enabled:
            self._progress.update(self._task, description=case.label)
            self._progress.refresh()

    def advance(self, row: ResultRow) -> None:
        self.failures += row.status in ("failed", "timeout")
        if self.enabled:
            self._progress.update(self._task, advance=1)
            self._progress.refresh()


def _time(ns: float) -> str:
    if math.isnan(ns):
        return "-"
    for unit, factor in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= factor:
            return f"{ns / factor:.3g} {unit}"
    return f"{ns:.3g} ns"


def _rate(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    for prefix, factor in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def print_summary(rows: list[ResultRow], console: Console | None = None) -> None:
    console = console or Console(file=sys.stdout, width=160)
    table = Table(title="ipcbench results (per message; pingpong: per round trip)")
    for column in (
        "mechanism",
        "variant",
        "pattern",
        "size",
        "procs",
        "placement",
        "status",
        "p50",
        "p99",
        "cv",
        "throughput",
        "msgs/s",
        "eff",
    ):
        table.add_column(
            column,
            justify="right"
            if column not in ("mechanism", "variant", "pattern", "placement", "status")
            else "left",
        )
    for row in rows:
        table.add_row(
            row.mechanism,
            row.variant,
            row.pattern,
            format_size(row.size_bytes),
            str(row.procs),
            row.placement,
            row.status + (" (noisy)" if row.noisy else ""),
            _time(row.p50_ns),
            _time(row.p99_ns),
            "-" if math.isnan(row.cv) else f"{row.cv:.1%}",
            _rate(row.bytes_per_s, "B/s"),
            _rate(row.msgs_per_s, "/s"),
            "-" if math.isnan(row.efficiency) else f"{row.efficiency:.2f}",
        )
    console.print(table)
    # Reasons are long; list each distinct one once instead of widening the table.
    reasons: dict[str, int] = {}
    for row in rows:
        if row.status != "ok":
            key = f"{row.status}: {row.reason}"
            reasons[key] = reasons.get(key, 0) + 1
    for reason, count in reasons.items():
        console.print(f"  {count} x {reason}", markup=False, highlight=False)

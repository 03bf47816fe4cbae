"""Progress bar of a run (rich, on stderr); the end-of-run summary is
render.terminal.print_summary.

The bar is redrawn only between cases (auto_refresh off): a refresh thread waking up
during a measurement would steal CPU from the peers on a 2-core machine."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ipcbench.results import ResultRow
from ipcbench.schema import Case


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

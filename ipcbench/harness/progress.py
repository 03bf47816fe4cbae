"""Progress line of a run (rich, on stderr): the case being measured, sessions done of
sessions planned, elapsed time and an ETA; the end-of-run summary is
render.terminal.print_summary.

Sessions, not cases, are the unit: the runner interleaves the sessions of every case
over the whole run, so a case's row arrives only at its last session and a per-row bar
would stand still for most of the run. The total is planned cases x sessions; it grows
when a noisy case earns extra sessions and shrinks when a failed case drops the rest.

The line redraws itself once a second so the clock and the ETA keep moving during a
long session; one redraw a second costs well under 0.1% of a CPU, far below the noise
of what is measured.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

from ipcbench.core.results import ResultRow
from ipcbench.core.schema import Case

REFRESHES_PER_S = 1.0
# Sessions differ by orders of magnitude in length (64 B vs 16 MiB, 1 vs 4 procs) and
# come shuffled: average the speed over a long window so the ETA does not jump.
SPEED_WINDOW_S = 600.0


class SessionCounter:
    """Pure bookkeeping of sessions started, done and planned (what the ETA needs)."""

    def __init__(self, planned_sessions: int, sessions_per_case: int,
                 already: dict[Case, int] | None = None) -> None:
        """`already`: sessions a resumed run measured before (counted in the total)."""
        self.total = planned_sessions
        self.per_case = sessions_per_case
        self.started: dict[Case, int] = dict(already or {})
        self.done = sum(self.started.values())

    def start(self, case: Case, index: int) -> None:
        """A session is starting: the one before it (if any) has ended."""
        self.done = sum(self.started.values())
        self.started[case] = index + 1
        if index >= self.per_case:  # an extra session for a noisy case
            self.total += 1

    def finish(self, row: ResultRow) -> None:
        """A case's row: its last session has ended; a failed case drops the rest."""
        started = self.started.get(row.case, 0)
        self.done = sum(self.started.values())
        if row.status in ("failed", "timeout"):
            self.total -= max(0, self.per_case - started)
        self.total = max(self.total, self.done)


class RunProgress:
    def __init__(self, total_sessions: int, sessions_per_case: int = 1,
                 enabled: bool = True, console: Console | None = None,
                 already: dict[Case, int] | None = None) -> None:
        self.enabled = enabled and total_sessions > 0
        self.counter = SessionCounter(total_sessions, sessions_per_case, already)
        self._progress = Progress(
            TextColumn("{task.description}",
                       table_column=Column(no_wrap=True, overflow="ellipsis", ratio=3)),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=5)),
            MofNCompleteColumn(),
            TextColumn("sessions"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            auto_refresh=True,
            refresh_per_second=REFRESHES_PER_S,
            speed_estimate_period=SPEED_WINDOW_S,
            transient=False,
            expand=True,
        )
        self._task = self._progress.add_task("starting", total=total_sessions,
                                             completed=self.counter.done)
        self.failures = 0

    def __enter__(self) -> RunProgress:
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._progress.stop()

    def _show(self, description: str | None = None) -> None:
        if self.enabled:
            self._progress.update(self._task, completed=self.counter.done,
                                  total=self.counter.total, description=description)

    def starting(self, case: Case, index: int = 0) -> None:
        self.counter.start(case, index)
        self._show(f"{case.label} #{index + 1}")

    def advance(self, row: ResultRow) -> None:
        self.failures += row.status in ("failed", "timeout")
        self.counter.finish(row)
        self._show()

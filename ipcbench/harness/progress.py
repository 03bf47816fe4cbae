"""Progress line of a run (rich, on stderr): the case being measured, sessions done of
sessions planned, elapsed time and an ETA; the run's answer is render/answer.py's.

Sessions, not cases, are the unit: the runner interleaves the sessions of every case
over the whole run, so a case's row arrives only at its last session and a per-row bar
would stand still for most of the run. Every case gets its minimum sessions and, while
its workload's CIs are wide, extra ones up to max_sessions (harness/runner.py
workload_wants_block), so the number to come is a range: from the minimum (planned
cases x sessions, plus the extras already started, less what failed cases drop) to the
most (cases x max_sessions, less what finished cases did not take). The line shows both
("412/651-1008 sessions") and an ETA range from them at the run's mean time per
session, neither end beyond the run's budget (--budget), which bounds the minimum too,
unless the sessions every case gets whatever the budget (3) need longer.

The ETA counts down between sessions: from the last session's end it subtracts the time
since, never below what the sessions after the current one need (a session that runs
long holds it there instead of showing 0). The line redraws itself once a second; one
redraw a second costs well under 0.1% of a CPU, far below the noise of what is measured.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

from ipcbench.core.results import ResultRow
from ipcbench.core.schema import Case

REFRESHES_PER_S = 1.0


class SessionCounter:
    """Pure bookkeeping of sessions started, done and to come (what the ETA needs)."""

    def __init__(self, planned_sessions: int, sessions_per_case: int,
                 already: dict[Case, int] | None = None, max_per_case: int = 0,
                 floor_per_case: int = 0) -> None:
        """`planned_sessions`: cases x `sessions_per_case` (the minimum); `max_per_case`:
        the most a case may get (settings.max_sessions; below the minimum: the minimum);
        `floor_per_case`: what a case gets however short the budget (at most the
        minimum); `already`: sessions a resumed run measured before (counted in both
        totals)."""
        self.total = planned_sessions
        self.per_case = sessions_per_case
        self.max_per_case = max(max_per_case, sessions_per_case)
        self.floor_per_case = min(floor_per_case or sessions_per_case, sessions_per_case)
        self.cases = planned_sessions // sessions_per_case if sessions_per_case else 0
        self.most = self.cases * self.max_per_case
        self.started: dict[Case, int] = dict(already or {})
        self.finished: set[Case] = set()
        self.done = sum(self.started.values())

    def floor_left(self) -> int:
        """Sessions still owed before every unfinished case has its floor."""
        floor = self.floor_per_case
        owed = sum(min(count, floor) for case, count in self.started.items()
                   if case not in self.finished)
        return max(0, (self.cases - len(self.finished)) * floor - owed)

    def start(self, case: Case, index: int) -> None:
        """A session is starting: the one before it (if any) has ended. The same index
        again is a session measured again (heavy interference): no new session."""
        before = self.started.get(case, 0)
        # Sessions run one at a time: every other case's started ones have ended, and
        # this case has `index` behind it (the attempt measured again does not count).
        self.done = sum(self.started.values()) - before + index
        new = index + 1 > before
        self.started[case] = index + 1
        if index >= self.per_case and new:  # an extra session for a noisy case
            self.total += 1
        self.most = max(self.most, self.total)

    def finish(self, row: ResultRow) -> None:
        """A case's row: its last session has ended; it takes no more, and a case that
        failed, or that the run's budget ended early, drops the rest of its minimum."""
        if row.status == "skipped":  # never planned a session
            return
        started = self.started.get(row.case, 0)
        self.finished.add(row.case)
        self.done = sum(self.started.values())
        self.total -= max(0, self.per_case - started)
        self.most -= max(0, self.max_per_case - started)
        self.total = max(self.total, self.done)
        self.most = max(self.most, self.total)


def eta_range_s(done_here: int, busy_s: float, since_s: float, left_min: int, left_max: int,
                budget_left_s: float = math.inf,
                left_floor: int = 0) -> tuple[float, float] | None:
    """Pure: (soonest, latest) seconds to the end, None before a first session ended.

    `done_here`: sessions this process finished, in `busy_s` seconds (from its first
    session to the last one's end); `since_s`: seconds since that end; `left_min`,
    `left_max`: sessions still to come (the running one among them) at the fewest and
    the most; `budget_left_s`: of the run's budget (inf: none), which ends the run
    early unless `left_floor`, the sessions owed whatever the budget, need longer."""
    if done_here <= 0 or busy_s <= 0:
        return None
    per_s = busy_s / done_here

    def countdown(left: int) -> float:
        if left <= 0:
            return 0.0
        return max(left * per_s - since_s, (left - 1) * per_s)

    soonest = countdown(left_min)
    latest = countdown(max(left_max, left_min))
    if math.isfinite(budget_left_s):
        cap = max(budget_left_s, countdown(min(left_floor, left_min)), 0.0)
        soonest, latest = min(soonest, cap), min(latest, cap)
    return soonest, max(latest, soonest)


def clock_text(seconds: float) -> str:
    """0:01:20"""
    minutes, secs = divmod(int(math.ceil(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def eta_text(estimate: tuple[float, float] | None) -> str:
    """"ETA 0:00:07-0:01:20", "ETA 0:00:07" when both ends agree, "ETA -:--:--" with
    no estimate yet."""
    if estimate is None:
        return "ETA -:--:--"
    low, high = (clock_text(v) for v in estimate)
    return f"ETA {low}" if low == high else f"ETA {low}-{high}"


class _TextColumn(ProgressColumn):
    """A column whose text comes from a callable, read at every redraw."""

    def __init__(self, text: Callable[[], str], style: str) -> None:
        super().__init__()
        self._text, self._style = text, style

    def render(self, task) -> Text:
        return Text(self._text(), style=self._style, no_wrap=True)


class RunProgress:
    def __init__(self, total_sessions: int, sessions_per_case: int = 1,
                 enabled: bool = True, console: Console | None = None,
                 already: dict[Case, int] | None = None, max_per_case: int = 0,
                 run_budget_s: float = 0.0, floor_per_case: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`max_per_case`: settings.max_sessions; `run_budget_s`: settings.run_budget_s
        (0: no limit); `floor_per_case`: settings.floor_sessions(); `clock`: seconds,
        injectable for tests."""
        self.enabled = enabled and total_sessions > 0
        self.counter = SessionCounter(total_sessions, sessions_per_case, already, max_per_case,
                                      floor_per_case)
        self._clock = clock
        self._budget_s = run_budget_s
        self._already = self.counter.done
        self._first_at: float | None = None  # the first session's start in this process
        self._done_at = 0.0  # when the last session ended
        self._progress = Progress(
            TextColumn("{task.description}",
                       table_column=Column(no_wrap=True, overflow="ellipsis", ratio=3)),
            BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=5)),
            _TextColumn(self.sessions_text, "progress.download"),
            TimeElapsedColumn(),
            _TextColumn(self.eta_text, "progress.remaining"),
            console=console or Console(stderr=True),
            auto_refresh=True,
            refresh_per_second=REFRESHES_PER_S,
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

    def sessions_text(self) -> str:
        """"412/651-1008 sessions": done of the fewest-most still planned in all."""
        counter = self.counter
        most = f"-{counter.most}" if counter.most > counter.total else ""
        return f"{counter.done}/{counter.total}{most} sessions"

    def estimate(self) -> tuple[float, float] | None:
        """eta_range_s at this moment of the clock."""
        if self._first_at is None:
            return None
        now = self._clock()
        counter = self.counter
        budget_left = (self._budget_s - (now - self._first_at) if self._budget_s
                       else math.inf)
        return eta_range_s(counter.done - self._already, self._done_at - self._first_at,
                           now - self._done_at, counter.total - counter.done,
                           counter.most - counter.done, budget_left, counter.floor_left())

    def eta_text(self) -> str:
        return eta_text(self.estimate())

    def _note_done(self, before: int) -> None:
        now = self._clock()
        if self._first_at is None:
            self._first_at = now
        if self.counter.done != before:
            self._done_at = now

    def _show(self, description: str | None = None) -> None:
        if self.enabled:
            self._progress.update(self._task, completed=self.counter.done,
                                  total=self.counter.total, description=description)

    def starting(self, case: Case, index: int = 0) -> None:
        before = self.counter.done
        self.counter.start(case, index)
        self._note_done(before)
        self._show(f"{case.label} #{index + 1}")

    def advance(self, row: ResultRow) -> None:
        self.failures += row.status in ("failed", "timeout")
        before = self.counter.done
        self.counter.finish(row)
        self._note_done(before)
        self._show()

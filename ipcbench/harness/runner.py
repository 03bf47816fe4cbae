"""Run cases: independent sessions per case, interleaved over the run, into result rows.

Each case is measured in `Settings.sessions` (up to `max_sessions`) sessions, each with
fresh peers and a fresh channel. The run goes in rounds: every round gives one session to
each case that still needs one, in a shuffled order, so a slow drift of the machine
touches every case alike and every case's figure is built from sessions spread over the
whole run. A case's row is written as soon as its last session ends; every finished
session is handed to `on_session` first (the CLI logs it, so --resume loses nothing).

Both front ends (CLI and pytest) go through here, so they produce the same rows.
Failures never escape as exceptions: they become rows with a reason.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ipcbench.core.results import ResultRow
from ipcbench.core.schema import Case
from ipcbench.core.session_stats import SessionResult, summarize_session
from ipcbench.core.settings import Settings
from ipcbench.core.stats import should_stop
from ipcbench.harness.baselines import BaselineCache
from ipcbench.harness.plan import PlannedCase
from ipcbench.harness.rows import RunMeta, base_row, ok_row
from ipcbench.harness.session import CaseSession, derive_workload
from ipcbench.mechanisms import end_run, runs_last, session_class
from ipcbench.mechanisms.base import PeerFailed, RepeatOutcome
from ipcbench.system.deadlines import CaseTimeout
from ipcbench.system.disturbance import between, our_cpu_s, read_cpu_times

SessionFactory = Callable[[Case, Settings], CaseSession]
RepeatDriver = Callable[[Callable[[], None], int], None]


def session_for(case: Case, settings: Settings) -> CaseSession:
    """The session class the mechanism brings (its MechanismInfo.session: the executors,
    Ray, the tests' fake), else real peer processes."""
    workload = derive_workload(case, settings.messages_for(case), settings.deadline_s)
    cls = session_class(case.mechanism) or CaseSession
    return cls(case, workload, settings.seed, settings.fault)


def _drive_plain(repeat: Callable[[], None], count: int) -> None:
    for _ in range(count):
        repeat()


def measure_session(
    case: Case,
    settings: Settings,
    index: int,
    make_session: SessionFactory = session_for,
    drive: RepeatDriver = _drive_plain,
    clock: Callable[[], float] = time.monotonic,
) -> SessionResult:
    """One session: start peers, warm up, time `settings.repeats` repeats, tear down.
    Raises CaseTimeout / PeerFailed / OSError for a case that cannot be measured.

    `drive(repeat, count)` calls `repeat` `count` times; the pytest front end passes
    pytest-benchmark's pedantic mode here, so peers start outside its timed region."""
    started_s = clock()
    outcomes: list[RepeatOutcome] = []
    # Around the whole session: the machine's busy time against ours (disturbance.py).
    before, ours_before_s = read_cpu_times(), our_cpu_s()
    with make_session(case, settings) as session:
        for warm in range(settings.warmup):
            session.run_repeat(warm)

        def repeat() -> None:
            outcomes.append(session.run_repeat(settings.warmup + len(outcomes)))

        drive(repeat, settings.repeats)
    # Peers that are not this process's waited-for children (Ray's actors) are the
    # session's own CPU too, not other load: a session class may report them.
    ours_s = our_cpu_s() - ours_before_s + getattr(session, "helper_cpu_s", 0.0)
    disturbance = between(before, read_cpu_times(), ours_s)
    return summarize_session(
        index,
        [np.asarray(o.samples_ns) for o in outcomes],
        messages=sum(o.messages for o in outcomes),
        duration_ns=float(sum(o.duration_ns for o in outcomes)),
        cpu_s=float(sum(o.cpu_s for o in outcomes)),
        ctx_switches=int(sum(o.ctx_switches for o in outcomes)),
        wall_s=clock() - started_s,
        disturbance=disturbance,
        latencies_ns=(np.concatenate([o.latencies_ns for o in outcomes]) if outcomes
                      else None),
    )


def failure_row(case: Case, meta: RunMeta, exc: BaseException) -> ResultRow:
    if isinstance(exc, CaseTimeout):
        return base_row(case, meta, "timeout", str(exc))
    if isinstance(exc, PeerFailed):
        return base_row(case, meta, "failed", str(exc))
    return base_row(case, meta, "failed", f"{type(exc).__name__}: {exc}")


# What a session may raise for a case that cannot be measured (e.g. /dev/shm full).
CASE_ERRORS = (CaseTimeout, PeerFailed, OSError, ValueError, RuntimeError)


def wants_session(sessions: list[SessionResult], settings: Settings) -> bool:
    """Pure: the stopping rule on session-level values. At least `sessions`; then more
    while the median's CI is wider than the target and neither `max_sessions` nor the
    case's time budget is spent."""
    stop, _ = should_stop(
        [s.value_ns for s in sessions],
        min_count=settings.sessions,
        max_count=settings.max_sessions,
        target=settings.target_ci,
        elapsed_s=sum(s.wall_s for s in sessions),
        budget_s=settings.budget_s,
    )
    return not stop


def run_case(
    case: Case,
    settings: Settings,
    meta: RunMeta,
    make_session: SessionFactory = session_for,
    drive: RepeatDriver = _drive_plain,
    clock: Callable[[], float] = time.monotonic,
) -> ResultRow:
    """Measure one case on its own, all its sessions back to back (the pytest front end;
    `ipcbench run` interleaves sessions of all cases through run_planned). `drive` times
    the first session's repeats (pytest-benchmark's pedantic can run once per test)."""
    sessions: list[SessionResult] = []
    try:
        while wants_session(sessions, settings):
            sessions.append(measure_session(case, settings, len(sessions), make_session,
                                            drive if not sessions else _drive_plain, clock))
    except CASE_ERRORS as exc:
        return failure_row(case, meta, exc)
    return ok_row(case, meta, sessions, settings.warmup, settings.target_ci)


def _no_session_start(case: Case, index: int) -> None:
    """The default `before_session`: nothing to do before a session starts."""


def _no_session_log(case: Case, result: SessionResult) -> None:
    """The default `on_session`: finished sessions are not kept anywhere."""


@dataclass(frozen=True)
class RunContext:
    """What every round of `run_planned` needs besides its cases, built once per run:
    how to measure (settings, make_session), what each row carries (meta), where rows
    and sessions go (on_row, on_session), the hook before each session (the CLI checks
    for a signal and moves its progress line) and the run's hardware baselines."""

    settings: Settings
    meta: RunMeta
    on_row: Callable[[ResultRow], None]
    make_session: SessionFactory = session_for
    before_session: Callable[[Case, int], None] = _no_session_start
    on_session: Callable[[Case, SessionResult], None] = _no_session_log
    baseline_cache: BaselineCache | None = None


@dataclass
class _Pending:
    case: Case
    sessions: list[SessionResult] = field(default_factory=list)


def run_planned(
    planned: Iterable[PlannedCase],
    settings: Settings,
    meta: RunMeta,
    on_row: Callable[[ResultRow], None],
    make_session: SessionFactory = session_for,
    before_session: Callable[[Case, int], None] = _no_session_start,
    baseline_cache: BaselineCache | None = None,
    on_session: Callable[[Case, SessionResult], None] = _no_session_log,
    done_sessions: Mapping[Case, list[SessionResult]] | None = None,
) -> None:
    """Run every planned case in interleaved rounds of sessions (module doc), handing
    each finished row to `on_row` at once. Skipped cases are written first. With
    meta.order_seed >= 0 every round's order is shuffled (seeded, recorded in every row).
    `done_sessions` resumes cases whose first sessions a killed run already measured.
    What a mechanism keeps for the whole run (Ray) is released at the end, however it ends."""
    run = RunContext(settings=settings, meta=meta, on_row=on_row, make_session=make_session,
                     before_session=before_session, on_session=on_session,
                     baseline_cache=baseline_cache)
    try:
        _run_rounds(planned, run, done_sessions or {})
    finally:
        end_run()


def _run_rounds(planned: Iterable[PlannedCase], run: RunContext,
                done_sessions: Mapping[Case, list[SessionResult]]) -> None:
    pending = []
    for item in planned:
        if item.skip_reason:
            run.on_row(base_row(item.case, run.meta, "skipped", item.skip_reason))
            continue
        resumed = _Pending(item.case, list(done_sessions.get(item.case, [])))
        if wants_session(resumed.sessions, run.settings):
            pending.append(resumed)
        else:  # a killed run measured every session but had not written the row yet
            _finish(resumed, run)
    # A mechanism that keeps a runtime in the harness (Ray: ~400 MB) goes after every
    # other case, so theirs fork from a lean harness (heap.py); each group interleaved.
    flags = [runs_last(p.case.mechanism) for p in pending]
    for later in (False, True):
        group = [p for p, flag in zip(pending, flags, strict=True) if flag == later]
        _interleave(group, run)


def _interleave(pending: list[_Pending], run: RunContext) -> None:
    """Rounds over `pending`: one session per case and round, in a shuffled order."""
    for round_index in itertools.count():
        if not pending:
            return
        if run.meta.order_seed >= 0:
            random.Random(run.meta.order_seed * 1009 + round_index).shuffle(pending)
        for item in list(pending):
            if run.baseline_cache is not None:
                run.baseline_cache.get(item.case.placement, item.case.start_method)
            run.before_session(item.case, len(item.sessions))
            try:
                result = measure_session(item.case, run.settings, len(item.sessions),
                                         run.make_session)
            except CASE_ERRORS as exc:
                pending.remove(item)  # a case that fails once is reported, not retried
                run.on_row(failure_row(item.case, run.meta, exc))
                continue
            run.on_session(item.case, result)  # the raw latencies, if kept, are on disk now
            # Cases wait for their next round with their sessions in memory: without the
            # raw latencies (the row needs their percentiles only), else a default run's
            # harness grew by ~300 MB and every fork copied its page tables (heap.py).
            item.sessions.append(replace(result, latencies_ns=None))
            if not wants_session(item.sessions, run.settings):
                pending.remove(item)
                _finish(item, run)


def _finish(item: _Pending, run: RunContext) -> None:
    row = ok_row(item.case, run.meta, item.sessions, run.settings.warmup,
                 run.settings.target_ci)
    run.on_row(run.baseline_cache.annotate(row) if run.baseline_cache is not None else row)

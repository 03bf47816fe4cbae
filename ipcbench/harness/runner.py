"""Run cases: independent sessions per case, in paired blocks over the run, into rows.

Each case is measured in `Settings.sessions` (up to `max_sessions`) sessions, each with
fresh peers and a fresh channel. The cases of one workload (the same pattern, size,
procs, placement, payload: core/paired.py) are its rival channels, and they are measured
in blocks: one session of each, back to back, in a shuffled order. The run goes in
rounds: every round gives one block to each workload that still needs one, workloads in a
shuffled order, so a slow drift of the machine touches every case alike, every figure is
built from sessions spread over the whole run, and within a block the drift cancels in
the channels' paired ratios. A workload gets more blocks while the middle half of any
of its channels' sessions spreads wider than the target, or its paired CI is
wider than the target (core/session_stats.py), until `max_sessions`, the case budget or
the run's budget is spent; the run's budget also cuts the minimum, down to 3 sessions a
case (Settings.floor_sessions), so a matrix too big for it ends on time. A session
whose peers waited unusually long for a CPU (their run delay, system/schedstat.py:
another tenant took it) is measured again once instead of averaged in, within a bound,
and counted in the row (`remeasured`); so is one during which other work took a
quarter of the machine or more.

A probe (a raw pipe echo, harness/probe.py) is taken between every two sessions; every
session keeps the probes either side of it, and a row gives its times at the host's
reference state: each session scaled by the fast end of the run's probes under its
placement so far (session_stats.reference_probe_ns) over its own
(session_stats.standardized), so the host's speed states, which move in and out within
a second, and the share of the run each took, leave the figure where that state has it.

A workload's rows are written as soon as its last block ends; every finished session is
handed to `on_session` first (the CLI logs it, so --resume loses nothing).

Both front ends (CLI and pytest) go through here, so they produce the same rows.
Failures never escape as exceptions: they become rows with a reason.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ipcbench.core.paired import UNPAIRED, PairedRatio, paired_ratios, workload_of
from ipcbench.core.results import ResultRow
from ipcbench.core.schema import Case
from ipcbench.core.session_stats import (
    SessionResult,
    bracket_ns,
    middle_spread,
    reference_probe_ns,
    standardized,
    summarize_session,
)
from ipcbench.core.settings import Settings
from ipcbench.core.stats import should_stop
from ipcbench.harness.baselines import BaselineCache
from ipcbench.harness.interference import (
    REMEASURE_SHARE,
    heavy_interference,
    less_disturbed,
)
from ipcbench.harness.plan import PlannedCase
from ipcbench.harness.rows import RunMeta, base_row, ok_row
from ipcbench.harness.session import CaseSession, derive_workload
from ipcbench.mechanisms import end_run, runs_last, session_class
from ipcbench.mechanisms.base import PeerFailed, RepeatOutcome
from ipcbench.system.deadlines import CaseTimeout, kill_forkserver
from ipcbench.system.disturbance import between, our_cpu_s, read_cpu_times
from ipcbench.system.fdlimit import TooFewDescriptors
from ipcbench.system.schedstat import delay_between_ns, run_delays_ns

SessionFactory = Callable[[Case, Settings], CaseSession]
RepeatDriver = Callable[[Callable[[], None], int], None]


def session_for(case: Case, settings: Settings) -> CaseSession:
    """The session class the mechanism brings (its MechanismInfo.session: the executors,
    Ray, the tests' fake), else real peer processes."""
    workload = derive_workload(case, settings.messages_for(case), settings.deadline_s)
    cls = session_class(case.mechanism) or CaseSession
    return cls(case, workload, settings.seed, settings.fault)


def _peer_pids(session) -> list[int]:
    """The pids of a session's peer processes (none for sessions without any)."""
    return [p.pid for p in getattr(session, "processes", []) if p.pid is not None]


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
        warm_messages = settings.warmup_messages(session.workload.messages, case.depth)
        for warm in range(settings.warmup):
            session.run_repeat(warm, warm_messages)

        def repeat() -> None:
            outcomes.append(session.run_repeat(settings.warmup + len(outcomes)))

        pids = _peer_pids(session)
        delays_before = run_delays_ns(pids)
        drive(repeat, settings.repeats)
        run_delay_ns = delay_between_ns(delays_before, run_delays_ns(pids))
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
        run_delay_ns=float(run_delay_ns),
    )


def failure_row(case: Case, meta: RunMeta, exc: BaseException) -> ResultRow:
    if isinstance(exc, CaseTimeout):
        return base_row(case, meta, "timeout", str(exc))
    if isinstance(exc, (PeerFailed, TooFewDescriptors)):
        return base_row(case, meta, "failed", str(exc))
    return base_row(case, meta, "failed", f"{type(exc).__name__}: {exc}")


# What a session may raise for a case that cannot be measured (e.g. /dev/shm full).
CASE_ERRORS = (CaseTimeout, PeerFailed, OSError, ValueError, RuntimeError)


def wants_session(sessions: list[SessionResult], settings: Settings) -> bool:
    """Pure: the stopping rule on session-level values. At least `sessions`; then more
    while the middle half of the sessions spreads wider than the target (middle_spread)
    and neither `max_sessions` nor the case's time budget is spent."""
    stop, _ = should_stop(
        [s.value_ns for s in sessions],
        spread=middle_spread,
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
    # Before and after every session: the host's state under its placement, in ns (the
    # CLI passes baselines.probe_ns; None = no probe, as in the tests' fake runs).
    probe: Callable[[str], float] | None = None
    # Every session's probe so far, by placement: their fast end is the host's reference
    # state, at which rows give their times (reference_ns). Filled as sessions are kept.
    probes_ns: dict[str, list[float]] = field(default_factory=dict)

    def reference_ns(self, placement: str) -> float:
        """The reference probe of the run's sessions under `placement` so far
        (session_stats.reference_probe_ns; 0: none)."""
        return reference_probe_ns(self.probes_ns.get(placement, []))

    def kept_probe(self, placement: str, probe_ns: float) -> None:
        if probe_ns > 0:
            self.probes_ns.setdefault(placement, []).append(probe_ns)


@dataclass
class _Pending:
    case: Case
    sessions: list[SessionResult] = field(default_factory=list)
    remeasured: int = 0  # sessions measured again for heavy interference


def may_remeasure(item: _Pending, settings: Settings) -> bool:
    return item.remeasured < max(1, int(settings.max_sessions * REMEASURE_SHARE))


def _values(item: _Pending, reference_ns: float) -> list[SessionResult]:
    """The case's sessions at the host's reference state (session_stats.standardized)."""
    return standardized(item.sessions, reference_ns)[0]


def workload_ratios(items: list[_Pending], reference_ns: float = 0.0
                    ) -> dict[Case, PairedRatio]:
    """Each case's paired ratio over the blocks of its workload (core/paired.py), its
    sessions at the reference state: a state that changed within a block cancels too."""
    return paired_ratios({item.case: {s.index: s.value_ns
                                      for s in _values(item, reference_ns)}
                          for item in items})


def workload_wants_block(items: list[_Pending], settings: Settings, over_budget: bool,
                         reference_ns: float = 0.0) -> bool:
    """Pure: the stopping rule of a workload. Every case gets `sessions`; then more blocks
    while the middle half of a case's sessions spreads wider than the target
    (session_stats.middle_spread), or its paired CI is wider than the target, until
    `max_sessions`, the workload's time (`budget_s` a case) or the run's budget is spent.
    The run's budget bounds the minimum too, down to `floor_sessions()`: rounds give
    every workload one block in turn, so a budget that ends mid-matrix leaves each case
    one block short at most, never a case unmeasured."""
    fewest = min(len(item.sessions) for item in items)
    if over_budget:
        return fewest < settings.floor_sessions()
    if fewest < settings.sessions:
        return True
    if any(len(item.sessions) >= settings.max_sessions for item in items):
        return False
    wall_s = sum(s.wall_s for item in items for s in item.sessions)
    if wall_s >= settings.budget_s * len(items):
        return False
    if any(middle_spread([s.value_ns for s in _values(item, reference_ns)])
           > settings.target_ci for item in items):
        return True
    return len(items) > 1 and any(r.half_width > settings.target_ci
                                  for r in workload_ratios(items, reference_ns).values())


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
    clock: Callable[[], float] = time.monotonic,
    probe: Callable[[str], float] | None = None,
) -> None:
    """Run every planned case in rounds of paired blocks (module doc), handing each
    finished row to `on_row` at once. Skipped cases are written first. With
    meta.order_seed >= 0 every round's order is shuffled (seeded, recorded in every row).
    `done_sessions` resumes cases whose first sessions a killed run already measured;
    `clock` tells when the run's budget (settings.run_budget_s) is spent; `probe`, when
    given, samples the host either side of every session (kept as its probe_ns).
    `baseline_cache` measures its next set at the start of every round and writes the
    rows still pooled at the end (baselines.BaselineCache).
    What a mechanism keeps for the whole run (Ray), and the fork server, are released at
    the end, however it ends."""
    run = RunContext(settings=settings, meta=meta, on_row=on_row, make_session=make_session,
                     before_session=before_session, on_session=on_session,
                     baseline_cache=baseline_cache, probe=probe)
    if baseline_cache is not None:  # its rows at the run's reference state, as the cases'
        baseline_cache.reference = run.reference_ns
    try:
        _run_rounds(planned, run, done_sessions or {}, clock)
    except BaseException:
        if baseline_cache is not None:
            baseline_cache.flush(quiet=True)  # the sets measured so far, whatever happened
        raise
    else:
        if baseline_cache is not None:
            baseline_cache.flush()
    finally:
        end_run()
        # The fork server multiprocessing started for this run's cases goes with it: one
        # stopped (SIGSTOP) after its last case outlived the run and held the run's
        # stdout open, so a caller waiting for the output waited forever. (None started:
        # nothing to do.)
        kill_forkserver()


def _run_rounds(planned: Iterable[PlannedCase], run: RunContext,
                done_sessions: Mapping[Case, list[SessionResult]],
                clock: Callable[[], float] = time.monotonic) -> None:
    pending = []
    for item in planned:
        if item.skip_reason:
            run.on_row(base_row(item.case, run.meta, "skipped", item.skip_reason))
            continue
        pending.append(_Pending(item.case, list(done_sessions.get(item.case, []))))
        for session in pending[-1].sessions:  # a resumed run's probes count too
            run.kept_probe(item.case.placement, session.probe_ns)
    deadline_s = clock() + run.settings.run_budget_s if run.settings.run_budget_s else math.inf
    # A mechanism that keeps a runtime in the harness (Ray: ~400 MB) goes after every
    # other case, so theirs fork from a lean harness (heap.py); each group interleaved.
    flags = [runs_last(p.case.mechanism) for p in pending]
    for later in (False, True):
        group = [p for p, flag in zip(pending, flags, strict=True) if flag == later]
        _interleave(group, run, lambda: clock() >= deadline_s)


def _workloads(pending: list[_Pending]) -> list[list[_Pending]]:
    groups: dict[tuple, list[_Pending]] = {}
    for item in pending:
        groups.setdefault(workload_of(item.case), []).append(item)
    return list(groups.values())


def _interleave(pending: list[_Pending], run: RunContext,
                over_budget: Callable[[], bool]) -> None:
    """Rounds of blocks (module doc): one block per workload and round, workloads and the
    channels inside each block in a shuffled order. A workload's rows are written as
    soon as its last block ends."""
    workloads = _workloads(pending)
    # A resumed run may hold workloads whose sessions are all measured already.
    workloads = [w for w in workloads if _still_wanted(w, run, over_budget)]
    for round_index in itertools.count():
        if not workloads:
            return
        if round_index and run.baseline_cache is not None:
            # The baselines' next set, at the start of a round (baselines.SPREAD_SETS).
            run.baseline_cache.next_round()
        shuffle = (random.Random(run.meta.order_seed * 1009 + round_index).shuffle
                   if run.meta.order_seed >= 0 else (lambda items: None))
        shuffle(workloads)
        for items in list(workloads):
            # Asked again before the block: the budget may have run out since this
            # workload's last one, a round ago. Asked only after, every workload took one
            # more block once it was spent (the default matrix overran by 10 minutes).
            if over_budget() and not _still_wanted(items, run, over_budget):
                workloads.remove(items)
                continue
            # The channels behind the others (a resumed run's) catch up first, so block
            # indices stay aligned across the workload.
            behind = min(len(item.sessions) for item in items)
            block = [item for item in items if len(item.sessions) == behind]
            shuffle(block)
            _measure_block(block, items, run)
            if not _still_wanted(items, run, over_budget):
                workloads.remove(items)


def _measure_block(block: list[_Pending], items: list[_Pending], run: RunContext) -> None:
    """One session of every case in `block`, back to back; those under heavy interference
    measured again once after the rest of the block (module doc). A case that fails is
    reported (its row written) and taken out of `items`, never retried."""
    # Each probe closes one session and opens the next: one probe a session.
    edge_ns = _probe(run, block[0].case)
    again: list[tuple[_Pending, SessionResult, float]] = []
    for item in block:
        measured, edge_ns = _measure_or_drop(item, items, run, edge_ns)
        if measured is None:
            continue
        result, probe_ns = measured
        if heavy_interference(item.sessions, result) and may_remeasure(item, run.settings):
            item.remeasured += 1
            again.append((item, result, probe_ns))
            continue
        _keep(item, run, result, probe_ns)
    for item, first, first_probe_ns in again:  # one retry a session, at most
        measured, edge_ns = _measure_or_drop(item, items, run, edge_ns)
        if measured is None:
            continue
        result, probe_ns = measured
        if (heavy_interference(item.sessions, result)
                and less_disturbed(first, result) is first):
            result, probe_ns = first, first_probe_ns
        _keep(item, run, result, probe_ns)


def _measure_or_drop(item: _Pending, items: list[_Pending], run: RunContext, edge_ns: float
                     ) -> tuple[tuple[SessionResult, float] | None, float]:
    """One session of `item` after the probe `edge_ns`: ((its result, its probe), the
    probe after it), or (None, a fresh probe) once a failed case is taken out of
    `items` (its row written)."""
    measured = _measure(item, run, edge_ns)
    if measured is None:
        items.remove(item)
        return None, _probe(run, item.case)
    result, probe_ns, after_ns = measured
    return (result, probe_ns), after_ns


def _still_wanted(items: list[_Pending], run: RunContext,
                  over_budget: Callable[[], bool]) -> bool:
    """Whether the workload wants another block; when not, its rows are written."""
    if items and workload_wants_block(items, run.settings, over_budget(),
                                      run.reference_ns(items[0].case.placement)):
        return True
    _finish_workload(items, run)
    return False


# What a probe may raise (a fork that fails, a child that dies): the session goes without.
_PROBE_ERRORS = (OSError, RuntimeError, ValueError)


def _probe(run: RunContext, case: Case) -> float:
    """The probe in ns, 0 without one (no probe given, or it failed)."""
    if run.probe is None:
        return 0.0
    try:
        value = run.probe(case.placement)
    except _PROBE_ERRORS:
        return 0.0
    return value if value > 0 and math.isfinite(value) else 0.0


def _measure(item: _Pending, run: RunContext,
             before_ns: float) -> tuple[SessionResult, float, float] | None:
    """One session of `item` between the probe taken before it (`before_ns`) and one
    taken after it: (its result, its probe, the probe after it), or None (its failure
    row written) when the case failed.

    The probes bracket the session, not the block: on a cloud VM the host's speed moves
    within tens of ms (a raw pipe echo in fresh processes and one in long-lived processes,
    sampled ms apart, correlate at 0.7 and spread as much as each other), so only a probe
    taken next to the session shares its host state; one before the block, a few
    sessions earlier, correlated at 0.3-0.5."""
    if run.baseline_cache is not None:
        run.baseline_cache.get(item.case.placement, item.case.start_method)
    index = len(item.sessions)
    run.before_session(item.case, index)
    try:
        result = measure_session(item.case, run.settings, index, run.make_session)
    except CASE_ERRORS as exc:
        run.on_row(failure_row(item.case, run.meta, exc))
        return None
    after_ns = _probe(run, item.case)
    return result, bracket_ns(before_ns, after_ns), after_ns


def _keep(item: _Pending, run: RunContext, result: SessionResult, probe_ns: float) -> None:
    """A measured session joins its case: logged, kept."""
    result = replace(result, probe_ns=probe_ns)
    run.kept_probe(item.case.placement, probe_ns)
    run.on_session(item.case, result)  # the raw latencies, if kept, are on disk now
    # Cases wait for their next round with their sessions in memory: without the raw
    # latencies (the row needs their percentiles only), else a default run's harness
    # grew by ~300 MB and every fork copied its page tables (heap.py).
    item.sessions.append(replace(result, latencies_ns=None))


def _finish_workload(items: list[_Pending], run: RunContext) -> None:
    if not items:
        return
    # One workload, one placement: its rows share the host's reference state.
    reference_ns = run.reference_ns(items[0].case.placement)
    ratios = workload_ratios(items, reference_ns) if len(items) > 1 else {}
    for item in items:
        _finish(item, run, ratios.get(item.case, UNPAIRED), reference_ns)


def _finish(item: _Pending, run: RunContext, paired: PairedRatio = UNPAIRED,
            reference_ns: float = 0.0) -> None:
    row = ok_row(item.case, run.meta, item.sessions, run.settings.warmup,
                 run.settings.target_ci, paired=paired, remeasured=item.remeasured,
                 reference_ns=reference_ns)
    run.on_row(run.baseline_cache.annotate(row) if run.baseline_cache is not None else row)

"""Run cases and turn what the peers measured into result rows.

Both front ends (CLI and pytest) go through `run_case` / `measure`, so they produce
the same rows. Failures never escape as exceptions: they become rows with a reason.
"""

from __future__ import annotations

import math
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from ipcbench import __version__, baselines
from ipcbench.baselines import Baselines
from ipcbench.cases import Case, PlannedCase
from ipcbench.mechanisms import REGISTRY
from ipcbench.results import SCHEMA_VERSION, ResultRow
from ipcbench.session import CaseSession, CaseTimeout, PeerFailed, RepeatOutcome, derive_workload
from ipcbench.stats import median_ci, per_second, should_stop, summarize


@dataclass(frozen=True)
class Settings:
    """How hard to measure each case. Message counts scale with size so every case
    moves about `target_bytes` per repeat, within [min_messages, max_messages]."""

    repeats: int = 5  # the minimum; more are run while the median's CI is too wide
    max_repeats: int = 0  # <= repeats: a fixed count of `repeats`, no adaptive repeats
    target_ci: float = 0.02  # stop once the median's 95% CI is within +/-2%
    budget_s: float = 2.0  # ... or once the case has used this much wall time
    warmup: int = 1
    target_bytes: int = 32 << 20
    min_messages: int = 4
    max_messages: int = 2000
    increments: int = 5000  # counter pattern, per process and repeat
    deadline_s: float | None = None  # per repeat; None = derived from the case
    seed: int = 0
    # Fault injection, for the project's own tests: make peer `<fault_role>#0` misbehave.
    fault: str = ""
    fault_role: str = ""

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"invalid repeats {self.repeats!r}: must be at least 1")
        if self.max_repeats < self.repeats:
            object.__setattr__(self, "max_repeats", self.repeats)
        if self.warmup < 0:
            raise ValueError(f"invalid warmup {self.warmup!r}: must be 0 or more")
        if self.deadline_s is not None and not self.deadline_s > 0:
            raise ValueError(f"invalid deadline {self.deadline_s!r}: must be positive seconds")


# Small enough for <= 60 s on 2 cores with every mechanism: a fixed 5 repeats.
QUICK = Settings(repeats=5, warmup=1, target_bytes=8 << 20, max_messages=500, increments=5000)


def messages_for(case: Case, settings: Settings) -> int:
    """Messages per timing peer and repeat (round trips, per producer, increments)."""
    if case.pattern == "counter":
        return settings.increments
    # Bytes one repeat moves per message of a timing peer: there and back for pingpong,
    # one message per producer (stream) or worker (fanout).
    per_message = case.size_bytes * (2 if case.pattern == "pingpong" else case.procs)
    wanted = settings.target_bytes // per_message
    return int(min(max(wanted, settings.min_messages), settings.max_messages))


@dataclass(frozen=True)
class RunMeta:
    """Identity stamped on every row of one run."""

    machine_id: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    python: str = field(default_factory=lambda: sys.version.split()[0])
    order_seed: int = -1  # seed of the shuffled case order; -1 = run in the given order


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def base_row(case: Case, meta: RunMeta, status: str, reason: str = "", **values) -> ResultRow:
    return ResultRow(
        schema_version=SCHEMA_VERSION,
        run_id=meta.run_id,
        timestamp_utc=_utc_now(),
        machine_id=meta.machine_id,
        mechanism=case.mechanism,
        variant=case.variant,
        pattern=case.pattern,
        size_bytes=case.size_bytes,
        procs=case.procs,
        start_method=case.start_method,
        placement=case.placement,
        payload=case.payload,
        order_seed=meta.order_seed,
        status=status,
        reason=reason,
        python=meta.python,
        ipcbench_version=__version__,
        **values,
    )


def row_from_outcomes(
    case: Case,
    meta: RunMeta,
    settings: Settings,
    outcomes: list[RepeatOutcome],
    noisy: bool = False,
) -> ResultRow:
    """Pure: the timed repeats of one case -> its ok row."""
    summary = summarize(np.concatenate([o.samples_ns for o in outcomes]))
    ci_low_ns, ci_high_ns = median_ci([o.value_ns for o in outcomes])
    messages = sum(o.messages for o in outcomes)
    duration_ns = float(sum(o.duration_ns for o in outcomes))
    msgs_per_s = per_second(messages, duration_ns)
    if case.pattern == "counter":
        bytes_per_s = math.nan  # increments move no payload
    elif case.pattern == "pingpong":
        bytes_per_s = msgs_per_s * 2 * case.size_bytes  # there and back
    else:
        bytes_per_s = msgs_per_s * case.size_bytes
    stats = {k: v for k, v in summary.as_dict().items() if k != "count"}
    return base_row(
        case,
        meta,
        "ok",
        repeats=len(outcomes),  # at least settings.repeats; more when adaptive
        warmup=settings.warmup,
        messages=messages,
        duration_ns=duration_ns,
        cv=summary.cv,
        bytes_per_s=bytes_per_s,
        msgs_per_s=msgs_per_s,
        verified=True,
        ci_low_ns=ci_low_ns,
        ci_high_ns=ci_high_ns,
        noisy=noisy,
        cpu_s_per_msg=sum(o.cpu_s for o in outcomes) / messages,
        ctx_switches_per_msg=sum(o.ctx_switches for o in outcomes) / messages,
        **stats,
    )


SessionFactory = Callable[..., CaseSession]


def session_for(case: Case, settings: Settings) -> CaseSession:
    workload = derive_workload(case, messages_for(case, settings), settings.deadline_s)
    if REGISTRY[case.mechanism].hidden:
        from ipcbench.mechanisms.fake import FakeSession

        return FakeSession(case, workload, settings.seed)
    return CaseSession(case, workload, settings.seed, settings.fault, settings.fault_role)


RepeatDriver = Callable[[Callable[[], None], int], None]


def _drive_plain(repeat: Callable[[], None], count: int) -> None:
    for _ in range(count):
        repeat()


def run_case(
    case: Case,
    settings: Settings,
    meta: RunMeta,
    make_session: SessionFactory = session_for,
    drive: RepeatDriver = _drive_plain,
    clock: Callable[[], float] = time.monotonic,
) -> ResultRow:
    """Measure one case: start peers, warm up, time at least `settings.repeats` repeats,
    then more until the median's CI is within `target_ci` or the repeat/time budget is
    spent (the row is then `noisy`). Never raises for a failing case: a dead, hanging or
    lying peer becomes a failed/timeout row.

    `drive(repeat, count)` calls `repeat` `count` times; the pytest front end passes
    pytest-benchmark's pedantic mode here, so peers start outside its timed region."""
    try:
        with make_session(case, settings) as session:
            started_s = clock()
            for index in range(settings.warmup):
                session.run_repeat(index)
            outcomes: list[RepeatOutcome] = []

            def repeat() -> None:
                outcomes.append(session.run_repeat(settings.warmup + len(outcomes)))

            drive(repeat, settings.repeats)
            while True:
                stop, noisy = should_stop(
                    [o.value_ns for o in outcomes],
                    min_repeats=settings.repeats,
                    max_repeats=settings.max_repeats,
                    target=settings.target_ci,
                    elapsed_s=clock() - started_s,
                    budget_s=settings.budget_s,
                )
                if stop:
                    break
                repeat()
        return row_from_outcomes(case, meta, settings, outcomes, noisy)
    except CaseTimeout as exc:
        return base_row(case, meta, "timeout", str(exc))
    except PeerFailed as exc:
        return base_row(case, meta, "failed", str(exc))
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. /dev/shm full, fd limit
        return base_row(case, meta, "failed", f"{type(exc).__name__}: {exc}")


def baseline_row(
    case: Case, meta: RunMeta, samples_ns: np.ndarray, messages_per_sample: int
) -> ResultRow:
    """An ok row for a baseline from raw per-message samples, each the mean over
    `messages_per_sample` messages. Many samples (round trips) are grouped into 5 repeats
    so the CI is built as for a case; few samples are one repeat each."""
    samples = np.asarray(samples_ns, dtype=np.float64)
    groups = np.array_split(samples, 5) if samples.size > 5 else np.split(samples, samples.size)
    outcomes = [
        RepeatOutcome(
            group,
            messages_per_sample * group.size,
            int(group.sum() * messages_per_sample),
        )
        for group in groups
    ]
    row = row_from_outcomes(case, meta, Settings(warmup=1), outcomes)
    return replace(row, cpu_s_per_msg=math.nan, ctx_switches_per_msg=math.nan)


class BaselineCache:
    """Measures the baselines of a placement the first time a case needs them, hands
    their rows to `on_row` (so they precede the cases they anchor) and keeps the figures."""

    def __init__(self, meta: RunMeta, on_row: Callable[[ResultRow], None]) -> None:
        self.meta = meta
        self.on_row = on_row
        self._by_placement: dict[str, Baselines | None] = {}

    def preload(self, rows: Iterable[ResultRow]) -> None:
        """Reuse the baselines already in a run folder (--resume): the resumed cases are
        judged against the same figures, and the CSV holds one set per placement."""
        found: dict[str, dict[tuple[str, str], ResultRow]] = {}
        for row in rows:
            if row.mechanism == baselines.MECHANISM and row.status == "ok":
                found.setdefault(row.placement, {})[(row.variant, row.pattern)] = row
        for placement, by_kind in found.items():
            try:
                self._by_placement[placement] = Baselines(
                    copy_bytes_per_s=by_kind[("memcpy", "stream")].bytes_per_s,
                    pipe_rtt_ns=by_kind[("os-pipe", "pingpong")].p50_ns,
                    lock_increments_per_s=by_kind[("lock", "counter")].msgs_per_s,
                )
            except KeyError:
                continue  # incomplete set (run killed while measuring): measure again

    def get(self, placement: str, start_method: str) -> Baselines | None:
        if placement not in self._by_placement:
            try:
                base, rows = baselines.measure(
                    placement,
                    start_method,
                    lambda case, samples, n: baseline_row(case, self.meta, samples, n),
                )
            except (OSError, RuntimeError, ValueError) as exc:
                case = Case(baselines.MECHANISM, "all", "stream", 1, 1, start_method, placement)
                base, rows = None, [base_row(case, self.meta, "failed", f"baseline: {exc}")]
            for row in rows:
                self.on_row(row)
            self._by_placement[placement] = base
        return self._by_placement[placement]

    def annotate(self, row: ResultRow) -> ResultRow:
        """The row with its efficiency against this run's baselines (ok rows only)."""
        if row.status != "ok":
            return row
        base = self.get(row.placement, row.start_method)
        return row if base is None else replace(row, efficiency=baselines.efficiency(row, base))


def run_planned(
    planned: Iterable[PlannedCase],
    settings: Settings,
    meta: RunMeta,
    on_row: Callable[[ResultRow], None],
    make_session: SessionFactory = session_for,
    before_case: Callable[[Case], None] = lambda case: None,
    baseline_cache: BaselineCache | None = None,
) -> None:
    """Run every planned case, handing each finished row to `on_row` at once. With
    meta.order_seed >= 0 the order is shuffled (seeded, recorded in every row), so a
    slow drift of the machine spreads over all mechanisms instead of biasing one."""
    planned = list(planned)
    if meta.order_seed >= 0:
        random.Random(meta.order_seed).shuffle(planned)
    for item in planned:
        before_case(item.case)
        if item.skip_reason:
            on_row(base_row(item.case, meta, "skipped", item.skip_reason))
        else:
            if baseline_cache is not None:
                baseline_cache.get(item.case.placement, item.case.start_method)
            row = run_case(item.case, settings, meta, make_session)
            on_row(baseline_cache.annotate(row) if baseline_cache is not None else row)


def with_settings(settings: Settings, **changes) -> Settings:
    return replace(settings, **changes)

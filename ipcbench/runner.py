"""Run cases and turn what the peers measured into result rows.

Both front ends (CLI and pytest) go through `run_case` / `measure`, so they produce
the same rows. Failures never escape as exceptions: they become rows with a reason.
"""

from __future__ import annotations

import math
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from ipcbench import __version__
from ipcbench.cases import Case, PlannedCase
from ipcbench.mechanisms import REGISTRY
from ipcbench.results import SCHEMA_VERSION, ResultRow
from ipcbench.session import CaseSession, CaseTimeout, PeerFailed, RepeatOutcome, derive_workload
from ipcbench.stats import per_second, summarize


@dataclass(frozen=True)
class Settings:
    """How hard to measure each case. Message counts scale with size so every case
    moves about `target_bytes` per repeat, within [min_messages, max_messages]."""

    repeats: int = 5
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
        if self.warmup < 0:
            raise ValueError(f"invalid warmup {self.warmup!r}: must be 0 or more")
        if self.deadline_s is not None and not self.deadline_s > 0:
            raise ValueError(f"invalid deadline {self.deadline_s!r}: must be positive seconds")


# Small enough for <= 60 s on 2 cores, big enough for a median over 5 repeats.
QUICK = Settings(repeats=5, warmup=1, target_bytes=16 << 20, max_messages=1000, increments=5000)


def messages_for(case: Case, settings: Settings) -> int:
    """Messages per timing peer and repeat (round trips, per producer, increments)."""
    if case.pattern == "counter":
        return settings.increments
    per_message = case.size_bytes * (2 if case.pattern == "pingpong" else case.procs)
    wanted = settings.target_bytes // per_message
    return int(min(max(wanted, settings.min_messages), settings.max_messages))


@dataclass(frozen=True)
class RunMeta:
    """Identity stamped on every row of one run."""

    machine_id: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    python: str = field(default_factory=lambda: sys.version.split()[0])


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
        status=status,
        reason=reason,
        python=meta.python,
        ipcbench_version=__version__,
        **values,
    )


def row_from_outcomes(
    case: Case, meta: RunMeta, settings: Settings, outcomes: list[RepeatOutcome]
) -> ResultRow:
    """Pure: the timed repeats of one case -> its ok row."""
    summary = summarize(np.concatenate([o.samples_ns for o in outcomes]))
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
        repeats=len(outcomes),  # may differ from settings.repeats (pytest --benchmark-disable)
        warmup=settings.warmup,
        messages=messages,
        duration_ns=duration_ns,
        cv=summary.cv,
        bytes_per_s=bytes_per_s,
        msgs_per_s=msgs_per_s,
        verified=True,
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
) -> ResultRow:
    """Measure one case: start peers, warm up, time `settings.repeats` repeats. Never raises
    for a failing case: a dead, hanging or lying peer becomes a failed/timeout row.

    `drive(repeat, count)` calls `repeat` `count` times; the pytest front end passes
    pytest-benchmark's pedantic mode here, so peers start outside its timed region."""
    try:
        with make_session(case, settings) as session:
            for index in range(settings.warmup):
                session.run_repeat(index)
            outcomes: list[RepeatOutcome] = []

            def repeat() -> None:
                outcomes.append(session.run_repeat(settings.warmup + len(outcomes)))

            drive(repeat, settings.repeats)
        return row_from_outcomes(case, meta, settings, outcomes)
    except CaseTimeout as exc:
        return base_row(case, meta, "timeout", str(exc))
    except PeerFailed as exc:
        return base_row(case, meta, "failed", str(exc))
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. /dev/shm full, fd limit
        return base_row(case, meta, "failed", f"{type(exc).__name__}: {exc}")


def run_planned(
    planned: Iterable[PlannedCase],
    settings: Settings,
    meta: RunMeta,
    on_row: Callable[[ResultRow], None],
    make_session: SessionFactory = session_for,
    before_case: Callable[[Case], None] = lambda case: None,
) -> None:
    """Run every planned case in order, handing each finished row to `on_row` at once."""
    for item in planned:
        before_case(item.case)
        if item.skip_reason:
            on_row(base_row(item.case, meta, "skipped", item.skip_reason))
        else:
            on_row(run_case(item.case, settings, meta, make_session))


def with_settings(settings: Settings, **changes) -> Settings:
    return replace(settings, **changes)

"""How hard to measure: the Settings record and the named matrices (quick/default/full).

Every case is measured in several independent sessions (fresh peers, fresh channel),
interleaved with the other cases of the run: between-session spread is what decides
whether a figure reproduces, so the row's figure, CI and noise flag are built from
session-level values (see session_stats.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from ipcbench.core.faults import Fault
from ipcbench.core.patterns import FANOUT, PINGPONG, STREAM, WORKQUEUE
from ipcbench.core.payload_kinds import PAYLOAD_KINDS, PAYLOADS
from ipcbench.core.schema import DEFAULT_PAYLOAD, Case

KiB, MiB = 1 << 10, 1 << 20


# However short the budget, every case gets this many sessions: the median of 3 has a
# CI between sessions ([min, max], 75%), and no case is left without a row.
FLOOR_SESSIONS = 3

# A short warm-up repeat (Settings.warmup_share) still moves this many messages, or the
# case's --depth if deeper: every slot of a ring (mechanisms.base.RING_SLOTS = 8) or of
# a channel's buffer should have been written once before the clock starts.
WARMUP_FLOOR_MESSAGES = 8


@dataclass(frozen=True)
class Settings:
    """Message counts scale with size so every session moves about `target_bytes` per
    repeat, within [min_messages, max_messages]."""

    sessions: int = 3  # independent sessions (blocks) per case, the minimum
    max_sessions: int = 0  # <= sessions: exactly `sessions`; else more while too noisy
    repeats: int = 3  # timed repeats per session
    warmup: int = 1  # untimed repeats per session, before them
    # A warm-up repeat moves this share of a timed repeat's messages (at least
    # WARMUP_FLOOR_MESSAGES): it has to fault the buffers in and run every code path
    # once, not to last as long as the timed repeat, and a full-length one spent a
    # quarter of a quick run's session time. A quarter showed no bias: sessions of
    # pipe, Queue and shm ping-pong and stream at 64 B-16 MiB alternated a quarter and a
    # whole warm-up, then timed two repeats; the first timed repeat over the second
    # differed between the two by +0.3% on average (11 of 18 cases higher, 14 sessions
    # each) and 0.0% at 4 KiB and 16 MiB (8 of 12).
    warmup_share: float = 1.0
    target_ci: float = 0.05  # a figure reproduces when its session-level CI is within +/-5%
    budget_s: float = 2.0  # a workload gets no more blocks once it used this much a case
    # The run's time from its first session (--budget); 0 = no limit. Past it no
    # workload gets another block once each case has `floor_sessions()`: a budget bounds
    # the whole run, not only its extras (a matrix bigger than its budget ends with
    # fewer sessions a case, and says so, instead of running for hours).
    run_budget_s: float = 0.0
    target_bytes: int = 32 << 20
    min_messages: int = 4
    max_messages: int = 2000
    increments: int = 5000  # counter pattern, per process and repeat
    deadline_s: float | None = None  # per repeat; None = derived from the case
    seed: int = 0
    fault: Fault | None = None  # the project's own tests only

    def __post_init__(self) -> None:
        for name in ("sessions", "repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"invalid {name} {value!r}: must be a whole number >= 1")
        if self.max_sessions < self.sessions:
            object.__setattr__(self, "max_sessions", self.sessions)
        if not 0 < self.target_ci < 1:
            raise ValueError(f"invalid precision {self.target_ci!r}: must be a fraction "
                             "in (0, 1), e.g. 0.05 for 5%")
        if not 0 <= self.run_budget_s <= 7 * 24 * 3600:
            raise ValueError(f"invalid budget {self.run_budget_s!r}: must be seconds in "
                             "[0, 604800]")
        if self.warmup < 0:
            raise ValueError(f"invalid warmup {self.warmup!r}: must be 0 or more")
        if not 0 < self.warmup_share <= 1:
            raise ValueError(f"invalid warm-up share {self.warmup_share!r}: must be a "
                             "fraction in (0, 1]")
        if self.deadline_s is not None and not 0 < self.deadline_s <= 3600:
            raise ValueError(
                f"invalid deadline {self.deadline_s!r}: must be seconds in (0, 3600]"
            )

    def floor_sessions(self) -> int:
        """The fewest sessions a budget leaves a case: FLOOR_SESSIONS, or `sessions`
        when fewer were asked for."""
        return min(self.sessions, FLOOR_SESSIONS)

    def messages_for(self, case: Case) -> int:
        """Messages per timing peer and repeat (round trips, per producer, increments)."""
        pattern = case.kind
        if pattern.starts_workers:
            return 1
        if not pattern.moves_payload:
            return self.increments
        wanted = self.target_bytes // pattern.bytes_per_step(case.size_bytes, case.procs)
        return int(min(max(wanted, self.min_messages), self.max_messages))

    def warmup_messages(self, messages: int, depth: int = 0) -> int:
        """Messages per timing peer in a warm-up repeat before timed ones of `messages`:
        `warmup_share` of them, rounded up, at least WARMUP_FLOOR_MESSAGES or the case's
        `depth` (never more than `messages`)."""
        if self.warmup_share >= 1:
            return messages
        share = math.ceil(messages * self.warmup_share)
        return min(messages, max(share, WARMUP_FLOOR_MESSAGES, depth))

    def with_changes(self, **changes) -> Settings:
        return replace(self, **changes)


@dataclass(frozen=True)
class Matrix:
    sizes_bytes: tuple[int, ...]
    procs: tuple[int, ...]
    settings: Settings
    # Pinned placements are the reproducible ones; `--placement unpinned` shows what an
    # application left to the scheduler sees (and how much it varies).
    placements: tuple[str, ...] = ("same-core", "cross-core")
    # Payload kinds other than raw bytes answer "is pickling my cost, or the transport?":
    # measured at a few sizes with one process per side, for pingpong and stream.
    extra_payloads: tuple[str, ...] = ()
    payload_sizes_bytes: tuple[int, ...] = ()
    # pattern -> the only mechanisms the matrix measures it with when the run names no
    # mechanisms (-m): keeps a small matrix small. Patterns not listed: every mechanism.
    pattern_mechanisms: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}))
    # pattern -> the only process counts the matrix measures it with when the run names
    # none (-n). Patterns not listed: every count in `procs`.
    pattern_procs: Mapping[str, tuple[int, ...]] = field(
        default_factory=lambda: MappingProxyType({}))
    # (mechanism, pattern, procs) shapes measured beside the grid at every size, raw
    # bytes: Queue with 3 producers and 1 consumer, which 1/2/4 would miss.
    extra_shapes: tuple[tuple[str, str, int], ...] = ()


# The quick matrix: within 90 s on 2 cores. Many short sessions rather than a few long
# ones: on a cloud VM a session's figure spans 0.73-1.20 of its case's median while the
# repeats inside one session agree within 2-2.5%, so one timed repeat a session and more
# sessions buy more precision per second. Each repeat moves 16 MiB (at least 16
# messages, at most 250): a 1 MiB case timed over 4 messages landed 1.5x apart between
# two runs in 40% of cases. 4 sessions a case, then blocks until every CI is within
# +/-5% or the run's 55 s are spent: at 5 sessions (262 cases) the minimum alone took
# about 60 s on a quiet 2-vCPU host and the run ~97 s with its charts; cut to 3-4 by a
# 55 s budget it took 68 s, and two runs still agreed within 10% on 89% of cases.
# A slow host's run ends at the budget with 3 sessions in some cases. Streams of two
# producers are measured for the seed channels only (pipe, Queue, shared memory: 207
# cases, was 262): every channel's took 30% of the session time, and on a slow AMD EPYC
# VM the run took 127-133 s with them, 81-93 s without. A quarter-length warm-up
# (warmup_share) and the probe's kept echo (harness/probe.py) then took that host's run
# from 626 sessions to 785 (most cases 4 instead of 3) in 77-80 s. Drawing the charts on
# two CPUs (plotting/drawing.py) took them from 21 s to 12 s; the budget took 7 s of that.
QUICK = Settings(sessions=4, max_sessions=12, repeats=1, warmup=1, warmup_share=0.25,
                 budget_s=2.0, run_budget_s=62.0, target_bytes=16 << 20, min_messages=16,
                 max_messages=250, increments=2000)

# Every kind but raw bytes (which every case measures); the codec kinds (msgpack, arrow)
# become skipped rows where their optional module is missing.
EXTRA_PAYLOADS = tuple(name for name in PAYLOAD_KINDS if name != DEFAULT_PAYLOAD)
# The default matrix's (PayloadKind.in_default_matrix): the serialiser comparisons
# (msgpack, dataframe vs arrow) cost 0.3 to 0.9 s a session at 1 MiB and would add ~15%
# of cases and ~40% of the time; they are in the full matrix and one flag away
# (--payload dataframe arrow).
DEFAULT_EXTRA_PAYLOADS = tuple(name for name in EXTRA_PAYLOADS
                               if PAYLOADS[name].in_default_matrix)

MATRICES = {
    # About 75 s on 2 cores (100 s on a busy one): every mechanism with one ping-pong
    # pair and with 1 and 2 producers streaming, 3 sizes, one (reproducible) placement,
    # raw bytes only; fan-out and the work queue with Pipe, Queue and shared memory only.
    # (Two ping-pong pairs on one core took 40% of the time and were the least
    # reproducible cases: the default matrix has them.)
    "quick": Matrix((64, 64 * KiB, 1 * MiB), (1, 2), QUICK, ("same-core",),
                    pattern_mechanisms=MappingProxyType({WORKQUEUE.name: ("queue",),
                                                        FANOUT.name: ("pipe", "queue", "shm")}),
                    pattern_procs=MappingProxyType({PINGPONG.name: (1,), STREAM.name: (1,)}),
                    extra_shapes=tuple((m, STREAM.name, 2) for m in ("pipe", "queue", "shm"))),
    # 64 B .. 16 MiB in steps of 16x, 1/2/4 processes (ping-pong pairs and fan-out
    # consumers 1/2), both pinned placements, the object, numpy and shm-view payloads
    # at 4 KiB and 1 MiB; 5 sessions a case (the 95% CI of a median of 5 is its
    # [min, max]), up to 16 while a CI is wider than +/-5%, all within 40 minutes.
    # Four concurrent ping-pong pairs and four fan-out consumers took 46% of the time
    # (a 16 MiB round trip of four pairs: 0.9 s a session) and 70 minutes of minimum
    # sessions in all; they are in the full matrix and one flag away (-n 4).
    "default": Matrix(
        (64, 4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB),
        (1, 2, 4),
        Settings(sessions=5, max_sessions=16, repeats=1, warmup_share=0.25, budget_s=3.0,
                 run_budget_s=2400.0, target_bytes=16 << 20, max_messages=1000),
        extra_payloads=DEFAULT_EXTRA_PAYLOADS,
        payload_sizes_bytes=(4 * KiB, 1 * MiB),
        extra_shapes=(("queue", "stream", 3),),
        pattern_procs=MappingProxyType({PINGPONG.name: (1, 2), FANOUT.name: (1, 2)}),
    ),
    # 64 B .. 16 MiB in steps of 4x, 1/2/4/8 processes, every placement and payload kind
    # (dataframe and arrow are skipped rows at 256 B: a DataFrame needs ~1.5 KiB).
    "full": Matrix(
        tuple(64 * 4**i for i in range(10)),
        (1, 2, 4, 8),
        Settings(sessions=8, max_sessions=20, repeats=1, budget_s=6.0, warmup=2),
        ("same-core", "cross-core", "unpinned"),
        extra_payloads=EXTRA_PAYLOADS,
        payload_sizes_bytes=(256, 4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB),
    ),
}

"""What to measure: the Case record and the expansion of a parameter matrix into cases."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ipcbench.mechanisms import REGISTRY, patterns_of, unavailable_reason
from ipcbench.payload import PAYLOAD_KINDS, PayloadSpec
from ipcbench.sizes import format_size

PATTERNS = ("pingpong", "stream", "fanout", "counter")
# Where peers run: left to the scheduler, all on one CPU, or spread over distinct CPUs.
# On small VMs a cross-core wakeup costs ~10x a same-core one, so this is recorded in
# every row and part of a case's identity.
PLACEMENTS = ("unpinned", "same-core", "cross-core")

# The counter pattern moves no payload: its "message" is one increment of an int64.
COUNTER_SIZE_BYTES = 8

# Upper bound on --procs: 64 peers on 2 cores is the documented stress point; far
# beyond that the OS, not the channel, is being measured.
MAX_PROCS = 256


@dataclass(frozen=True)
class Case:
    """One cell of the matrix. Immutable and hashable, so it can key results."""

    mechanism: str
    variant: str
    pattern: str
    size_bytes: int
    procs: int
    start_method: str
    placement: str = "unpinned"
    payload: str = "bytes"

    def __post_init__(self) -> None:
        if self.payload not in PAYLOAD_KINDS:
            raise ValueError(
                f"unknown payload {self.payload!r} (choose from {', '.join(PAYLOAD_KINDS)})"
            )
        if self.placement not in PLACEMENTS:
            raise ValueError(
                f"unknown placement {self.placement!r} (choose from {', '.join(PLACEMENTS)})"
            )
        if self.pattern not in PATTERNS:
            raise ValueError(
                f"unknown pattern {self.pattern!r} (choose from {', '.join(PATTERNS)})"
            )
        if self.size_bytes < 1:
            raise ValueError(f"invalid size {self.size_bytes!r}: must be at least 1 byte")
        if not 1 <= self.procs <= MAX_PROCS:
            raise ValueError(f"invalid procs {self.procs!r}: must be between 1 and {MAX_PROCS}")

    @property
    def label(self) -> str:
        """Short, stable, human-readable id (also the pytest parameter id)."""
        return (
            f"{self.mechanism}-{self.variant}-{self.pattern}-{format_size(self.size_bytes)}"
            f"-p{self.procs}-{self.start_method}-{self.placement}"
            + ("" if self.payload == "bytes" else f"-{self.payload}")
        )

    @property
    def peer_count(self) -> int:
        """Processes the case starts: pairs for pingpong, producers + consumer for stream,
        distributor + workers for fanout, incrementers for counter."""
        if self.pattern == "pingpong":
            return 2 * self.procs
        if self.pattern in ("stream", "fanout"):
            return self.procs + 1
        return self.procs


@dataclass(frozen=True)
class PlannedCase:
    """A case and, when it cannot run, why (it then becomes a `skipped` row)."""

    case: Case
    skip_reason: str = ""


def default_start_method() -> str:
    return multiprocessing.get_start_method(allow_none=False)


def available_start_methods() -> list[str]:
    return multiprocessing.get_all_start_methods()


def allowed_cpus() -> list[int]:
    """CPUs this process may run on ([] where affinity is not supported)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return []


def placement_skip_reason(placement: str, cpus: Sequence[int]) -> str:
    if placement == "unpinned":
        return ""
    if not cpus:
        return f"placement {placement} needs CPU affinity, which this platform lacks"
    if placement == "cross-core" and len(cpus) < 2:
        return "placement cross-core needs at least 2 usable CPUs, this process has 1"
    return ""


def cpus_for_peer(placement: str, peer_index: int, cpus: Sequence[int]) -> tuple[int, ...]:
    """The CPU set of peer `peer_index`: () = unpinned; same-core = the first allowed CPU
    for all; cross-core = round-robin, so the two ends of a pair (adjacent indices) and
    a consumer and its producer never share a CPU when there are enough CPUs."""
    if placement == "same-core":
        return (cpus[0],)
    if placement == "cross-core":
        return (cpus[peer_index % len(cpus)],)
    return ()


def expand(
    mechanisms: Sequence[str],
    patterns: Sequence[str],
    sizes_bytes: Sequence[int],
    procs: Sequence[int],
    start_methods: Sequence[str],
    variants: Sequence[str] | None = None,
    placements: Sequence[str] = ("unpinned",),
    cpus: Sequence[int] | None = None,
    payloads: Sequence[str] = ("bytes",),
) -> list[PlannedCase]:
    """Cross every axis. A (mechanism, pattern) with no variant for it is kept once per
    process count as a skipped case, so the omission is visible in the CSV, not silent;
    so is a placement this machine cannot provide, a mechanism whose optional module is
    missing, and a payload kind that cannot be built that small. The counter pattern
    moves no payload: it ignores the size and payload axes (COUNTER_SIZE_BYTES, bytes)."""
    cpus = allowed_cpus() if cpus is None else list(cpus)
    planned: list[PlannedCase] = []
    for placement, payload in itertools.product(placements, payloads):
        placement_reason = placement_skip_reason(placement, cpus)
        for item in _expand_one(
            mechanisms, patterns, sizes_bytes, procs, start_methods, variants, placement, payload
        ):
            case = item.case
            reason = (
                item.skip_reason
                or unavailable_reason(case.mechanism)  # e.g. pyzmq not installed
                or placement_reason
                or PayloadSpec(case.size_bytes, kind=case.payload).check_buildable()
            )
            planned.append(PlannedCase(case, reason))
    return planned


def _expand_one(
    mechanisms, patterns, sizes_bytes, procs, start_methods, variants, placement, payload
):
    planned: list[PlannedCase] = []
    seen: set[Case] = set()
    for start_method, mechanism, pattern in itertools.product(start_methods, mechanisms, patterns):
        if pattern == "counter" and payload != "bytes":
            continue  # counter rows exist once, under the bytes payload
        info = REGISTRY[mechanism]
        chosen = [v for v in info.variants if variants is None or v in variants]
        runnable = [v for v in chosen if pattern in info.variants[v]]
        sizes = [COUNTER_SIZE_BYTES] if pattern == "counter" else list(sizes_bytes)
        for size_bytes, n in itertools.product(sizes, procs):
            keys = (pattern, size_bytes, n, start_method, placement, payload)
            if runnable:
                for variant in runnable:
                    _add(planned, seen, Case(mechanism, variant, *keys))
            elif chosen:
                reason = f"{mechanism} does not support the {pattern} pattern" + (
                    f" (it supports: {', '.join(patterns_of(mechanism))})"
                )
                _add(planned, seen, Case(mechanism, chosen[0], *keys), reason)
    return planned


def _add(planned: list[PlannedCase], seen: set[Case], case: Case, reason: str = "") -> None:
    if case not in seen:
        seen.add(case)
        planned.append(PlannedCase(case, reason))


def runnable_cases(planned: Iterable[PlannedCase]) -> Iterator[Case]:
    return (p.case for p in planned if not p.skip_reason)

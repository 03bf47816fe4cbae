"""What to measure: the Case record and the expansion of a parameter matrix into cases."""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ipcbench.mechanisms import REGISTRY, patterns_of
from ipcbench.sizes import format_size

PATTERNS = ("pingpong", "stream", "counter")

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

    def __post_init__(self) -> None:
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
            f"-p{self.procs}-{self.start_method}"
        )

    @property
    def peer_count(self) -> int:
        """Processes the case starts: pairs for pingpong, producers + consumer for stream."""
        if self.pattern == "pingpong":
            return 2 * self.procs
        if self.pattern == "stream":
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


def expand(
    mechanisms: Sequence[str],
    patterns: Sequence[str],
    sizes_bytes: Sequence[int],
    procs: Sequence[int],
    start_methods: Sequence[str],
    variants: Sequence[str] | None = None,
) -> list[PlannedCase]:
    """Cross every axis. A (mechanism, pattern) with no variant for it is kept once per
    process count as a skipped case, so the omission is visible in the CSV, not silent.
    The counter pattern ignores the size axis (see COUNTER_SIZE_BYTES)."""
    planned: list[PlannedCase] = []
    seen: set[Case] = set()
    for start_method, mechanism, pattern in itertools.product(start_methods, mechanisms, patterns):
        info = REGISTRY[mechanism]
        chosen = [v for v in info.variants if variants is None or v in variants]
        runnable = [v for v in chosen if pattern in info.variants[v]]
        sizes = [COUNTER_SIZE_BYTES] if pattern == "counter" else list(sizes_bytes)
        for size_bytes, n in itertools.product(sizes, procs):
            if runnable:
                for variant in runnable:
                    _add(
                        planned,
                        seen,
                        Case(mechanism, variant, pattern, size_bytes, n, start_method),
                    )
            elif chosen:
                reason = f"{mechanism} does not support the {pattern} pattern" + (
                    f" (it supports: {', '.join(patterns_of(mechanism))})"
                )
                case = Case(mechanism, chosen[0], pattern, size_bytes, n, start_method)
                _add(planned, seen, case, reason)
    return planned


def _add(planned: list[PlannedCase], seen: set[Case], case: Case, reason: str = "") -> None:
    if case not in seen:
        seen.add(case)
        planned.append(PlannedCase(case, reason))


def runnable_cases(planned: Iterable[PlannedCase]) -> Iterator[Case]:
    return (p.case for p in planned if not p.skip_reason)

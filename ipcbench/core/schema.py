"""The result vocabulary, declared once: the case key and every closed set of choices.

A Case is one cell of the matrix and the identity of a result row; CASE_KEYS (the columns
that identify a case in results.csv, compare and charts) is derived from its fields, so
the key cannot be spelled two ways. Everything that needs a choice set (the CLI's
validation, the matrix, the readers) imports it from here, except the patterns and the
payload kinds, which are records of their own (patterns.py, payload_kinds.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ipcbench.core import patterns, payload_kinds
from ipcbench.core.sizes import format_size
from ipcbench.system.topology import (  # noqa: F401 - the placement vocabulary, re-exported
    EXPLICIT_PREFIX,
    TOPOLOGY_PLACEMENTS,
    explicit_cpus,
    explicit_placement,
)

STATUSES = ("ok", "skipped", "failed", "timeout")
# Where peers run: left to the scheduler, all on one CPU, or spread over distinct CPUs;
# or two peers on a pair of CPUs in a named topology relation (system/topology.py): SMT
# threads of one core, two cores of one L3 cache, two L3s of one socket, two sockets.
# On small VMs a cross-core wakeup costs ~10x a same-core one, on servers the relation
# moves a round trip 2-10x, so this is recorded in every row and part of a case's
# identity. `cpus:0,2` (explicit_placement) pins peer i to the i-th listed CPU.
PLACEMENTS = ("unpinned", "same-core", "cross-core", *TOPOLOGY_PLACEMENTS)
START_METHODS = ("fork", "spawn", "forkserver")
# The kind every case measures; the others are the matrices' and --payload's extras.
DEFAULT_PAYLOAD = payload_kinds.BYTES.name
DEFAULT_PLACEMENT = "unpinned"
# A reader's choice when a run has several and none is asked for (advise): where an
# application that pins nothing runs, else the matrices' first placement (the quick
# matrix's only one; every channel runs there but the busy-polling ones), then the other.
PREFERRED_PLACEMENTS = ("unpinned", "same-core", "cross-core")
# Rows of the in-run hardware baselines (baselines.py) carry this mechanism name.
BASELINE_MECHANISM = "baseline"
# Upper bound on --procs: 64 peers on 2 cores is the documented stress point; far
# beyond that the OS, not the channel, is being measured.
MAX_PROCS = 256
# Upper bound on --rate: a Python sender cannot keep 10 M messages/s; above it a typo.
MAX_RATE_PER_S = 10_000_000
# Most messages a channel may be asked to keep in flight (--depth): a ring of 4096 x 1 MiB
# chunks is already 4 GiB of /dev/shm.
MAX_DEPTH = 4096
MAX_BURST = 100_000


def check_placement(placement: str) -> str:
    """`placement` if it is a named placement or a well-formed explicit one."""
    if placement.startswith(EXPLICIT_PREFIX):
        explicit_cpus(placement)
        return placement
    return check_choice("placement", placement, PLACEMENTS)


def placement_rank(placement: str) -> int:
    """Reading order of placements: as declared, explicit CPU lists after them."""
    return PLACEMENTS.index(placement) if placement in PLACEMENTS else len(PLACEMENTS)


def check_choice(kind: str, value: str, allowed: tuple[str, ...] | list[str]) -> str:
    """`value` if it is one of `allowed`, else a one-line ValueError naming it."""
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r} (choose from {', '.join(allowed)})")
    return value


@dataclass(frozen=True)
class Case:
    """One cell of the matrix. Immutable and hashable, so it can key results."""

    mechanism: str
    variant: str
    pattern: str
    size_bytes: int
    procs: int
    start_method: str
    placement: str = DEFAULT_PLACEMENT
    payload: str = DEFAULT_PAYLOAD
    # Open loop: messages per second each sender keeps to (0 = as fast as it can, the
    # closed loop every pattern runs by default). Only patterns with a sender schedule.
    rate_per_s: int = 0
    # Messages the channel may hold in flight (--depth: ring slots, Queue maxsize, zmq's
    # high-water mark, a POSIX queue's depth); 0 = the channel's own default.
    depth: int = 0
    # Open loop in bursts (--burst): each sender's schedule ticks every burst / rate
    # seconds and sends `burst` messages back to back at each tick, all due then. 1 = a
    # message per tick (the steady schedule; the only value without a rate).
    burst: int = 1

    def __post_init__(self) -> None:
        check_choice("payload", self.payload, payload_kinds.READABLE_PAYLOAD_KINDS)
        check_placement(self.placement)
        check_choice("pattern", self.pattern, patterns.PATTERN_NAMES)
        if self.size_bytes < 1:
            raise ValueError(f"invalid size {self.size_bytes!r}: must be at least 1 byte")
        if not 1 <= self.procs <= MAX_PROCS:
            raise ValueError(f"invalid procs {self.procs!r}: must be between 1 and {MAX_PROCS}")
        if not 0 <= self.rate_per_s <= MAX_RATE_PER_S:
            raise ValueError(f"invalid rate {self.rate_per_s!r}: must be between 0 and "
                             f"{MAX_RATE_PER_S} messages per second")
        if not 0 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"invalid depth {self.depth!r}: must be between 1 and "
                             f"{MAX_DEPTH} messages in flight")
        if not 1 <= self.burst <= MAX_BURST:
            raise ValueError(f"invalid burst {self.burst!r}: must be between 1 and "
                             f"{MAX_BURST} messages per tick")
        if self.burst > 1 and not self.rate_per_s:
            raise ValueError("a burst needs a rate: it is how many messages each tick of "
                             "the sender's schedule sends")
        if self.rate_per_s and not self.kind.open_loop:
            scheduled = ", ".join(p.name for p in patterns.PATTERNS.values() if p.open_loop)
            raise ValueError(f"pattern {self.pattern} has no sender schedule: a rate "
                             f"applies to {scheduled}")

    @property
    def kind(self) -> patterns.Pattern:
        """The Pattern record of this case (roles, figure of merit, units)."""
        return patterns.PATTERNS[self.pattern]

    @property
    def key(self) -> tuple:
        """The values of CASE_KEYS, in order (how rows are matched and resumed)."""
        return tuple(getattr(self, name) for name in CASE_KEYS)

    @property
    def label(self) -> str:
        """Short, stable, human-readable id (also the pytest parameter id)."""
        return (
            f"{self.mechanism}-{self.variant}-{self.pattern}-{format_size(self.size_bytes)}"
            f"-p{self.procs}-{self.start_method}-{self.placement}"
            + ("" if self.payload == DEFAULT_PAYLOAD else f"-{self.payload}")
            + (f"-r{self.rate_per_s}" if self.rate_per_s else "")
            + (f"-d{self.depth}" if self.depth else "")
            + (f"-b{self.burst}" if self.burst > 1 else "")
        )

    @property
    def peer_count(self) -> int:
        return self.kind.peers(self.procs)


CASE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Case))

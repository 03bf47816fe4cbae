"""What a mechanism declares about itself: its `Variant`s and its `MechanismInfo`.

Every mechanism module ends with `INFO = MechanismInfo(...)`, beside the code it
describes; the registry (`ipcbench.mechanisms`) collects those records and is the only
place that reads them. A record holds data and explicit references (the Mechanism class,
the session class, the limit and end-of-run callables), so nothing is found by name.

This module imports nothing of the implementations, so every one of them can use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from ipcbench.core.patterns import (
    BIDIR,
    BROADCAST,
    FANOUT,
    PATTERN_NAMES,
    PINGPONG,
    PIPELINE,
    REQREP,
    STREAM,
    WORKQUEUE,
)

if TYPE_CHECKING:
    from ipcbench.core.schema import Case
    from ipcbench.mechanisms.base import Mechanism

# Pattern sets most channels share: a duplex pair and an N -> 1 stream; and the same for
# channels several processes can read from, message by message (a work queue as well).
STREAMS = (PINGPONG.name, STREAM.name)
SHARED = (*STREAMS, WORKQUEUE.name)


# Patterns the harness's peer session builds from a mechanism's one-way channels
# (Mechanism.broadcast, .pipeline, .request_reply: stream channels, each used by one
# thread), so every peer mechanism that streams runs them.
FROM_STREAM = (BROADCAST.name, PIPELINE.name, REQREP.name)
# bidir sends from one thread while another receives on the same endpoint: derived from
# pingpong's pairs, except where a module says why not (why_not[BIDIR]) or the variant
# busy-polls (two spinning threads of one process take turns on the GIL).
WHY_NOT_BIDIR_SPIN = ("a busy-polling peer's sending and receiving threads would take turns "
                      "on the GIL while spinning")


# Variant.depth of the ring variants: --depth sets their slot count.
RING_DEPTH = "ring slots"


def _derived(variant: Variant, why_not: Mapping[str, str]) -> Variant:
    """A peer mechanism's variant with the patterns built from its streams and pairs."""
    extra: tuple[str, ...] = ()
    if STREAM.name in variant.patterns:
        extra += tuple(p for p in FROM_STREAM if p not in why_not)
    if (PINGPONG.name in variant.patterns and BIDIR.name not in why_not
            and not variant.busy_polls):
        extra += (BIDIR.name,)
    return replace(variant, patterns=(*variant.patterns, *extra)) if extra else variant


def _in_reading_order(patterns: tuple[str, ...]) -> tuple[str, ...]:
    # Every channel that can stream can fan out (Mechanism.fan_out builds one stream
    # channel per consumer), so `fanout` comes with `stream`. Patterns are kept in the
    # reading order of patterns.PATTERN_NAMES.
    unknown = set(patterns) - set(PATTERN_NAMES)
    if unknown:
        raise ValueError(f"unknown patterns {sorted(unknown)} (known: {PATTERN_NAMES})")
    return tuple(p for p in PATTERN_NAMES
                 if p in patterns or (p == FANOUT.name and STREAM.name in patterns))


@dataclass(frozen=True)
class Variant:
    """One way of running a mechanism (a CSV row's `variant`) and what it supports."""

    name: str
    # The patterns it runs; `fanout` is added wherever `stream` is, and the order is
    # patterns.PATTERN_NAMES whatever the order given.
    patterns: tuple[str, ...]
    # Slots per channel: 1 = a mailbox (every message waits for the reader), N = a ring
    # the sender may run N messages ahead in (and the /dev/shm it needs grows N-fold).
    ring_slots: int = 1
    # True: peers busy-poll shared memory instead of sleeping in the kernel, which is
    # only fair where every peer has a CPU of its own (affinity.busy_poll_skip_reason).
    busy_polls: bool = False
    # What --depth sets for it ("ring slots", "Queue maxsize", ...); "" = it has no
    # in-flight limit a user can set (a mailbox, a kernel byte buffer), and cases asked
    # for a depth become skipped rows saying so.
    depth: str = ""
    # What its peers are when not the mechanism's own kind (MechanismInfo.in_process):
    # "threads" for the executor's ThreadPoolExecutor; "" = the mechanism's.
    peer_kind: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "patterns", _in_reading_order(tuple(self.patterns)))
        if self.ring_slots < 1:
            raise ValueError(f"variant {self.name}: ring_slots must be >= 1")


def find_variant(variants: tuple[Variant, ...], name: str) -> Variant:
    """The record named `name`; KeyError naming the known ones when there is none."""
    for variant in variants:
        if variant.name == name:
            return variant
    raise KeyError(f"no variant {name!r} (known: {', '.join(v.name for v in variants)})")


@dataclass(frozen=True)
class MechanismInfo:
    """A mechanism's metadata and entry points, as its own module declares them."""

    name: str  # the CSV rows' `mechanism` and the CLI's choice
    description: str  # one line for `ipcbench list` and the reports
    # Its variants, the first being the default one.
    variants: tuple[Variant, ...]
    # The class that builds its channels in the harness, for the harness's peer-process
    # session; None when the mechanism brings its own `session` instead.
    mechanism: type[Mechanism] | None = None
    # A session class with CaseSession's contract (context manager + run_repeat) when
    # there are no ipcbench peers to start (a pool's workers, Ray's actors, the fake).
    session: type | None = None
    # Optional third-party module it needs ("" = standard library only); when it is not
    # installed the mechanism's cases become skipped rows, not errors. The module is
    # imported only inside functions, so that the registry stays cheap to import.
    requires: str = ""
    # Payload kinds it can carry (None = all); others become skipped rows with the reason.
    payloads: tuple[str, ...] | None = None
    # pattern -> why this channel cannot run it, for the skipped rows (when not obvious).
    why_not: Mapping[str, str] = field(default_factory=dict)
    # pattern -> what --procs counts for this channel where it is not the pattern's own
    # (Pattern.procs_label): the executor's ping-pong runs one task at a time through a
    # pool of procs workers, not procs pairs side by side. Rankings keep such a channel
    # apart from its pattern's others at more than one proc (core/traits.py).
    procs_meaning: Mapping[str, str] = field(default_factory=dict)
    # case -> why this machine's limits rule it out ("" when they do not: a message-size
    # cap, a per-item cap), decided while planning, before any process starts.
    limit_reason: Callable[[Case], str] | None = None
    # Releases what the mechanism keeps for a whole run (Ray's runtime); called once at
    # the run's end, whether or not the mechanism ran, so it must only release what this
    # process started (never import an optional module or start anything).
    end_run: Callable[[], None] | None = None
    # True: its first case starts a runtime inside the harness that stays for the rest
    # of the run (Ray's driver: the harness went from ~170 MB to ~430 MB). Its cases run
    # after every other case, so those fork their peers from a lean harness (a fork
    # copies the page tables of all of it).
    runs_last: bool = False
    # "thread" / "interpreter": its peers run as threads (interpreter: some of them in
    # subinterpreters) of one host process (peer/group.py); "" for peer processes.
    in_process: str = ""
    # () -> why this Python cannot run it ("" when it can): a version or a built-in
    # module it needs, for the skipped rows (`requires` covers pip-installable modules).
    unavailable: Callable[[], str] | None = None
    # Hidden mechanisms (the tests' fake) are never offered by the CLI nor in a default run.
    hidden: bool = False

    def __post_init__(self) -> None:
        why_not = dict(self.why_not)
        variants = tuple(self.variants)
        if self.mechanism is not None:  # peers of the harness: the derived patterns too
            if any(v.busy_polls for v in variants) and BIDIR.name not in why_not:
                why_not[BIDIR.name] = WHY_NOT_BIDIR_SPIN
            variants = tuple(_derived(v, self.why_not) for v in variants)
        object.__setattr__(self, "variants", variants)
        object.__setattr__(self, "why_not", MappingProxyType(why_not))
        object.__setattr__(self, "procs_meaning", MappingProxyType(dict(self.procs_meaning)))
        unknown = set(self.procs_meaning) - set(PATTERN_NAMES)
        if unknown:
            raise ValueError(f"{self.name}: procs_meaning for unknown patterns {sorted(unknown)}")
        names = self.variant_names
        if not names or len(set(names)) != len(names):
            raise ValueError(f"{self.name}: needs variants with distinct names, got {names}")
        if (self.mechanism is None) == (self.session is None):
            raise ValueError(f"{self.name}: give exactly one of a Mechanism class and a "
                             "session class")

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    def variant(self, name: str) -> Variant:
        return find_variant(self.variants, name)

    @property
    def patterns(self) -> tuple[str, ...]:
        """Every pattern some variant runs, in reading order."""
        return _in_reading_order(tuple(p for v in self.variants for p in v.patterns))

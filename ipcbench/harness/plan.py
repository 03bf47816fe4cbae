"""Which cases to run: a named matrix, narrowed by the user's axes, expanded into cases.

A combination that cannot run here (an unsupported pattern, a missing optional module, a
placement this machine cannot provide, a payload that cannot be built that small, a
message beyond a system limit of the mechanism) is kept as a skipped case with the
reason, so the omission is visible in the CSV, not silent.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace

from ipcbench.core import patterns as pattern_kinds
from ipcbench.core.payload_kinds import get as payload_kind
from ipcbench.core.payload_kinds import payload_unavailable_reason
from ipcbench.core.schema import DEFAULT_PAYLOAD, Case
from ipcbench.core.settings import Matrix
from ipcbench.mechanisms import (
    REGISTRY,
    busy_polls,
    depth_reason,
    limit_reason,
    pattern_reason,
    patterns_of,
    payload_reason,
    public_names,
    unavailable_reason,
)
from ipcbench.payload.spec import PayloadSpec
from ipcbench.system.affinity import (
    allowed_cpus,
    busy_poll_skip_reason,
    peers_skip_reason,
    placement_skip_reason,
)


@dataclass(frozen=True)
class PlannedCase:
    """A case and, when it cannot run, why (it then becomes a `skipped` row)."""

    case: Case
    skip_reason: str = ""


def expand(
    mechanisms: Sequence[str],
    patterns: Sequence[str],
    sizes_bytes: Sequence[int],
    procs: Sequence[int],
    start_methods: Sequence[str],
    variants: Sequence[str] | None = None,
    placements: Sequence[str] = ("unpinned",),
    cpus: Sequence[int] | None = None,
    payloads: Sequence[str] = (DEFAULT_PAYLOAD,),
) -> list[PlannedCase]:
    """Cross every axis. A (mechanism, pattern) with no variant for it is kept once per
    process count as a skipped case, so the omission is visible in the CSV, not silent;
    so is a placement this machine cannot provide, a mechanism whose optional module is
    missing (or a payload kind's: msgpack, pyarrow), a payload kind that cannot be built
    that small, a busy-polling variant without a CPU for every peer, and a case beyond a
    mechanism's system limits. The counter and start-up have one size of their own
    (Pattern.fixed_size_bytes): they ignore the size and payload axes (bytes)."""
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
                or payload_reason(case.mechanism, case.payload)
                or payload_unavailable_reason(case.payload)  # e.g. pyarrow not installed
                or placement_reason
                or peers_skip_reason(placement, case.peer_count)
                or (busy_poll_skip_reason(placement, case.peer_count, cpus)
                    if busy_polls(case.mechanism, case.variant) else "")
                or PayloadSpec(case.size_bytes, kind=case.payload).check_buildable()
                or _header_reason(case)
                or _shared_payload_reason(case)
                or limit_reason(case)  # e.g. posix-mq's msgsize_max
            )
            planned.append(PlannedCase(case, reason))
    return planned


def _header_reason(case: Case) -> str:
    """Why a pattern that routes by the message header cannot run unframed messages."""
    if not case.kind.routes_by_header or PayloadSpec(case.size_bytes, kind=case.payload).framed:
        return ""
    return (f"{case.pattern} routes each reply by the sender in the request's header, "
            "which a message this short does not carry")


def _shared_payload_reason(case: Case) -> str:
    """Why a pattern cannot carry a payload that lives in the sender's shared memory."""
    why = case.kind.why_no_shared_payload
    if not why or not payload_kind(case.payload).shared_memory:
        return ""
    return f"{case.pattern} does not carry the {case.payload} payload: {why}"


def _expand_one(
    mechanisms, patterns, sizes_bytes, procs, start_methods, variants, placement, payload
):
    planned: list[PlannedCase] = []
    seen: set[Case] = set()
    for start_method, mechanism, pattern in itertools.product(start_methods, mechanisms, patterns):
        kind = pattern_kinds.get(pattern)
        if kind.fixed_size_bytes and payload != DEFAULT_PAYLOAD:
            continue  # counter and start-up rows exist once, under the bytes payload
        info = REGISTRY[mechanism]
        chosen = [v for v in info.variant_names if variants is None or v in variants]
        runnable = [v for v in chosen if pattern in info.variant(v).patterns]
        sizes = [kind.fixed_size_bytes] if kind.fixed_size_bytes else list(sizes_bytes)
        for size_bytes, n in itertools.product(sizes, procs):
            keys = (pattern, size_bytes, n, start_method, placement, payload)
            if runnable:
                for variant in runnable:
                    _add(planned, seen, Case(mechanism, variant, *keys))
            elif chosen:
                _add(planned, seen, Case(mechanism, chosen[0], *keys),
                     pattern_reason(mechanism, pattern))
    return planned


def _add(planned: list[PlannedCase], seen: set[Case], case: Case, reason: str = "") -> None:
    if case not in seen:
        seen.add(case)
        planned.append(PlannedCase(case, reason))


def runnable_cases(planned: Iterable[PlannedCase]) -> Iterator[Case]:
    return (p.case for p in planned if not p.skip_reason)


@dataclass(frozen=True)
class Axes:
    """The axes a run narrows its matrix to. None on an axis means the matrix's own:
    every public mechanism, every pattern, every variant, the matrix's sizes, process
    counts and placements, raw bytes plus the matrix's extra payload kinds, and no rate
    (each case once, at full speed). Start methods have no matrix default: the front end
    chooses them. The given sequences are kept as tuples, so the record cannot change."""

    start_methods: Sequence[str]
    mechanisms: Sequence[str] | None = None
    patterns: Sequence[str] | None = None
    variants: Sequence[str] | None = None
    sizes_bytes: Sequence[int] | None = None
    procs: Sequence[int] | None = None
    placements: Sequence[str] | None = None
    payloads: Sequence[str] | None = None
    rates: Sequence[int] | None = None
    # In-flight limits (--depth): every case of a variant with one, once per depth;
    # a variant without one gives a skipped row saying so.
    depths: Sequence[int] | None = None
    # Messages per tick of an open-loop schedule (--burst, with rates): every rated case
    # once per burst size.
    bursts: Sequence[int] | None = None

    def __post_init__(self) -> None:
        for axis in fields(self):
            value = getattr(self, axis.name)
            if value is not None:
                object.__setattr__(self, axis.name, tuple(value))

    def filled(self, matrix: Matrix) -> Axes:
        """The raw-bytes grid these axes ask of `matrix`: every axis expand() crosses set,
        the given ones kept, the others the matrix's own (variants stay None: every one)."""
        chosen = self.patterns or pattern_kinds.DEFAULT_PATTERN_NAMES
        # A mechanism that runs none of the run's patterns has nothing to do in it: with
        # no mechanisms named it is left out, not listed as a skipped row per case (the
        # start-up's workers in a run of channels, the channels in a start-up run).
        everyone = [name for name in public_names() if set(patterns_of(name)) & set(chosen)]
        return replace(
            self,
            mechanisms=self.mechanisms or everyone,
            patterns=chosen,
            sizes_bytes=self.sizes_bytes or matrix.sizes_bytes,
            procs=self.procs or matrix.procs,
            placements=self.placements or matrix.placements,
            payloads=self.payloads or (DEFAULT_PAYLOAD,),
        )


def plan(matrix: Matrix, axes: Axes) -> list[PlannedCase]:
    """The cases of `matrix`, narrowed by whatever axes are given. Payload kinds given
    explicitly are crossed with every size and process count; otherwise raw bytes get the
    full matrix and the matrix's extra payload kinds its payload sizes, one process.
    Open-loop `rates` are crossed with the cases of patterns that have a sender schedule;
    any other pattern asked for with them is a skipped row saying so. Unless mechanisms
    are given, a pattern the matrix scopes (Matrix.pattern_mechanisms) is planned for its
    mechanisms only; unless process counts are given, one it scopes with
    Matrix.pattern_procs for those counts only."""
    planned = _plan(matrix, axes)
    if axes.depths is not None:
        planned = with_depths(planned, axes.depths)
    if axes.rates is not None:
        planned = with_rates(planned, axes.rates)
    return planned if axes.bursts is None else with_bursts(planned, axes.bursts)


def with_bursts(planned: list[PlannedCase], bursts: Sequence[int]) -> list[PlannedCase]:
    """Every case on a schedule (a rate) once per burst size; a full-speed case has no
    ticks to fill and is kept as it is."""
    crossed = []
    for item in planned:
        if not item.case.rate_per_s:
            crossed.append(item)
            continue
        crossed += [PlannedCase(replace(item.case, burst=b), item.skip_reason) for b in bursts]
    return crossed


def with_depths(planned: list[PlannedCase], depths: Sequence[int]) -> list[PlannedCase]:
    """Each case once per depth where its variant has an in-flight limit to set; once,
    skipped with the reason, where it has none (a pipe's kernel buffer, a one-slot
    mailbox), unless the default (0) was asked for too: then it is measured once, at its
    own. The counter moves no messages: it is treated the same way."""
    crossed = []
    for item in planned:
        case = item.case
        why = (depth_reason(case.mechanism, case.variant) if case.kind.moves_payload
               else f"{case.pattern} moves no messages: it has no depth")
        if why:
            crossed.append(item if 0 in depths else PlannedCase(case, item.skip_reason or why))
            continue
        crossed += [PlannedCase(replace(case, depth=d), item.skip_reason) for d in depths]
    return crossed


def with_rates(planned: list[PlannedCase], rates: Sequence[int]) -> list[PlannedCase]:
    open_loop = ", ".join(p.name for p in pattern_kinds.PATTERNS.values() if p.open_loop)
    crossed = []
    for item in planned:
        case = item.case
        if not case.kind.open_loop:  # measured once, at full speed, if that was asked
            crossed.append(item if 0 in rates else PlannedCase(case, item.skip_reason or (
                f"{case.pattern} has no sender schedule (--rate applies to {open_loop})")))
            continue
        crossed += [PlannedCase(replace(case, rate_per_s=r), item.skip_reason) for r in rates]
    return crossed


def _expand_grid(grid: Axes) -> list[PlannedCase]:
    """expand() over a filled record (Axes.filled)."""
    return expand(mechanisms=grid.mechanisms, patterns=grid.patterns,
                  sizes_bytes=grid.sizes_bytes, procs=grid.procs,
                  start_methods=grid.start_methods, variants=grid.variants,
                  placements=grid.placements, payloads=grid.payloads)


def _extra_payloads(matrix: Matrix, axes: Axes, grid: Axes) -> list[PlannedCase]:
    """Without payload kinds given: the matrix's extra kinds, for the patterns that
    belong in the payload matrix, at its payload sizes and one process unless those
    were given."""
    extra_patterns = [p for p in grid.patterns if pattern_kinds.get(p).in_payload_matrix]
    if axes.payloads or not matrix.extra_payloads or not extra_patterns:
        return []
    return _expand_grid(replace(
        grid,
        patterns=extra_patterns,
        sizes_bytes=axes.sizes_bytes or matrix.payload_sizes_bytes,
        procs=(1,) if axes.procs is None else grid.procs,
        payloads=matrix.extra_payloads,
    ))


def _extra_shapes(matrix: Matrix, axes: Axes, grid: Axes,
                  planned: list[PlannedCase]) -> list[PlannedCase]:
    """The matrix's extra (mechanism, pattern, procs) shapes the narrowing flags still
    allow (raw bytes, every size), without repeating a case already planned."""
    if axes.procs is not None or axes.payloads:
        return []  # explicit process counts or payloads: exactly what was asked
    seen = {p.case for p in planned}
    extra = []
    for mechanism, pattern, count in matrix.extra_shapes:
        if mechanism not in grid.mechanisms or pattern not in grid.patterns:
            continue
        shape = replace(grid, mechanisms=(mechanism,), patterns=(pattern,), procs=(count,),
                        payloads=(DEFAULT_PAYLOAD,))
        extra += [p for p in _expand_grid(shape) if p.case not in seen]
    return extra


def _plan(matrix: Matrix, axes: Axes) -> list[PlannedCase]:
    grid = axes.filled(matrix)
    planned = _expand_grid(grid)
    planned += _extra_payloads(matrix, axes, grid)
    if axes.procs is None:
        counts_of = matrix.pattern_procs
        planned = [p for p in planned
                   if p.case.procs in counts_of.get(p.case.pattern, (p.case.procs,))]
    # After the process counts are narrowed: an extra shape adds a count the grid leaves
    # out (the quick matrix's streams of 2 producers, for the seed channels only).
    planned += _extra_shapes(matrix, axes, grid, planned)
    if axes.mechanisms:
        return planned
    scope = matrix.pattern_mechanisms
    return [p for p in planned
            if p.case.mechanism in scope.get(p.case.pattern, (p.case.mechanism,))]

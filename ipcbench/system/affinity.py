"""CPU placement: which CPUs each peer gets, and running work pinned or beside a child.

On small VMs a cross-core wakeup costs ~10x a same-core one, so where peers run is part
of a case's identity (schema.PLACEMENTS) and is applied here, the one place that calls
sched_setaffinity for the harness side. The topology placements (smt-sibling, same-l3,
cross-l3, cross-socket) put the two peers of a case on the lowest pair of allowed CPUs
in that relation (topology.py); an explicit `cpus:0,2` pins peer i to the i-th CPU.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache

from ipcbench.system.topology import (
    TOPOLOGY_PLACEMENTS,
    Topology,
    explicit_cpus,
    format_cpu_list,
    read_topology,
)

# Busy-polled channels publish with plain stores: correct only under x86's total store
# order, since Python cannot issue a memory fence (see mechanisms/spin.py).
_TSO_MACHINES = ("x86_64", "amd64", "i386", "i686")


def allowed_cpus() -> list[int]:
    """CPUs this process may run on ([] where affinity is not supported)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return []


@lru_cache(maxsize=1)
def machine_topology() -> Topology:
    """This machine's topology, read once (sysfs does not change during a run)."""
    return read_topology()


def placement_skip_reason(placement: str, cpus: Sequence[int],
                          topology: Topology | None = None) -> str:
    if placement == "unpinned":
        return ""
    if not cpus:
        return f"placement {placement} needs CPU affinity, which this platform lacks"
    if placement == "cross-core" and len(cpus) < 2:
        return "placement cross-core needs at least 2 usable CPUs, this process has 1"
    listed = explicit_cpus(placement)
    foreign = [c for c in listed if c not in cpus]
    if foreign:
        return (f"placement {placement}: CPU {foreign[0]} is not one this process may use "
                f"(allowed {format_cpu_list(cpus)})")
    if placement in TOPOLOGY_PLACEMENTS:
        return (topology or machine_topology()).pair_for(placement, cpus)[1]
    return ""


def peers_skip_reason(placement: str, peers: int) -> str:
    """A topology placement names the relation of two CPUs: it places two peers."""
    if placement in TOPOLOGY_PLACEMENTS and peers != 2:
        return f"placement {placement} places two peers (one pair); this case has {peers}"
    return ""


def own_cpus(placement: str) -> bool:
    """True when the placement gives every peer a CPU of its own (as many as there are)."""
    listed = explicit_cpus(placement)
    if listed:
        return len(set(listed)) == len(listed)
    return placement == "cross-core" or placement in TOPOLOGY_PLACEMENTS


def busy_poll_skip_reason(placement: str, peers: int, cpus: Sequence[int],
                          machine: str | None = None) -> str:
    """Why a busy-polling case cannot run fairly here ("" when it can): every peer needs
    a CPU of its own (cross-core placement, peers <= CPUs), or spinners steal the time
    their partners need; and the store ordering the protocol relies on."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in _TSO_MACHINES:
        return f"busy-polling relies on x86 store ordering; this machine is {machine}"
    if not own_cpus(placement):
        return (f"busy-polling needs every peer on its own CPU: placement cross-core, a "
                f"topology placement or distinct --cpus only (this case: {placement})")
    listed = explicit_cpus(placement)
    if listed and peers > len(listed):
        return (f"busy-polling needs every peer on its own CPU: {peers} peers, "
                f"{len(listed)} listed CPUs")
    if peers > len(cpus):
        return (f"busy-polling needs every peer on its own CPU: {peers} peers, "
                f"{len(cpus)} CPUs")
    return ""


def cpus_for_peer(placement: str, peer_index: int, cpus: Sequence[int],
                  topology: Topology | None = None) -> tuple[int, ...]:
    """The CPU set of peer `peer_index`: () = unpinned; same-core = the first allowed CPU
    for all; cross-core = round-robin, so the two ends of a pair (adjacent indices) and
    a consumer and its producer never share a CPU when there are enough CPUs; a topology
    placement = its pair, alternating; explicit = the listed CPUs, round-robin."""
    if placement == "same-core":
        return (cpus[0],)
    if placement == "cross-core":
        return (cpus[peer_index % len(cpus)],)
    listed = explicit_cpus(placement)
    if listed:
        return (listed[peer_index % len(listed)],)
    if placement in TOPOLOGY_PLACEMENTS:
        pair, reason = (topology or machine_topology()).pair_for(placement, cpus)
        if not pair:
            raise ValueError(reason)  # planning skipped such cases: not reached in a run
        return (pair[peer_index % 2],)
    return ()


def pinned(cpus: tuple[int, ...], work: Callable[[], object]):
    """Run `work` in this process pinned to `cpus` (() = as it is), then restore."""
    saved = allowed_cpus()
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        return work()
    finally:
        if cpus and saved:
            os.sched_setaffinity(0, saved)


class ChildStalled(TimeoutError):
    """The helper child of `with_child` made `work` outlast its deadline (stopped, or
    starved); it was killed. An OSError, so callers that survive a failed fork survive it."""


def with_child(
    ctx, target, args, parent_cpus: tuple[int, ...], work: Callable[[], object], join_s=10.0,
    deadline_s: float = 60.0,
):
    """Start `target(*args)` in a child, run `work` here pinned to parent_cpus, then
    join the child (killing it if it has not ended within `join_s`).

    Every wait is bounded: should `work` outlast `deadline_s` (a SIGSTOPped child), a
    timer kills the child, so `work` sees EOF or EPIPE and this raises ChildStalled. When
    `work` fails or is interrupted the child is killed at once: it waits for data that
    will never come, and a signal during the baselines must stop the run in under 2 s."""
    child = ctx.Process(target=target, args=args, daemon=True)
    child.start()
    stalled = threading.Event()

    def kill_stalled() -> None:
        stalled.set()
        child.kill()  # SIGKILL also ends a stopped child

    timer = threading.Timer(deadline_s, kill_stalled)
    timer.daemon = True
    timer.start()
    finished = False
    try:
        result = pinned(parent_cpus, work)
        finished = True
    except BaseException as exc:
        if stalled.is_set() and isinstance(exc, Exception):
            raise ChildStalled(f"helper child made no progress within {deadline_s:g} s; "
                               "killed it") from exc
        raise
    finally:
        timer.cancel()
        if finished:
            child.join(join_s)
        if child.is_alive():
            child.kill()
            child.join(join_s)
    return result

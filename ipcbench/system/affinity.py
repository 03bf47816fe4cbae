"""CPU placement: which CPUs each peer gets, and running work pinned or beside a child.

On small VMs a cross-core wakeup costs ~10x a same-core one, so where peers run is part
of a case's identity (schema.PLACEMENTS) and is applied here, the one place that calls
sched_setaffinity for the harness side.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Callable, Sequence

# Busy-polled channels publish with plain stores: correct only under x86's total store
# order, since Python cannot issue a memory fence (see mechanisms/spin.py).
_TSO_MACHINES = ("x86_64", "amd64", "i386", "i686")


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


def busy_poll_skip_reason(placement: str, peers: int, cpus: Sequence[int],
                          machine: str | None = None) -> str:
    """Why a busy-polling case cannot run fairly here ("" when it can): every peer needs
    a CPU of its own (cross-core placement, peers <= CPUs), or spinners steal the time
    their partners need; and the store ordering the protocol relies on."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in _TSO_MACHINES:
        return f"busy-polling relies on x86 store ordering; this machine is {machine}"
    if placement != "cross-core":
        return (f"busy-polling needs every peer on its own CPU: placement cross-core only "
                f"(this case: {placement})")
    if peers > len(cpus):
        return (f"busy-polling needs every peer on its own CPU: {peers} peers, "
                f"{len(cpus)} CPUs")
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

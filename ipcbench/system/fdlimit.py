"""File descriptors a session needs, checked before it starts anything.

Every peer holds its control pipe, its process sentinel and its channel's ends, and a
forked peer inherits every descriptor the harness has open. Measured on Linux (peak
open descriptors, harness and peers, 1 and 4 pairs of pipe, queue, shm, zmq, posix-mq,
fifo): about 6 per peer above what was open before, plus ~16 for a zmq context or a
queue's feeder. Short of that, libzmq aborts with a raw "Too many open files" line, a
failed SharedMemory create makes the resource tracker print a KeyError traceback, and
asyncio complains at exit: a case that cannot have its descriptors fails cleanly first.
"""

from __future__ import annotations

import os
import resource

FDS_PER_PEER = 6
FDS_BASE = 16


class TooFewDescriptors(OSError):
    """A session would run out of file descriptors; the row's reason says how many."""


def open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the one listdir itself holds
    except OSError:
        return 0  # no /proc: no check


def shortage(peers: int, limit: int | None = None, open_now: int | None = None) -> str:
    """Why a session of `peers` peers would run out of descriptors ("" when it would not)."""
    if limit is None:
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if limit == resource.RLIM_INFINITY:
        return ""
    open_now = open_descriptors() if open_now is None else open_now
    need = FDS_BASE + FDS_PER_PEER * peers
    free = limit - open_now
    if free >= need:
        return ""
    return (f"too few file descriptors for {peers} peers: about {need} needed, {free} of "
            f"the limit {limit} free (raise it: ulimit -n {open_now + need})")


def check(peers: int) -> None:
    reason = shortage(peers)
    if reason:
        raise TooFewDescriptors(reason)

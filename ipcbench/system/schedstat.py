"""How long a process waited for a CPU while runnable, in ns (/proc/<pid>/schedstat).

The machine-wide counters (disturbance.py) tick in jiffies (10 ms) while a session's
timed part lasts ~10-100 ms, so they cannot see what happened to one session. The
scheduler's run delay per task is kept in ns: a peer that was runnable but found its CPU
taken (by another tenant's process, the noisy neighbour, the harness) adds to it. Peers
blocked in a read are sleeping, not runnable, so a quiet ping-pong adds little.
"""

from __future__ import annotations

from collections.abc import Iterable


def read_run_delay_ns(pid: int) -> int | None:
    """The task's run delay so far (second field of schedstat); None when it cannot be
    read (the process is gone, or the kernel keeps no schedstats)."""
    try:
        with open(f"/proc/{pid}/schedstat", encoding="ascii") as handle:
            return int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None


def run_delays_ns(pids: Iterable[int]) -> dict[int, int]:
    """pid -> run delay so far, for the pids that could be read."""
    found = {}
    for pid in pids:
        delay = read_run_delay_ns(pid)
        if delay is not None:
            found[pid] = delay
    return found


def delay_between_ns(before: dict[int, int], after: dict[int, int]) -> int:
    """Run delay added between two readings, summed over the pids read both times."""
    return sum(max(0, after[pid] - before[pid]) for pid in before.keys() & after.keys())

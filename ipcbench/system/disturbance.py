"""What else the machine was doing while a case ran: CPU steal and other processes' load.

Read from /proc/stat (system-wide CPU time in clock ticks) around a whole session (start-up,
repeats, teardown) and set against the CPU time the harness and its reaped children (the
peers, a manager process) used in that time: what is left is someone else's work. Tick
accounting is coarse, so a case is judged over all its sessions together, and only once
they add up to enough CPU time (MIN_JUDGED_S per CPU). A case measured while the machine
was busy with other work, or while the hypervisor stole its CPUs, may not reproduce, so it
is flagged. Under forkserver the peers are the fork server's children, not ours: their
CPU then counts as foreign, so read the flag with that in mind.
Everything here degrades to "unknown" (NaN) where /proc/stat is missing.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Tick-based accounting is coarse (10 ms per CPU): judge only cases with enough time.
MIN_JUDGED_S = 0.1
FOREIGN_LIMIT = 0.20  # other processes used more than 20% of the machine
STEAL_LIMIT = 0.05  # the hypervisor took more than 5% of the CPU time


@dataclass(frozen=True)
class CpuTimes:
    busy_s: float  # user + nice + system + irq + softirq, all CPUs
    steal_s: float
    total_s: float  # every field, all CPUs (wall time x CPUs, roughly)


def read_cpu_times(path: str = "/proc/stat") -> CpuTimes | None:
    try:
        with open(path, encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]] + [0] * 8
    user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
    # guest time is already inside user/nice: count the first eight fields only
    busy = user + nice + system + irq + softirq
    total = busy + idle + iowait + steal
    return CpuTimes(busy / _TICKS_PER_S, steal / _TICKS_PER_S, total / _TICKS_PER_S)


def our_cpu_s() -> float:
    """CPU seconds of this process and of its children that have been waited for."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class Disturbance:
    """Machine time around some timed work, against the CPU our peers used in it."""

    total_s: float = 0.0  # CPU time available (all CPUs) while it ran
    foreign_s: float = 0.0  # busy CPU time that was not our peers'
    steal_s: float = 0.0

    def __add__(self, other: Disturbance) -> Disturbance:
        return Disturbance(self.total_s + other.total_s, self.foreign_s + other.foreign_s,
                           self.steal_s + other.steal_s)

    @property
    def foreign_frac(self) -> float:
        return self.foreign_s / self.total_s if self.total_s > 0 else math.nan

    @property
    def steal_frac(self) -> float:
        return self.steal_s / self.total_s if self.total_s > 0 else math.nan

    def disturbed(self, cpus: int) -> bool:
        """Enough time was observed, and other work or steal crossed its limit."""
        if not self.total_s >= MIN_JUDGED_S * max(cpus, 1):
            return False
        return self.foreign_frac > FOREIGN_LIMIT or self.steal_frac > STEAL_LIMIT


def between(before: CpuTimes | None, after: CpuTimes | None, ours_cpu_s: float) -> Disturbance:
    """Pure: the disturbance between two readings, given our peers' CPU seconds."""
    if before is None or after is None:
        return Disturbance()
    busy = after.busy_s - before.busy_s
    return Disturbance(
        total_s=max(0.0, after.total_s - before.total_s),
        foreign_s=max(0.0, busy - ours_cpu_s),
        steal_s=max(0.0, after.steal_s - before.steal_s),
    )

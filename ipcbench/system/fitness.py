"""Is this machine fit for stable numbers right now? (in the spirit of `pyperf system show`)

Each check returns the problems it sees as one-line sentences (short enough that the
warning line fits 80 columns); `ipcbench run` and
`ipcbench machine` print them as warnings and machine.json records them. Nothing here
refuses a run: a busy laptop still gives useful numbers, but they must say so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ipcbench.system.disturbance import CpuTimes, read_cpu_times

SAMPLE_S = 0.25  # how long the machine is watched for other load and steal
BUSY_LIMIT = 0.10  # other processes using more than 10% of the machine
STEAL_LIMIT = 0.02


def check_load(before: CpuTimes | None, after: CpuTimes | None, cpus: int) -> list[str]:
    """Pure: other load and CPU steal over an idle interval of ours."""
    if before is None or after is None or after.total_s <= before.total_s:
        return []
    total = after.total_s - before.total_s
    busy = (after.busy_s - before.busy_s) / total
    steal = (after.steal_s - before.steal_s) / total
    problems = []
    if busy > BUSY_LIMIT:
        problems.append(f"other processes use {busy:.0%} of {cpus} CPUs; figures will vary")
    if steal > STEAL_LIMIT:
        problems.append(f"the hypervisor steals {steal:.0%} of CPU time; figures will drift")
    return problems


def check_governor(governors: Sequence[str]) -> list[str]:
    """Pure: frequency scaling other than `performance` lets clock speed vary per run."""
    varying = sorted({g for g in governors if g and g != "performance"})
    if varying:
        return [f"CPU governor {', '.join(varying)} (not performance): clock varies"]
    return []


def check_cpus(cpus: int, placements: Sequence[str], max_procs: int) -> list[str]:
    """Pure: placements this machine cannot give every peer a CPU for."""
    problems = []
    if "cross-core" in placements and cpus < 2:
        problems.append("cross-core placement needs 2 CPUs, this process may use 1")
    if "cross-core" in placements and cpus >= 2 and max_procs + 1 > cpus:
        problems.append(f"{max_procs + 1} peers on {cpus} CPUs: large cross-core cases share CPUs")
    return problems


def _governors() -> list[str]:
    paths = Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor")
    return [p.read_text().strip() for p in paths if p.is_file()]


def check_machine(
    cpus: int,
    placements: Sequence[str] = (),
    max_procs: int = 1,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Every check, watching the machine for SAMPLE_S while this process sleeps."""
    before = read_cpu_times()
    sleep(SAMPLE_S)
    after = read_cpu_times()
    return (check_load(before, after, cpus) + check_governor(_governors())
            + check_cpus(cpus, placements, max_procs))

"""Refuse, before any process starts, a matrix the machine cannot hold, or one that
could not finish in a day even if every channel ran at memory speed."""

from __future__ import annotations

import shutil

import psutil

from ipcbench.core import payload_kinds
from ipcbench.core.settings import Settings
from ipcbench.core.sizes import format_size
from ipcbench.harness.plan import PlannedCase
from ipcbench.mechanisms import depth_slots
from ipcbench.payload.zerocopy import regions_for

# Mechanisms whose buffers live in /dev/shm (SharedMemory segments; multiprocessing's
# shared ctypes heap is backed by files there too).
_SHM_BACKED = {"shm", "value", "shareable-list"}


def buffers_bytes(item: PlannedCase) -> int:
    """Shared buffers one case allocates: one channel per direction and pair, or per
    producer / worker, each of one slot or a ring of them."""
    case = item.case
    channels = case.kind.channels(case.procs)
    return channels * depth_slots(case.mechanism, case.variant, case.depth) * case.size_bytes


def pools_bytes(item: PlannedCase) -> int:
    """shm-view region pools, at most one per peer (only senders have one), whatever the
    channel: they are SharedMemory segments in /dev/shm."""
    case = item.case
    if not payload_kinds.get(case.payload).shared_memory:
        return 0
    return case.peer_count * regions_for(case.size_bytes) * case.size_bytes


def check_resources(planned: list[PlannedCase]) -> None:
    runnable = [p for p in planned if not p.skip_reason]
    if not runnable:
        return
    try:
        shm_free = shutil.disk_usage("/dev/shm").free
    except OSError:
        shm_free = None
    # Each peer holds a payload and a received copy, plus the channel's own buffers.
    ram_free = psutil.virtual_memory().available
    for item in runnable:
        case = item.case
        need_ram = case.peer_count * 3 * case.size_bytes
        if need_ram > ram_free:
            raise ValueError(
                f"size {format_size(case.size_bytes)} with {case.procs} procs needs about "
                f"{format_size(need_ram)} of RAM, only {format_size(ram_free)} is available"
            )
        if shm_free is not None:
            need = pools_bytes(item) + (buffers_bytes(item) if case.mechanism in _SHM_BACKED
                                        else 0)
            if need > shm_free:
                raise ValueError(
                    f"size {format_size(case.size_bytes)} with {case.procs} procs needs "
                    f"{format_size(need)} in /dev/shm for {case.mechanism}, only "
                    f"{format_size(shm_free)} free"
                )


# A floor no channel beats: a Python message costs microseconds, a copy runs below
# 20 GB/s, a session's peers take milliseconds to start. What takes longer than a day
# at this speed is a typo (`--repeats 1000 --sessions 1000` at 64 MiB), not a run.
FLOOR_NS_PER_MESSAGE = 1_000
FLOOR_BYTES_PER_S = 20e9
FLOOR_SESSION_S = 0.005
MAX_RUN_S = 24 * 3600


def least_seconds(item: PlannedCase, settings: Settings) -> float:
    """A lower bound on one case's minimum sessions (warm-up and timed repeats)."""
    case = item.case
    messages = settings.messages_for(case)
    per_repeat_s = (messages * case.procs * FLOOR_NS_PER_MESSAGE / 1e9
                    + messages * case.kind.bytes_per_step(case.size_bytes, case.procs)
                    / FLOOR_BYTES_PER_S)
    repeats = settings.warmup + settings.repeats
    return settings.sessions * (FLOOR_SESSION_S + repeats * per_repeat_s)


def check_duration(planned: list[PlannedCase], settings: Settings) -> None:
    runnable = [p for p in planned if not p.skip_reason]
    least_s = sum(least_seconds(p, settings) for p in runnable)
    if least_s > MAX_RUN_S:
        raise ValueError(
            f"this matrix would take at least {least_s / 3600:,.0f} h even at memory speed "
            f"({len(runnable)} cases x {settings.sessions} sessions x "
            f"{settings.warmup + settings.repeats} repeats): lower --sessions, --repeats "
            "or the sizes")

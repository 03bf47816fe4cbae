"""Refuse, before any process starts, a matrix the machine cannot hold."""

from __future__ import annotations

import shutil

import psutil

from ipcbench.core import payload_kinds
from ipcbench.core.sizes import format_size
from ipcbench.harness.plan import PlannedCase
from ipcbench.mechanisms import ring_slots
from ipcbench.payload.zerocopy import regions_for

# Mechanisms whose buffers live in /dev/shm (SharedMemory segments; multiprocessing's
# shared ctypes heap is backed by files there too).
_SHM_BACKED = {"shm", "value", "shareable-list"}


def buffers_bytes(item: PlannedCase) -> int:
    """Shared buffers one case allocates: one channel per direction and pair, or per
    producer / worker, each of one slot or a ring of them."""
    case = item.case
    channels = (2 if case.kind.round_trip else 1) * case.procs
    return channels * ring_slots(case.mechanism, case.variant) * case.size_bytes


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

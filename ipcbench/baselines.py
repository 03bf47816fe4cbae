"""In-run hardware baselines: the floor and ceiling every case is judged against.

Measured in the same run, under the same placement as the cases, and written as rows
of their own (mechanism `baseline`):
- `memcpy` / stream: numpy copy bandwidth of a buffer larger than the caches, the
  ceiling for any throughput (an IPC transfer copies at least once);
- `os-pipe` / pingpong: a raw os.pipe round trip of 64 B between two processes, the
  floor for any pipe-based channel's latency;
- `os-pipe` / stream: raw os.pipe throughput in 1 MiB writes;
- `lock` / counter: uncontended increments of a multiprocessing.Value under its lock in
  one process, the ceiling for the shared counter.
Every case row then gets `efficiency` = its figure relative to the matching baseline,
so two machines can be compared on how close each gets to its own hardware.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ipcbench.cases import Case, allowed_cpus, cpus_for_peer
from ipcbench.results import ResultRow

MECHANISM = "baseline"
COPY_BYTES = 64 << 20
RTT_SIZE_BYTES = 64
RTT_COUNT = 2000
STREAM_CHUNK_BYTES = 1 << 20
STREAM_CHUNKS = 64
LOCK_INCREMENTS = 20000
REPEATS = 5


@dataclass(frozen=True)
class Baselines:
    copy_bytes_per_s: float
    pipe_rtt_ns: float
    lock_increments_per_s: float


def efficiency(row: ResultRow, base: Baselines) -> float:
    """Pure: how close a case gets to its baseline (1.0 = the hardware's figure)."""
    if row.status != "ok":
        return math.nan
    if row.pattern == "pingpong":
        return base.pipe_rtt_ns / row.p50_ns
    if row.pattern == "counter":
        return row.msgs_per_s / base.lock_increments_per_s
    return row.bytes_per_s / base.copy_bytes_per_s


# -- raw loops ------------------------------------------------------------------------
def _read_exact(fd: int, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise EOFError("pipe closed")
        got += n


def _write_all(fd: int, view: memoryview) -> None:
    sent = 0
    while sent < len(view):
        sent += os.write(fd, view[sent:])


def _echo(rfd: int, wfd: int, size: int, count: int, cpus: tuple[int, ...]) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    view = memoryview(bytearray(size))
    for _ in range(count):
        _read_exact(rfd, view)
        _write_all(wfd, view)


def _sink(rfd: int, size: int, count: int, cpus: tuple[int, ...]) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    view = memoryview(bytearray(size))
    for _ in range(count):
        _read_exact(rfd, view)


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


def with_child(
    ctx, target, args, parent_cpus: tuple[int, ...], work: Callable[[], object], join_s=10.0
):
    """Start `target(*args)` in a child, run `work` here pinned to parent_cpus, then
    join the child (killing it if it has not ended within `join_s`)."""
    child = ctx.Process(target=target, args=args, daemon=True)
    child.start()
    try:
        return pinned(parent_cpus, work)
    finally:
        child.join(join_s)
        if child.is_alive():
            child.kill()
            child.join()


def _fork():
    # The raw pipe fds reach the child only by inheritance: fork, whatever the run uses.
    return multiprocessing.get_context("fork")


def pipe_rtt_samples_ns(placement: str) -> np.ndarray:
    cpus = allowed_cpus()
    there, back = os.pipe(), os.pipe()
    payload = memoryview(bytes(range(RTT_SIZE_BYTES)))
    reply = memoryview(bytearray(RTT_SIZE_BYTES))
    count = RTT_COUNT * (REPEATS + 1)

    def work() -> np.ndarray:
        samples = np.empty(count, dtype=np.int64)
        for i in range(count):
            start = time.perf_counter_ns()
            _write_all(there[1], payload)
            _read_exact(back[0], reply)
            samples[i] = time.perf_counter_ns() - start
        if bytes(reply) != bytes(payload):
            raise RuntimeError("os.pipe baseline: echo differs from what was sent")
        return samples[RTT_COUNT:]  # the first RTT_COUNT are warm-up

    try:
        child_args = (there[0], back[1], RTT_SIZE_BYTES, count, cpus_for_peer(placement, 1, cpus))
        return with_child(_fork(), _echo, child_args, cpus_for_peer(placement, 0, cpus), work)
    finally:
        for fd in (*there, *back):
            os.close(fd)


def pipe_stream_samples_ns(placement: str) -> np.ndarray:
    """Per-chunk ns, one sample per repeat."""
    cpus = allowed_cpus()
    rfd, wfd = os.pipe()
    chunk = memoryview(np.random.default_rng(0).integers(0, 256, STREAM_CHUNK_BYTES, np.uint8))
    total = STREAM_CHUNKS * (REPEATS + 1)

    def work() -> np.ndarray:
        samples = []
        for _ in range(REPEATS + 1):
            start = time.perf_counter_ns()
            for _ in range(STREAM_CHUNKS):
                _write_all(wfd, chunk)
            samples.append((time.perf_counter_ns() - start) / STREAM_CHUNKS)
        return np.array(samples[1:])

    try:
        child_args = (rfd, STREAM_CHUNK_BYTES, total, cpus_for_peer(placement, 1, cpus))
        return with_child(_fork(), _sink, child_args, cpus_for_peer(placement, 0, cpus), work)
    finally:
        os.close(rfd)
        os.close(wfd)


def copy_samples_ns(size_bytes: int = COPY_BYTES) -> np.ndarray:
    source = np.random.default_rng(0).integers(0, 256, size_bytes, dtype=np.uint8)
    target = np.empty_like(source)
    samples = []
    for _ in range(REPEATS + 1):
        start = time.perf_counter_ns()
        np.copyto(target, source)
        samples.append(time.perf_counter_ns() - start)
    if not np.array_equal(source[-4096:], target[-4096:]):
        raise RuntimeError("memcpy baseline: copy differs")
    return np.array(samples[1:], dtype=np.float64)


def lock_samples_ns() -> np.ndarray:
    counter = multiprocessing.Value("q", 0)
    samples = []
    for _ in range(REPEATS + 1):
        start = time.perf_counter_ns()
        for _ in range(LOCK_INCREMENTS):
            with counter.get_lock():
                counter.value += 1
        samples.append((time.perf_counter_ns() - start) / LOCK_INCREMENTS)
    if counter.value != LOCK_INCREMENTS * (REPEATS + 1):
        raise RuntimeError("lock baseline: lost increments")
    return np.array(samples[1:])


# -- rows -------------------------------------------------------------------------------
def measure(placement: str, start_method: str, make_row) -> tuple[Baselines, list[ResultRow]]:
    """Measure every baseline for `placement`. `make_row(case, samples_ns,
    messages_per_sample)` builds each ok row (the runner owns row building)."""
    here = cpus_for_peer(placement, 0, allowed_cpus())
    rows = []

    def case(variant: str, pattern: str, size: int) -> Case:
        return Case(MECHANISM, variant, pattern, size, 1, start_method, placement)

    copy_ns = pinned(here, copy_samples_ns)
    rows.append(make_row(case("memcpy", "stream", COPY_BYTES), copy_ns, 1))
    rtt_ns = pipe_rtt_samples_ns(placement)
    rows.append(make_row(case("os-pipe", "pingpong", RTT_SIZE_BYTES), rtt_ns, 1))
    stream_ns = pipe_stream_samples_ns(placement)
    rows.append(make_row(case("os-pipe", "stream", STREAM_CHUNK_BYTES), stream_ns, STREAM_CHUNKS))
    lock_ns = pinned(here, lock_samples_ns)
    rows.append(make_row(case("lock", "counter", 8), lock_ns, LOCK_INCREMENTS))
    base = Baselines(
        copy_bytes_per_s=rows[0].bytes_per_s,
        pipe_rtt_ns=rows[1].p50_ns,
        lock_increments_per_s=rows[3].msgs_per_s,
    )
    return base, [replace(r, efficiency=1.0) for r in rows]


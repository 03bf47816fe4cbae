"""Harness overhead, measured: the harness's figure for a case next to a minimal
hand-written loop doing the same transfer, in the same run, interleaved.

If the ratio drifts far from 1, the harness is measuring itself, not the channel."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from ipcbench.cases import Case
from ipcbench.runner import RunMeta, Settings, run_case

ROUND_TRIPS = 2000


def _echo(conn, count: int) -> None:
    for _ in range(count):
        conn.send_bytes(conn.recv_bytes())


def hand_pipe_pingpong_p50_ns(ctx, size_bytes: int, round_trips: int = ROUND_TRIPS) -> float:
    """The textbook loop: parent sends, child echoes, parent times each round trip."""
    parent_end, child_end = ctx.Pipe()
    child = ctx.Process(target=_echo, args=(child_end, round_trips + 100), daemon=True)
    child.start()
    try:
        payload = bytes(size_bytes)
        for _ in range(100):  # warm-up, as the harness does
            parent_end.send_bytes(payload)
            parent_end.recv_bytes()
        samples = np.empty(round_trips, dtype=np.int64)
        for i in range(round_trips):
            start = time.perf_counter_ns()
            parent_end.send_bytes(payload)
            parent_end.recv_bytes()
            samples[i] = time.perf_counter_ns() - start
        return float(np.median(samples))
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()


def _drain(name: str, size_bytes: int, count: int, filled, empty, done) -> None:
    segment = shared_memory.SharedMemory(name=name)
    view = np.ndarray(size_bytes, np.uint8, buffer=segment.buf)
    private = np.empty(size_bytes, np.uint8)
    start = None
    for _ in range(count):
        filled.acquire()
        if start is None:
            start = time.perf_counter_ns()
        np.copyto(private, view)
        empty.release()
    done.put(time.perf_counter_ns() - start)
    del view
    segment.close()


def hand_shm_stream_bytes_per_s(ctx, size_bytes: int, messages: int = 40) -> float:
    """Producer copies into a segment, consumer copies out; semaphores hand off."""
    segment = shared_memory.SharedMemory(create=True, size=size_bytes)
    try:
        filled, empty, done = ctx.Semaphore(0), ctx.Semaphore(1), ctx.SimpleQueue()
        child = ctx.Process(
            target=_drain,
            args=(segment.name, size_bytes, messages, filled, empty, done),
            daemon=True,
        )
        child.start()
        view = np.ndarray(size_bytes, np.uint8, buffer=segment.buf)
        payload = np.random.default_rng(0).integers(0, 256, size_bytes, dtype=np.uint8)
        for _ in range(messages):
            empty.acquire()
            np.copyto(view, payload)
            filled.release()
        duration_ns = done.get()
        child.join(5)
        del view
        # The consumer's clock starts at the first message: it timed messages - 1 gaps.
        return (messages - 1) * size_bytes * 1e9 / duration_ns
    finally:
        segment.close()
        segment.unlink()


def copy_bandwidth_bytes_per_s(size_bytes: int, repeats: int = 20) -> float:
    """Median numpy copy bandwidth between two private buffers: the memory ceiling."""
    source = np.random.default_rng(0).integers(0, 256, size_bytes, dtype=np.uint8)
    target = np.empty_like(source)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        np.copyto(target, source)
        samples.append(time.perf_counter_ns() - start)
    return size_bytes * 1e9 / statistics.median(samples)


@dataclass(frozen=True)
class Comparison:
    what: str
    harness: float
    hand: float
    unit: str

    @property
    def ratio(self) -> float:
        return self.harness / self.hand


def run_selfcheck(rounds: int = 5, start_method: str | None = None) -> list[Comparison]:
    """Interleave harness and hand-written measurements `rounds` times; compare medians."""
    method = start_method or multiprocessing.get_start_method(allow_none=False)
    ctx = multiprocessing.get_context(method)
    meta = RunMeta("selfcheck")
    settings = Settings(repeats=5, warmup=1, max_messages=ROUND_TRIPS // 5)
    ping = Case("pipe", "bytes", "pingpong", 64, 1, method)
    stream = Case("shm", "segment", "stream", 16 << 20, 1, method)
    stream_settings = Settings(repeats=5, warmup=1, target_bytes=8 * (16 << 20))
    h_ping, m_ping, h_stream, m_stream = [], [], [], []
    for _ in range(rounds):
        h_ping.append(run_case(ping, settings, meta).p50_ns)
        m_ping.append(hand_pipe_pingpong_p50_ns(ctx, 64))
        h_stream.append(run_case(stream, stream_settings, meta).bytes_per_s)
        m_stream.append(hand_shm_stream_bytes_per_s(ctx, 16 << 20))
    return [
        Comparison("pipe pingpong 64B p50", statistics.median(h_ping),
                   statistics.median(m_ping), "ns"),
        Comparison("shm stream 16MiB throughput", statistics.median(h_stream),
                   statistics.median(m_stream), "B/s"),
    ]

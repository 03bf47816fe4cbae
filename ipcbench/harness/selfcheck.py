"""Harness overhead, measured: the harness's figure for a case next to a minimal
hand-written loop doing the same transfer, in the same run, interleaved, with the same
CPU placement.

If the ratio drifts far from 1, the harness is measuring itself, not the channel."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from ipcbench.core.patterns import PINGPONG, STREAM
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.baselines import copy_samples_ns
from ipcbench.harness.rows import RunMeta
from ipcbench.harness.runner import run_case
from ipcbench.system.affinity import allowed_cpus, cpus_for_peer, with_child

ROUND_TRIPS = 2000
STREAM_BYTES = 16 << 20
STREAM_MESSAGES = 40


def _cpus(placement: str, peer_index: int) -> tuple[int, ...]:
    return cpus_for_peer(placement, peer_index, allowed_cpus())


def _pin(placement: str, peer_index: int) -> None:
    """In a child: pin like peer `peer_index` of a case."""
    cpus = _cpus(placement, peer_index)
    if cpus:
        os.sched_setaffinity(0, cpus)


def _echo(conn, count: int, placement: str) -> None:
    _pin(placement, 1)
    for _ in range(count):
        conn.send_bytes(conn.recv_bytes())


def _drain(name: str, size_bytes: int, count: int, filled, empty, done, placement) -> None:
    _pin(placement, 1)
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


def hand_pipe_pingpong_p50_ns(ctx, size_bytes: int, placement: str) -> float:
    """The textbook loop: parent sends, child echoes, parent times each round trip."""
    parent_end, child_end = ctx.Pipe()

    def work() -> float:
        payload = bytes(size_bytes)
        for _ in range(100):  # warm-up, as the harness does
            parent_end.send_bytes(payload)
            parent_end.recv_bytes()
        samples = np.empty(ROUND_TRIPS, dtype=np.int64)
        for i in range(ROUND_TRIPS):
            start = time.perf_counter_ns()
            parent_end.send_bytes(payload)
            parent_end.recv_bytes()
            samples[i] = time.perf_counter_ns() - start
        return float(np.median(samples))

    args = (child_end, ROUND_TRIPS + 100, placement)
    return with_child(ctx, _echo, args, _cpus(placement, 0), work, join_s=5.0)


def hand_shm_stream_bytes_per_s(ctx, placement: str) -> float:
    """Producer copies into a segment, consumer copies out; semaphores hand off."""
    segment = shared_memory.SharedMemory(create=True, size=STREAM_BYTES)
    filled, empty, done = ctx.Semaphore(0), ctx.Semaphore(1), ctx.SimpleQueue()
    args = (segment.name, STREAM_BYTES, STREAM_MESSAGES, filled, empty, done, placement)

    def work() -> float:
        view = np.ndarray(STREAM_BYTES, np.uint8, buffer=segment.buf)
        payload = np.random.default_rng(0).integers(0, 256, STREAM_BYTES, dtype=np.uint8)
        for _ in range(STREAM_MESSAGES):
            empty.acquire()
            np.copyto(view, payload)
            filled.release()
        del view
        # The consumer's clock starts at the first message: it timed messages - 1 gaps.
        return (STREAM_MESSAGES - 1) * STREAM_BYTES * 1e9 / done.get()

    try:
        return with_child(ctx, _drain, args, _cpus(placement, 0), work, join_s=5.0)
    finally:
        segment.close()
        segment.unlink()


def copy_bandwidth_bytes_per_s() -> float:
    """Median numpy copy bandwidth between two private buffers: the memory ceiling."""
    return STREAM_BYTES * 1e9 / float(np.median(copy_samples_ns(STREAM_BYTES)))


@dataclass(frozen=True)
class Comparison:
    what: str
    harness: float
    hand: float
    unit: str

    @property
    def ratio(self) -> float:
        return self.harness / self.hand


def run_selfcheck(rounds: int = 5, placement: str = "same-core") -> list[Comparison]:
    """Interleave harness and hand-written measurements `rounds` times; compare medians."""
    method = multiprocessing.get_start_method(allow_none=False)
    ctx = multiprocessing.get_context(method)
    meta = RunMeta("selfcheck")
    # One session per round, as the hand-written loops start one process pair per round.
    ping = Case("pipe", "bytes", PINGPONG.name, 64, 1, method, placement)
    ping_settings = Settings(sessions=1, repeats=5, warmup=1, max_messages=ROUND_TRIPS // 5)
    stream = Case("shm", "segment", STREAM.name, STREAM_BYTES, 1, method, placement)
    stream_settings = Settings(sessions=1, repeats=5, warmup=1, target_bytes=8 * STREAM_BYTES)
    h_ping, m_ping, h_stream, m_stream = [], [], [], []
    for _ in range(rounds):
        h_ping.append(run_case(ping, ping_settings, meta).p50_ns)
        m_ping.append(hand_pipe_pingpong_p50_ns(ctx, 64, placement))
        h_stream.append(run_case(stream, stream_settings, meta).bytes_per_s)
        m_stream.append(hand_shm_stream_bytes_per_s(ctx, placement))
    return [
        Comparison(
            f"pipe pingpong 64B p50 ({placement})",
            statistics.median(h_ping),
            statistics.median(m_ping),
            "ns",
        ),
        Comparison(
            f"shm stream 16MiB ({placement})",
            statistics.median(h_stream),
            statistics.median(m_stream),
            "B/s",
        ),
    ]

"""The timed loops peers run, one per role.

Each role gets its endpoint, its Wire (payload/wire.py: how its payload kind is sent
and checked) and the start barrier, runs one repeat and
returns what the harness needs: ping -> per-round-trip ns samples; consumer -> the
repeat's duration and every message's one-way latency; worker -> its latencies;
dequeuer -> how many messages it took, their headers and latencies (the harness checks
the total and every sequence); distributor / enqueuer #0 / incrementer #0 -> the
duration up to an end barrier that every peer reaches when done (so every duration is
taken in one process).

One-way latency (framing.py): the sender stamps each message just before it builds it
(closed loop) or with the time it was due (open loop, `rate_per_s`); the receiver reads
its clock once the message is in hand and decoded. What that puts inside the interval
for each payload kind (pickling and unpickling for `object`, the write into shared
memory and the in-place read for `shm-view`, ...) is its record's `in_latency`
(core/payload_kinds.py). The loops never look at the kind: the Wire picked its send and
open paths once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from array import array

import numpy as np

from ipcbench.mechanisms.base import END, is_end
from ipcbench.payload.framing import (
    SEQUENCE_BITS,
    SEQUENCE_MASK,
    Expected,
    SequenceError,
    one_way_ns,
    tag,
)
from ipcbench.payload.wire import Wire

BARRIER_TIMEOUT_S = 120.0
_SPIN_NS = 60_000  # open loop: spin the last 60 µs before a message is due


class Arrivals:
    """A receiver's record of one repeat: each message's header and arrival time, in
    preallocated arrays (a store per message, nothing allocated in the timed loop)."""

    def __init__(self, count: int) -> None:
        self.words = array("I", bytes(4 * count))
        self.stamps = array("I", bytes(4 * count))
        self.times = array("q", bytes(8 * count))

    def latencies_ns(self) -> np.ndarray:
        return one_way_ns(np.frombuffer(self.stamps, dtype=np.uint32),
                          np.frombuffer(self.times, dtype=np.int64))


def wait_until(due_ns: int, clock=time.perf_counter_ns) -> None:
    """Sleep, then spin the last stretch, until `due_ns` (an open-loop schedule): sleep
    alone wakes up tens of µs late, spinning all the way would steal a shared core."""
    ahead_ns = due_ns - clock()
    if ahead_ns > _SPIN_NS:
        time.sleep((ahead_ns - _SPIN_NS) / 1e9)
    while clock() < due_ns:
        pass


def send_many(endpoint, wire: Wire, count: int, rate_per_s: float = 0.0,
              clock=time.perf_counter_ns, wait=wait_until, burst: int = 1) -> None:
    """Send `count` messages. Closed loop (rate 0): each stamped just before it is built
    (serialisation is inside the latency). Open loop: message i is due at start + i/rate
    and stamped with that due time, so a stall counts against every message it delays.
    In bursts of B: messages are due B at a time, message i at the tick of i - i mod B
    (the same average rate), so the later ones of a burst count its queueing.
    `clock` and `wait(due_ns)` are injectable (tests drive a virtual clock)."""
    send, message = endpoint.send, wire.message
    if rate_per_s <= 0:
        for _ in range(count):
            send(message(clock()))
        return
    period_ns = 1e9 / rate_per_s
    start_ns = clock()
    for i in range(count):
        due_ns = start_ns + int((i - i % burst) * period_ns)
        if clock() < due_ns:
            wait(due_ns)
        send(message(due_ns))


def receive_many(endpoint, wire: Wire, count: int, where: str) -> Arrivals:
    """Receive and open `count` messages, checking every length; record each header and
    the time it was in hand (after decoding: the receiver's work is inside)."""
    size, open_, recv, clock = wire.wire_bytes, wire.open, endpoint.recv, time.perf_counter_ns
    arrivals = Arrivals(count)
    words, stamps, times = arrivals.words, arrivals.stamps, arrivals.times
    for i in range(count):
        message = recv()
        if size is not None and len(message) != size:
            raise ValueError(f"{where}: message {i} has {len(message)} bytes, expected {size}")
        words[i], stamps[i] = open_(message)
        times[i] = clock()
    return arrivals


def _received(spec, wire: Wire, arrivals: Arrivals, expected: Expected | None,
              each: int | None) -> np.ndarray:
    """After a receiving repeat: check the last body and every sequence; return the
    one-way latencies (empty when messages carry no header)."""
    wire.check(f"{spec.name} last message")
    if not wire.framed:
        return np.empty(0, dtype=np.int64)
    expected.check(np.frombuffer(arrivals.words, dtype=np.uint32), spec.name, each)
    return arrivals.latencies_ns()


def send_ends(endpoint, count: int) -> None:
    """The workqueue's end of stream: `count` END markers (one per consumer)."""
    for _ in range(count):
        endpoint.send(END)


def receive_until_ends(endpoint, wire: Wire, ends: int, where: str) -> Arrivals:
    """Receive and open messages (checking every length) until `ends` END markers have
    arrived; record each header and arrival time like receive_many (the count is not
    known in advance: the arrays grow)."""
    size, open_, recv, clock = wire.wire_bytes, wire.open, endpoint.recv, time.perf_counter_ns
    arrivals = Arrivals(0)
    words, stamps, times = arrivals.words, arrivals.stamps, arrivals.times
    seen = 0
    while seen < ends:
        message = recv()
        if is_end(message):
            seen += 1
            continue
        if size is not None and len(message) != size:
            raise ValueError(f"{where}: message {len(times)} has {len(message)} bytes, "
                             f"expected {size}")
        word, stamp = open_(message)
        times.append(clock())
        words.append(word)
        stamps.append(stamp)
    return arrivals


def ping(spec, endpoint, wire: Wire, barrier) -> np.ndarray:
    samples_ns = np.empty(spec.messages, dtype=np.int64)
    clock, message, open_ = time.perf_counter_ns, wire.message, wire.open
    send, recv, framed, base = endpoint.send, endpoint.recv, wire.framed, tag(wire.sender, 0)
    for i in range(spec.messages):
        start = clock()
        request = wire.sent
        send(message(start))
        word, _ = open_(recv())
        samples_ns[i] = clock() - start
        if framed and word != base | (request & SEQUENCE_MASK):
            raise SequenceError(f"{spec.name}: reply {word & SEQUENCE_MASK} to request "
                                f"{request & SEQUENCE_MASK} (stale or foreign)")
    # The echo of the last round trip must be exactly what was sent.
    wire.check(f"{spec.name} echo")
    return samples_ns


def pong(spec, endpoint, wire: Wire, barrier) -> None:
    send, recv, echo = endpoint.send, endpoint.recv, wire.echo
    for _ in range(spec.messages):
        send(echo(recv()))
    return None


def produce(spec, endpoint, wire: Wire, barrier) -> None:
    send_many(endpoint, wire, spec.messages, spec.rate_per_s, burst=spec.burst)
    return None


def consume(spec, endpoint, wire: Wire, barrier) -> tuple[int, np.ndarray]:
    """The repeat's duration in ns (from the barrier to the last message in hand) and
    every message's one-way latency."""
    clock = time.perf_counter_ns
    start = clock()
    arrivals = receive_many(endpoint, wire, spec.messages, spec.name)
    duration_ns = clock() - start
    expected = _consumer_expects(spec, wire)
    return duration_ns, _received(spec, wire, arrivals, expected, spec.messages // spec.fan)


def distribute(spec, endpoint, wire: Wire, barrier) -> int:
    """Fan-out producer: sends round-robin to every worker, then waits for all of them."""
    clock = time.perf_counter_ns
    start = clock()
    send_many(endpoint, wire, spec.messages, spec.rate_per_s, burst=spec.burst)
    barrier.wait(BARRIER_TIMEOUT_S)
    return clock() - start


def work(spec, endpoint, wire: Wire, barrier) -> np.ndarray:
    """Fan-out worker #k: the distributor's messages k, k+n, k+2n, ...; its latencies."""
    arrivals = receive_many(endpoint, wire, spec.messages, spec.name)
    expected = _worker_expects(spec, wire)
    latencies = _received(spec, wire, arrivals, expected, spec.messages)
    barrier.wait(BARRIER_TIMEOUT_S)  # the distributor's clock stops when all are here
    return latencies


def _consumer_expects(spec, wire: Wire) -> Expected:
    """Every producer 0..fan-1, from 0 (kept in the Wire: sequences run over repeats)."""
    if wire.expected is None:
        wire.expected = Expected({sender: 0 for sender in range(spec.fan)})
    return wire.expected


def _worker_expects(spec, wire: Wire) -> Expected:
    """The distributor's round-robin share of worker `index` among `fan` workers."""
    if wire.expected is None:
        wire.expected = Expected({0: spec.index}, stride=spec.fan)
    return wire.expected


def enqueue(spec, endpoint, wire: Wire, barrier) -> int | None:
    """Work-queue producer: its share, then one END per consumer (behind its own
    messages, so no END overtakes them). Producer #0 returns the duration up to the end
    barrier, which every consumer reaches only once it holds one END per producer."""
    clock = time.perf_counter_ns
    start = clock()
    send_many(endpoint, wire, spec.messages, spec.rate_per_s, burst=spec.burst)
    send_ends(endpoint, spec.ends)
    barrier.wait(BARRIER_TIMEOUT_S)
    return clock() - start if spec.index == 0 else None


def dequeue(spec, endpoint, wire: Wire, barrier) -> tuple[int, np.ndarray, np.ndarray]:
    """Work-queue consumer: takes messages until it holds `spec.ends` END markers (one per
    producer); returns how many payload messages it took, their header words and their
    one-way latencies. On a shared FIFO each message is ahead of its producer's ENDs, so
    once every consumer has stopped (all producers x consumers ENDs taken) none is left;
    the harness checks the total and the sequences (framing.Shares)."""
    arrivals = receive_until_ends(endpoint, wire, spec.ends, spec.name)
    count = len(arrivals.times)
    if count:  # another consumer may have taken every message of a short repeat
        wire.check(f"{spec.name} last message")
    barrier.wait(BARRIER_TIMEOUT_S)  # enqueuer #0's clock stops when all are here
    words = np.frombuffer(arrivals.words, dtype=np.uint32).copy()
    latencies = arrivals.latencies_ns() if wire.framed else np.empty(0, dtype=np.int64)
    return count, words, latencies


def subscribe(spec, endpoint, wire: Wire, barrier) -> np.ndarray:
    """Broadcast subscriber: every message of the publisher (sender 0), each once and in
    order; its latencies. The publisher's clock stops once every subscriber is here."""
    arrivals = receive_many(endpoint, wire, spec.messages, spec.name)
    if wire.expected is None:
        wire.expected = Expected({0: 0})
    latencies = _received(spec, wire, arrivals, wire.expected, spec.messages)
    barrier.wait(BARRIER_TIMEOUT_S)
    return latencies


def relay(spec, endpoint, wire: Wire, barrier) -> None:
    """Pipeline stage: passes every message on as it came (its header untouched, so the
    sink's latency is end to end and its sequence check covers every stage)."""
    send, recv = endpoint.send, endpoint.recv
    for _ in range(spec.messages):
        send(recv())
    return None


def serve(spec, endpoint, wire: Wire, barrier) -> None:
    """Request-reply server: answers each request on the reply channel of the client its
    header names; checks that every client's requests came each once, in order."""
    recv, send_to, answer, clients = endpoint.recv, endpoint.send_to, wire.answer, spec.fan
    words = array("I", bytes(4 * spec.messages))
    for i in range(spec.messages):
        word, reply = answer(recv())
        client = word >> SEQUENCE_BITS
        if client >= clients:
            raise SequenceError(f"{spec.name}: request from unknown client {client} "
                                "(foreign data on the channel)")
        words[i] = word
        send_to(client, reply)
    wire.check(f"{spec.name} last request")
    if wire.expected is None:
        wire.expected = Expected({client: 0 for client in range(clients)})
    wire.expected.check(np.frombuffer(words, dtype=np.uint32), spec.name,
                        spec.messages // clients)
    return None


def both_ways(spec, endpoint, wire: Wire, barrier) -> tuple[int | None, np.ndarray]:
    """bidir: a thread sends this peer's messages while this one receives the partner's
    (each end's sequence checked); every peer then meets at an end barrier, and left #0
    returns the duration up to it. The Wire is shared: sending touches only its send
    state, opening only its receive state."""
    clock = time.perf_counter_ns
    start = clock()
    failed: list[BaseException] = []

    def sending() -> None:
        try:
            send_many(endpoint, wire, spec.messages, spec.rate_per_s, burst=spec.burst)
        except BaseException as exc:  # reported by the receiving thread
            failed.append(exc)

    sender = threading.Thread(target=sending, name="ipcbench-bidir-send", daemon=True)
    sender.start()
    arrivals = receive_many(endpoint, wire, spec.messages, spec.name)
    sender.join()
    if failed:
        raise failed[0]
    if wire.expected is None:  # the partner sends with this peer's index
        wire.expected = Expected({spec.index: 0})
    latencies = _received(spec, wire, arrivals, wire.expected, spec.messages)
    barrier.wait(BARRIER_TIMEOUT_S)
    timer = spec.role == "left" and spec.index == 0
    return (clock() - start if timer else None), latencies


def increment(spec, counter, wire: Wire, barrier) -> int | None:
    """The seed's shared counter. Peer 0 returns the duration up to the moment every
    peer has finished (an end barrier), the others None."""
    clock = time.perf_counter_ns
    kill_at = spec.messages // 2 if spec.fault == "kill" else -1
    start = clock()
    for i in range(spec.messages):
        with counter.get_lock():
            counter.value += 1
            if i == kill_at:  # die holding the lock: the worst case for the others
                os.kill(os.getpid(), signal.SIGKILL)
    barrier.wait(BARRIER_TIMEOUT_S)
    return clock() - start if spec.index == 0 else None


ROLES = {
    "ping": ping,
    "pong": pong,
    "producer": produce,
    "consumer": consume,
    "distributor": distribute,
    "worker": work,
    "enqueuer": enqueue,
    "dequeuer": dequeue,
    "incrementer": increment,
    "publisher": distribute,
    "subscriber": subscribe,
    "source": produce,
    "relay": relay,
    "sink": consume,
    "client": ping,
    "server": serve,
    "left": both_ways,
    "right": both_ways,
}

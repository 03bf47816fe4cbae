"""The timed loops peers run, one per role, and the Wire that applies a payload kind.

Each role gets its endpoint, its Wire and the start barrier, runs one repeat and
returns what the harness needs: ping -> per-round-trip ns samples; consumer -> the
repeat's duration; distributor / enqueuer #0 / incrementer #0 -> the duration up to an
end barrier that every peer reaches when done (so every timestamp is taken in one
process); dequeuer -> how many messages it took (the harness checks the total).
Serialisation (object, numpy) happens inside the timed loops: it is part of what a
payload kind costs.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Callable

import numpy as np

from ipcbench.mechanisms.base import END, is_end
from ipcbench.payload import PayloadSpec, corrupted, verify
from ipcbench.schema import SHM_VIEW
from ipcbench.zerocopy import InPlace

BARRIER_TIMEOUT_S = 120.0


class Wire:
    """How one peer puts the payload on its channel and reads it back.

    - outgoing / encode: a sender sends `encode(value)` per message, or `outgoing` as is
      when encode is None (raw bytes, objects given to a channel that pickles itself).
      shm-view: encode writes the next message into shared memory, returns its descriptor.
    - decode: applied by receivers to every message (unpickle, or read and check a
      shm-view region in place), or None.
    """

    def __init__(self, payload: PayloadSpec, checksum: int, carries_objects: bool,
                 pools=(), pool: int = -1, corrupt: bool = False) -> None:
        self.payload = payload
        self.checksum = checksum
        self.kind = payload.kind
        self.carries_objects = carries_objects and self.kind in ("object", "numpy")
        self.encode: Callable | None = None
        self.decode: Callable | None = None
        self._views = None
        if self.kind == SHM_VIEW:
            if corrupt:
                raise ValueError("the corrupt fault applies to the bytes payload only")
            self._views = InPlace(pools, pool, payload.raw())
            self.value = self.outgoing = None
            self.encode, self.decode = self._views.write, self._views.read
        elif self.kind == "bytes":
            raw = payload.value()
            self.outgoing = corrupted(raw) if corrupt else raw
        else:
            self.value = payload.value()
            if corrupt:
                raise ValueError("the corrupt fault applies to the bytes payload only")
            self.outgoing = self.value
            if not self.carries_objects:
                self.encode = lambda value: pickle.dumps(value, protocol=5)
                self.decode = pickle.loads

    @property
    def wire_bytes(self) -> int | None:
        """Length every message must have on the channel (None: channel carries objects)."""
        return None if self.carries_objects else self.payload.wire_bytes

    def check(self, message, where: str) -> None:
        """Verify the last message of a repeat, in the form the sender produced it."""
        if self.kind == SHM_VIEW:
            # Every message was checked in place by decode (its region is released and
            # may hold a newer message by now): there is nothing left to look at.
            if self._views.received == 0:
                raise ValueError(f"{where}: no shm-view message was read")
            return
        if self.carries_objects:
            data = pickle.dumps(message, protocol=5)
        else:
            data = message
        verify(data, self.payload.size_bytes, self.checksum, where)

    def close(self) -> None:
        if self._views is not None:
            self._views.close()


def send_many(endpoint, wire: Wire, count: int) -> None:
    if wire.encode is None:
        message = wire.outgoing
        for _ in range(count):
            endpoint.send(message)
    else:
        encode, value = wire.encode, wire.value
        for _ in range(count):
            endpoint.send(encode(value))


def receive_many(endpoint, wire: Wire, count: int, where: str):
    """Receive `count` messages (decoding each), check every length; return the last."""
    size, decode = wire.wire_bytes, wire.decode
    message = None
    for i in range(count):
        message = endpoint.recv()
        if size is not None and len(message) != size:
            raise ValueError(f"{where}: message {i} has {len(message)} bytes, expected {size}")
        if decode is not None:
            decode(message)
    return message


def send_ends(endpoint, count: int) -> None:
    """The workqueue's end of stream: `count` END markers (one per consumer)."""
    for _ in range(count):
        endpoint.send(END)


def receive_until_ends(endpoint, wire: Wire, ends: int, where: str):
    """Receive messages (decoding each, checking every length) until `ends` END markers
    have arrived; return (payload messages received, the last of them or None)."""
    size, decode = wire.wire_bytes, wire.decode
    count, seen, last = 0, 0, None
    while seen < ends:
        message = endpoint.recv()
        if is_end(message):
            seen += 1
            continue
        if size is not None and len(message) != size:
            raise ValueError(f"{where}: message {count} has {len(message)} bytes, expected {size}")
        if decode is not None:
            decode(message)
        last = message
        count += 1
    return count, last


def ping(spec, endpoint, wire: Wire, barrier) -> np.ndarray:
    samples_ns = np.empty(spec.messages, dtype=np.int64)
    clock, encode, decode = time.perf_counter_ns, wire.encode, wire.decode
    outgoing = wire.outgoing
    reply = None
    for i in range(spec.messages):
        start = clock()
        endpoint.send(outgoing if encode is None else encode(wire.value))
        reply = endpoint.recv()
        if decode is not None:
            decode(reply)
        samples_ns[i] = clock() - start
    # The echo of the last round trip must be exactly what was sent.
    wire.check(reply, f"{spec.name} echo")
    return samples_ns


def pong(spec, endpoint, wire: Wire, barrier) -> None:
    encode, decode = wire.encode, wire.decode
    for _ in range(spec.messages):
        message = endpoint.recv()
        if decode is None:
            endpoint.send(message)
        else:  # an RPC server's work: unpickle the request, pickle the reply (shm-view:
            # read the request in place, write the reply into shared memory)
            endpoint.send(encode(decode(message)))
    return None


def produce(spec, endpoint, wire: Wire, barrier) -> None:
    send_many(endpoint, wire, spec.messages)
    return None


def consume(spec, endpoint, wire: Wire, barrier) -> int:
    """Returns the repeat's duration in ns: from the barrier to the last message in hand."""
    clock = time.perf_counter_ns
    start = clock()
    last = receive_many(endpoint, wire, spec.messages, spec.name)
    duration_ns = clock() - start
    wire.check(last, f"{spec.name} last message")
    return duration_ns


def distribute(spec, endpoint, wire: Wire, barrier) -> int:
    """Fan-out producer: sends round-robin to every worker, then waits for all of them."""
    clock = time.perf_counter_ns
    start = clock()
    send_many(endpoint, wire, spec.messages)
    barrier.wait(BARRIER_TIMEOUT_S)
    return clock() - start


def work(spec, endpoint, wire: Wire, barrier) -> None:
    last = receive_many(endpoint, wire, spec.messages, spec.name)
    wire.check(last, f"{spec.name} last message")
    barrier.wait(BARRIER_TIMEOUT_S)  # the distributor's clock stops when all are here
    return None


def enqueue(spec, endpoint, wire: Wire, barrier) -> int | None:
    """Work-queue producer: its share, then one END per consumer (behind its own
    messages, so no END overtakes them). Producer #0 returns the duration up to the end
    barrier, which every consumer reaches only once it holds one END per producer."""
    clock = time.perf_counter_ns
    start = clock()
    send_many(endpoint, wire, spec.messages)
    send_ends(endpoint, spec.ends)
    barrier.wait(BARRIER_TIMEOUT_S)
    return clock() - start if spec.index == 0 else None


def dequeue(spec, endpoint, wire: Wire, barrier) -> int:
    """Work-queue consumer: takes messages until it holds `spec.ends` END markers (one per
    producer) and returns how many payload messages it took. On a shared FIFO each
    message is ahead of its producer's ENDs, so once every consumer has stopped (all
    producers x consumers ENDs taken) none is left; the harness checks the total."""
    count, last = receive_until_ends(endpoint, wire, spec.ends, spec.name)
    if count:  # another consumer may have taken every message of a short repeat
        wire.check(last, f"{spec.name} last message")
    barrier.wait(BARRIER_TIMEOUT_S)  # enqueuer #0's clock stops when all are here
    return count


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
}

"""The contract every mechanism implements, and the endpoint objects peers use.

A mechanism is one module of this package that ends with `INFO = MechanismInfo(...)`
(info.py): its name, description, `Variant`s (patterns, ring slots, busy-polling),
payloads, optional module, and explicit references to its code: the Mechanism class
below (or, with no ipcbench peers, a session class of its own), its `limit_reason(case)`
and its `end_run()`. The registry (`ipcbench.mechanisms`) lists the module and reads
nothing else from it. A mechanism module imports optional third-party modules only
inside functions, so that importing the registry stays cheap.

A Mechanism lives in the harness (parent) process: it builds channels before any peer
starts and releases them after every peer has ended. Endpoints are handed to peers as
Process arguments (so they must pickle under spawn/forkserver) and used only there:
`attach()` once at peer start, then `send()` / `recv()` in the timed loop.

`recv()` returns the message in memory private to the receiver (bytes-like): a new
object for Pipe and Queue, the receiver's own reusable buffer for the shared-memory
mechanisms. Every mechanism pays for that copy out, so a channel cannot look fast by
handing out a view of memory the sender is about to overwrite.

The workqueue pattern ends a stream with END, an empty message: every payload message
is at least one byte long on the wire (an object payload is not bytes at all), so END
can never be taken for one. Channels that support work_queue() carry it as they carry
any message (a zero-length frame for zmq).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext

import numpy as np

# The workqueue's end-of-stream marker (see the module doc and roles.dequeue).
END = b""


def is_end(message) -> bool:
    """True for the end-of-stream marker, never for a payload message (which has at
    least one byte, or is an object)."""
    return isinstance(message, bytes) and not message


# Slots of the ring variants (`ring8`, Variant.ring_slots): enough for a sender to run well
# ahead of a receiver woken by the scheduler, small enough that 8 x 16 MiB stays a modest
# mapping.
RING_SLOTS = 8


# -- what a session reports to the runner (the harness's CaseSession, and the sessions
# the executor and Ray mechanisms bring, implement the same run_repeat contract) --------

class PeerFailed(RuntimeError):
    """A peer raised, exited or was killed; the message names it and how."""


@dataclass(frozen=True)
class RepeatOutcome:
    """One repeat, as the timing peers measured it."""

    samples_ns: np.ndarray  # per-message times (pingpong: every round trip)
    messages: int  # messages (round trips, increments) timed in this repeat
    duration_ns: int  # wall time of the repeat, for aggregate rates
    cpu_s: float = 0.0  # user + system CPU of every peer during the repeat
    ctx_switches: int = 0  # context switches of every peer during the repeat
    # One-way latency of every message (stream, fanout; empty where there is none).
    latencies_ns: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


@dataclass(frozen=True)
class Workload:
    """How much each peer does per repeat, and how long the harness waits for it."""

    messages: int  # per timing peer: round trips, messages per producer, increments
    repeat_deadline_s: float
    start_deadline_s: float



class Endpoint(ABC):
    """One side of a channel as seen by a peer process."""

    # True for channels that pickle whatever they are given (Queue, Pipe.send, ...):
    # object payloads are then handed over as objects, the way users use them.
    carries_objects = False

    def attach(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Called once in the peer before the first transfer (e.g. to map a segment)."""

    @abstractmethod
    def send(self, payload: bytes) -> None: ...

    @abstractmethod
    def recv(self) -> bytes | bytearray | memoryview: ...

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release what attach() took. Called once in the peer at its end."""


class Mechanism:
    """Builds channels for one case in the parent, then cleans them up."""

    def __init__(self, ctx: BaseContext, variant: str, size_bytes: int, name_prefix: str,
                 depth: int = 0) -> None:
        self.ctx = ctx
        self.variant = variant
        self.size_bytes = size_bytes
        # Messages each channel may hold in flight (Case.depth; 0 = its own default).
        # Only variants whose record says what it sets (Variant.depth) are given one.
        self.depth = depth
        # Prefix for anything with a system-wide name (shared memory), so that a
        # sweep can tell this run's leftovers from everyone else's.
        self.name_prefix = name_prefix

    def pairs(self, count: int) -> list[tuple[Endpoint, Endpoint]]:
        """`count` independent duplex pairs (pingpong): (initiator side, echo side)."""
        raise NotImplementedError(f"{type(self).__name__} has no pingpong")

    def stream(self, producers: int) -> tuple[list[Endpoint], Endpoint]:
        """`producers` send endpoints feeding one receive endpoint (N -> 1)."""
        raise NotImplementedError(f"{type(self).__name__} has no stream")

    def fan_out(self, consumers: int) -> tuple[Endpoint, list[Endpoint]]:
        """One sender feeding `consumers` receivers (1 -> N work distribution): by default
        one stream channel per consumer, served round-robin, so every consumer gets
        exactly its share and knows when it is done."""
        senders, receivers = [], []
        for _ in range(consumers):
            sender, receiver = self.stream(1)
            senders += sender
            receivers.append(receiver)
        return RoundRobin(senders), receivers

    def broadcast(self, subscribers: int) -> tuple[Endpoint, list[Endpoint]]:
        """One publisher feeding `subscribers` receivers, every message to each of them:
        one stream channel per subscriber, each message sent on every one in turn."""
        senders, receivers = [], []
        for _ in range(subscribers):
            sender, receiver = self.stream(1)
            senders += sender
            receivers.append(receiver)
        return Broadcast(senders), receivers

    def pipeline(self, relays: int) -> list[Endpoint]:
        """A source's send end, each of `relays` stages' Relay (receives from the hop
        before it, sends on the next), and the sink's receive end: relays + 1 hops, one
        stream channel each."""
        hops = [self.stream(1) for _ in range(relays + 1)]
        stages = [Relay(hops[i][1], hops[i + 1][0][0]) for i in range(relays)]
        return [hops[0][0][0], *stages, hops[-1][1]]

    def request_reply(self, clients: int) -> tuple[list[Endpoint], Endpoint]:
        """`clients` client ends and the server's: the requests share one N -> 1 stream,
        each client has a reply channel of its own, which the server picks by index
        (Router.send_to)."""
        requesters, requests = self.stream(clients)
        replies = [self.stream(1) for _ in range(clients)]
        client_ends = [Relay(reply[1], requester)
                       for requester, reply in zip(requesters, replies, strict=True)]
        return client_ends, Router(requests, [reply[0][0] for reply in replies])

    def work_queue(self, producers: int, consumers: int) -> tuple[list[Endpoint], list[Endpoint]]:
        """`producers` send endpoints and `consumers` receive endpoints on one shared
        channel (M -> N competing consumers): each message reaches exactly one consumer,
        whichever takes it. The end of stream (each producer sends one END per consumer
        after its messages; a consumer stops once it holds one END per producer) must be
        sound: either all share one FIFO, or every producer deals its messages round-robin
        over every consumer, exactly. Only channels several processes can read from,
        message by message, implement it."""
        raise NotImplementedError(f"{type(self).__name__} has no work queue")

    def counter(self):
        """A shared counter with get_lock() and .value (counter pattern)."""
        raise NotImplementedError(f"{type(self).__name__} has no counter")

    def after_start(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Called in the parent once every peer has started: drop what only peers use."""

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Called in the parent after every peer has ended: free system resources."""


class PutGetEndpoint(Endpoint):
    """An endpoint over queue objects with put()/get() (which pickle what they are
    given): sends to `outbox`, receives from `inbox`; either may be None. Payloads are
    never mutated after put(), so a feeder thread that pickles later sends them intact."""

    carries_objects = True

    def __init__(self, outbox, inbox) -> None:
        self.outbox = outbox
        self.inbox = inbox

    def send(self, payload) -> None:
        self.outbox.put(payload)

    def recv(self):
        return self.inbox.get()


class QueueMechanism(Mechanism):
    """Mechanisms built from one-way queues of (outbox, inbox) endpoints: a pingpong pair
    is two queues, a stream is one queue shared by every producer, a work queue one
    queue shared by every producer and every consumer."""

    endpoint_class: type[Endpoint]

    def _queue(self):
        raise NotImplementedError

    def pairs(self, count: int) -> list[tuple[Endpoint, Endpoint]]:
        result = []
        for _ in range(count):
            there, back = self._queue(), self._queue()
            result.append((self.endpoint_class(there, back), self.endpoint_class(back, there)))
        return result

    def stream(self, producers: int) -> tuple[list[Endpoint], Endpoint]:
        q = self._queue()
        senders = [self.endpoint_class(q, None) for _ in range(producers)]
        return senders, self.endpoint_class(None, q)

    def work_queue(self, producers: int, consumers: int) -> tuple[list[Endpoint], list[Endpoint]]:
        """One queue every producer puts to and every consumer gets from: its get() takes
        one whole message under the queue's own lock, whoever calls it."""
        q = self._queue()
        senders = [self.endpoint_class(q, None) for _ in range(producers)]
        return senders, [self.endpoint_class(None, q) for _ in range(consumers)]


class RoundRobin(Endpoint):
    """Sends each message to the next of several endpoints in turn."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints = endpoints
        self.carries_objects = endpoints[0].carries_objects
        self._next = 0

    def attach(self) -> None:
        for endpoint in self.endpoints:
            endpoint.attach()

    def send(self, payload) -> None:
        self.endpoints[self._next].send(payload)
        self._next = (self._next + 1) % len(self.endpoints)

    def recv(self):
        raise TypeError("a round-robin fan-out only sends")

    def close(self) -> None:
        for endpoint in self.endpoints:
            endpoint.close()


class Broadcast(RoundRobin):
    """Sends each message on every one of several endpoints (1 -> N, N copies)."""

    def send(self, payload) -> None:
        for endpoint in self.endpoints:
            endpoint.send(payload)

    def recv(self):
        raise TypeError("a broadcast only sends")


class Relay(Endpoint):
    """Receives from one endpoint and sends on another: a pipeline stage, a client of a
    request-reply server (its requests out, its replies in)."""

    def __init__(self, inbound: Endpoint, outbound: Endpoint) -> None:
        self.inbound = inbound
        self.outbound = outbound
        self.carries_objects = inbound.carries_objects and outbound.carries_objects

    def attach(self) -> None:
        self.inbound.attach()
        self.outbound.attach()

    def send(self, payload) -> None:
        self.outbound.send(payload)

    def recv(self):
        return self.inbound.recv()

    def close(self) -> None:
        self.inbound.close()
        self.outbound.close()


class Router(Endpoint):
    """A request-reply server's end: receives every client's requests on one endpoint,
    answers client k on its own (send_to)."""

    def __init__(self, requests: Endpoint, replies: list[Endpoint]) -> None:
        self.requests = requests
        self.replies = replies
        self.carries_objects = requests.carries_objects

    def attach(self) -> None:
        self.requests.attach()
        for endpoint in self.replies:
            endpoint.attach()

    def send(self, payload) -> None:
        raise TypeError("a server answers a client: send_to(index, payload)")

    def send_to(self, index: int, payload) -> None:
        self.replies[index].send(payload)

    def recv(self):
        return self.requests.recv()

    def close(self) -> None:
        self.requests.close()
        for endpoint in self.replies:
            endpoint.close()

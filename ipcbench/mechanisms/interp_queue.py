"""Subinterpreters of one process talking through interpreter queues (PEP 734): Python
3.14's concurrent.interpreters, or on 3.13 the same implementation as it shipped there
(test.support.interpreters over the private _interpqueues module). Older Pythons get
skipped rows naming the version needed.

Where the peers run (peer/group.py: one host process, a thread per peer): the timing
peer (ping, the stream's consumer) runs the ordinary role in the host's main
interpreter, with every check of the process channels (each reply's header against its
request, every sequence, the last body's checksum, one-way latencies). Each partner (pong,
every producer) runs in an isolated subinterpreter of its own (its own GIL), created on
its thread at attach(). Isolated interpreters cannot import numpy (its extension does not
support them), so a partner runs a numpy-free loop there (`_PARTNER_CODE`): pong echoes
what it got, a producer stamps the same header as Wire does (framing.py) into each
message. The figure is thus the crossing between the main interpreter and worker
interpreters, as an application with interpreter workers sees it.

What crosses: bytes only. The 3.13 queue takes shareable objects only (bytes, str, int,
...) and copies a bytes message into the receiving interpreter; other payload kinds would
be pickled by the sender into bytes, which the partner loop does not do, so they are
skipped. A get() on an empty queue has no blocking wait: the stdlib's get() sleeps 10 ms
between polls (round trips of tens of ms), so every side here polls get_nowait() with
os.sched_yield() in between, which a shared core tolerates (the other side runs at once).
The fanout pattern is skipped: its workers check sequences with numpy.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

from ipcbench.core.patterns import FANOUT, WORKQUEUE
from ipcbench.mechanisms.base import Endpoint, Mechanism
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant
from ipcbench.system.interpreters import interpreters_module, queues_module

NEEDS_PYTHON = (3, 13)
# The host's interpreter queues by name: the Queue objects are kept, as a queue is
# destroyed when the last of them in any interpreter goes.
_QUEUES: dict[str, object] = {}
_LOCK = threading.Lock()

# Run in a partner's subinterpreter once (setup), then once per repeat (`run(n)`).
_PARTNER_CODE = """
import os, struct, time
from {queues} import Queue, QueueEmpty
_yield, _clock, _pack_into = os.sched_yield, time.perf_counter_ns, struct.pack_into

def _get(q):
    get = q.get_nowait
    while True:
        try:
            return get()
        except QueueEmpty:
            _yield()

def echo(n):
    inbox, put = Queue(inbox_id), Queue(outbox_id).put_nowait
    for _ in range(n):
        put(_get(inbox))

def produce(n, sent):
    put, buf = Queue(outbox_id).put_nowait, bytearray(body)
    for i in range(sent, sent + n):
        if framed:
            _pack_into(header, buf, 0, base | (i & sequence_mask), _clock() & stamp_mask)
        put(bytes(buf))
"""


@dataclass(frozen=True)
class QueueName:
    """An interpreter queue of the host process, made there on first use."""

    name: str

    def resolve(self) -> int:
        import importlib
        queues = importlib.import_module(queues_module())
        with _LOCK:
            if self.name not in _QUEUES:
                _QUEUES[self.name] = queues.create()
            return _QUEUES[self.name].id


class InterpEndpoint(Endpoint):
    """The main interpreter's side: put_nowait / get_nowait polling with sched_yield."""

    def __init__(self, outbox: QueueName | None, inbox: QueueName | None) -> None:
        self.outbox, self.inbox = outbox, inbox

    def attach(self) -> None:
        import importlib
        import os
        queues = importlib.import_module(queues_module())
        self._empty, self._yield = queues.QueueEmpty, os.sched_yield
        self._put = queues.Queue(self.outbox.resolve()).put_nowait if self.outbox else None
        self._get = queues.Queue(self.inbox.resolve()).get_nowait if self.inbox else None

    def send(self, payload) -> None:
        self._put(bytes(payload))  # shareable, and the sender's buffer is reused

    def recv(self) -> bytes:
        get, empty = self._get, self._empty
        while True:
            try:
                return get()
            except empty:
                self._yield()


class PartnerEndpoint(Endpoint):
    """A partner peer's side, run in an isolated subinterpreter of its own: attach()
    creates it on the peer's thread, run_role() runs one repeat there (group.py)."""

    def __init__(self, outbox: QueueName | None, inbox: QueueName | None) -> None:
        self.outbox, self.inbox = outbox, inbox
        self.interp = None
        self._framing_given = False  # a producer's header layout and body, given once

    def attach(self) -> None:
        self.interp = interpreters_module().create()
        self.interp.exec(_PARTNER_CODE.format(queues=queues_module()))
        ids = {"outbox_id": self.outbox.resolve() if self.outbox else -1,
               "inbox_id": self.inbox.resolve() if self.inbox else -1}
        self.interp.prepare_main(**ids)

    def run_role(self, spec, channel, wire, barrier) -> None:
        if spec.role == "pong":
            self.interp.exec(f"echo({spec.messages})")
            return None
        if not self._framing_given:
            from ipcbench.payload import framing
            # The Wire's own first message is the template (body, and a corrupt fault's
            # flipped byte); its header is rewritten for every message sent.
            self.interp.prepare_main(
                body=bytes(wire.message(0)), framed=wire.framed,
                header=framing.HEADER.format, base=framing.tag(spec.index, 0),
                sequence_mask=framing.SEQUENCE_MASK, stamp_mask=framing.STAMP_MASK)
            wire.sent = 0  # the template was not a message sent
            self._framing_given = True
        self.interp.exec(f"produce({spec.messages}, {wire.sent})")
        wire.sent += spec.messages
        return None

    def send(self, payload) -> None:
        raise TypeError("a partner endpoint runs its loop in its interpreter")

    recv = send

    def close(self) -> None:
        if self.interp is not None:
            self.interp.close()
            self.interp = None


class InterpQueueMechanism(Mechanism):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._made = 0

    def _queue(self) -> QueueName:
        self._made += 1
        return QueueName(f"{self.name_prefix}iq{self._made}")

    def pairs(self, count: int):
        result = []
        for _ in range(count):
            there, back = self._queue(), self._queue()
            result.append((InterpEndpoint(there, back), PartnerEndpoint(back, there)))
        return result

    def stream(self, producers: int):
        q = self._queue()
        return [PartnerEndpoint(q, None) for _ in range(producers)], InterpEndpoint(None, q)


def unavailable() -> str:
    """Why this Python has no interpreter queues ("" when it has them)."""
    if sys.version_info < NEEDS_PYTHON:
        return (f"interpreters needs Python {'.'.join(map(str, NEEDS_PYTHON))} or newer "
                f"(PEP 734 interpreter queues); this is {sys.version.split()[0]}")
    try:
        interpreters_module()
    except ImportError as exc:
        return f"interpreters: this Python lacks its interpreter modules ({exc})"
    return ""


def _limit(case) -> str:
    if case.pattern == FANOUT.name:
        return ("interpreters: fanout workers check sequences with numpy, which an isolated "
                "interpreter cannot import")
    return ""


INFO = MechanismInfo(
    name="interpreters",
    description="isolated subinterpreters (own GIL) of one process, PEP 734 interpreter "
                "queues; bytes cross by copy; partners poll with sched_yield",
    variants=(Variant("queue", STREAMS),),
    mechanism=InterpQueueMechanism,
    in_process="interpreter",
    unavailable=unavailable,
    payloads=("bytes",),
    limit_reason=_limit,
    why_not={WORKQUEUE.name: "its consumers check sequences with numpy, which an isolated "
                             "interpreter cannot import"},
)

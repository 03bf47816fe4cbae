"""Threads of one process talking through queue.Queue ('queue') or queue.SimpleQueue
('simplequeue'): the in-process yardstick beside the process channels.

The peers are threads of one host process (peer/group.py; MechanismInfo.in_process), so
the same roles, header and sequence checks, payload kinds, CPU accounting and rows apply
as for peer processes, and a placement pins each thread as it would pin a process.

What crosses between threads: a reference. Nothing is pickled; the message (the pair
header, value for every payload kind that goes as an object; bytes for codec kinds) is
the object the sender built, and the figure is the cost of the queue's lock, its
condition variable and the wake-up of the other thread, under the GIL (or without it on
a free-threaded build, which every row records). One exception keeps bytes/s a transfer
(a rate of references to one unchanging body would not be): a raw bytes body is copied
into a new object at every send (memoryview.tobytes), the one copy a byte channel makes
too; object, numpy and dataframe payloads go by reference, as threads share them.

The queues cannot cross into the host by pickling (locks), so the parent hands out
names: a peer's attach() looks its queue up in the host, where the first peer to ask
for a name makes it.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from ipcbench.core.patterns import COUNTER
from ipcbench.mechanisms.base import PutGetEndpoint, QueueMechanism
from ipcbench.mechanisms.info import SHARED, MechanismInfo, Variant

# The host's queues by name (only ever filled inside a group's host process).
_QUEUES: dict[str, object] = {}
_LOCK = threading.Lock()
_KINDS = {"queue": queue.Queue, "simplequeue": queue.SimpleQueue}


@dataclass(frozen=True)
class QueueName:
    """A queue of the host process, made there on first use."""

    name: str
    kind: str

    def resolve(self):
        with _LOCK:
            found = _QUEUES.get(self.name)
            if found is None:
                found = _QUEUES[self.name] = _KINDS[self.kind]()
            return found


class ThreadQueueEndpoint(PutGetEndpoint):
    """put()/get() on queues of the host process, found by name at attach()."""

    def attach(self) -> None:
        self.outbox = self.outbox.resolve() if self.outbox is not None else None
        self.inbox = self.inbox.resolve() if self.inbox is not None else None

    def send(self, payload) -> None:
        # A (header, body) pair with a raw bytes body: the body copied (module doc).
        if type(payload) is tuple and type(payload[1]) is bytes:
            payload = (payload[0], memoryview(payload[1]).tobytes())
        self.outbox.put(payload)


class ThreadQueueMechanism(QueueMechanism):
    endpoint_class = ThreadQueueEndpoint

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._made = 0

    def _queue(self) -> QueueName:
        self._made += 1
        return QueueName(f"{self.name_prefix}q{self._made}", self.variant)


INFO = MechanismInfo(
    name="thread-queue",
    description="threads of one process: queue.Queue ('queue') or queue.SimpleQueue "
                "('simplequeue'); objects pass by reference, nothing is copied",
    variants=(Variant("queue", SHARED), Variant("simplequeue", SHARED)),
    mechanism=ThreadQueueMechanism,
    in_process="thread",
    why_not={COUNTER.name: "the counter is a multiprocessing shared value"},
)

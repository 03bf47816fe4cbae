"""multiprocessing.SimpleQueue: a pipe plus a lock per direction. Unlike Queue there is
no feeder thread, so put() pickles and writes in the caller and returns once the bytes
are in the pipe: timing still happens at the receiver, like every channel here."""

from __future__ import annotations

from ipcbench.mechanisms.base import PutGetEndpoint, QueueMechanism
from ipcbench.mechanisms.info import SHARED, MechanismInfo, Variant


class SimpleQueueEndpoint(PutGetEndpoint):
    def close(self) -> None:
        for q in (self.outbox, self.inbox):
            if q is not None:
                q.close()


class SimpleQueueMechanism(QueueMechanism):
    endpoint_class = SimpleQueueEndpoint

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._queues = []

    def _queue(self):
        q = self.ctx.SimpleQueue()
        self._queues.append(q)
        return q

    def after_start(self) -> None:
        # Peers hold their own copies of the pipe ends; the parent's copies would only
        # hide a dead peer from its partner (no EOF while a write end lives on).
        for q in self._queues:
            q.close()
        self._queues.clear()

    close = after_start


INFO = MechanismInfo(
    name="simplequeue",
    description="multiprocessing.SimpleQueue (put/get pickle and write in the caller, no "
                "feeder thread)",
    variants=(Variant("default", SHARED),),
    mechanism=SimpleQueueMechanism,
)

"""multiprocessing.Queue. put() returns before the data moves (a feeder thread pickles
and writes it), so timings are taken at the receiving side, never around put()."""

from __future__ import annotations

from ipcbench.mechanisms.base import PutGetEndpoint, QueueMechanism
from ipcbench.mechanisms.info import SHARED, MechanismInfo, Variant


class QueueEndpoint(PutGetEndpoint):
    def close(self) -> None:
        if self.outbox is not None:
            # Flush the feeder thread before the process exits; every message was
            # already consumed (the harness waits for the receiver), so this is quick.
            self.outbox.close()
            self.outbox.join_thread()


class MpQueueMechanism(QueueMechanism):
    endpoint_class = QueueEndpoint

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._queues = []

    def _queue(self):
        q = self.ctx.Queue(self.depth)  # maxsize 0: unbounded, the default
        self._queues.append(q)
        return q

    def close(self) -> None:
        for q in self._queues:
            q.close()
            # The parent never put anything, so there is no feeder thread to wait for.
            q.cancel_join_thread()
        self._queues.clear()


INFO = MechanismInfo(
    name="queue",
    description="multiprocessing.Queue (put/get; a feeder thread pickles and writes)",
    variants=(Variant("default", SHARED, depth="Queue maxsize"),),
    mechanism=MpQueueMechanism,
)

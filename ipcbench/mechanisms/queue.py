"""multiprocessing.Queue. put() returns before the data moves (a feeder thread pickles
and writes it), so timings are taken at the receiving side, never around put()."""

from __future__ import annotations

from ipcbench.mechanisms.base import Endpoint, QueueMechanism


class QueueEndpoint(Endpoint):
    carries_objects = True  # pickles what it is given

    def __init__(self, outbox, inbox) -> None:
        self.outbox = outbox
        self.inbox = inbox

    def send(self, payload: bytes) -> None:
        # payload is immutable bytes: the feeder thread pickles it later, so a
        # mutable buffer changed after put() would be sent corrupted.
        self.outbox.put(payload)

    def recv(self) -> bytes:
        return self.inbox.get()

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
        q = self.ctx.Queue()
        self._queues.append(q)
        return q

    def close(self) -> None:
        for q in self._queues:
            q.close()
            # The parent never put anything, so there is no feeder thread to wait for.
            q.cancel_join_thread()
        self._queues.clear()


MECHANISM = MpQueueMechanism

"""faster_fifo.Queue (optional extra `ipcbench[fifo]`): a circular buffer in shared
memory guarded by a process-shared pthread mutex and condition variables (blocking
waits sleep in the kernel). Messages are pickled, as with multiprocessing.Queue, but
put() writes into the buffer in the caller: there is no feeder thread."""

from __future__ import annotations

import time
from queue import Empty

from ipcbench.mechanisms.base import Endpoint, QueueMechanism
from ipcbench.mechanisms.info import SHARED, MechanismInfo, Variant

# get()/put() default to a 10 s timeout and raise queue.Empty/Full after it; a slow
# oversubscribed case can legitimately wait longer, and the harness has its own deadline.
_WAIT_S = 3600.0
_MIN_BUFFER_BYTES = 1 << 20
_PICKLE_OVERHEAD_BYTES = 256


class FifoEndpoint(Endpoint):
    carries_objects = True  # pickles what it is given

    def __init__(self, outbox, inbox) -> None:
        self.outbox = outbox
        self.inbox = inbox

    def send(self, payload) -> None:
        # bytes(): a memoryview (the pong's echo) does not pickle.
        if isinstance(payload, memoryview):
            payload = bytes(payload)
        self.outbox.put(payload, timeout=_WAIT_S)

    def recv(self) -> bytes:
        # With several consumers on one queue (workqueue), a get() woken for a message
        # another consumer took first raises Empty long before its timeout: wait again.
        end = time.monotonic() + _WAIT_S
        while True:
            try:
                return self.inbox.get(timeout=max(0.0, end - time.monotonic()))
            except Empty:
                if time.monotonic() >= end:
                    raise


class FasterFifoMechanism(QueueMechanism):
    endpoint_class = FifoEndpoint

    def _queue(self):
        from faster_fifo import Queue

        # Room for a few messages in flight, so producers are not serialized on a full
        # buffer at large sizes (multiprocessing.Queue's pipe holds 64 KiB + a thread).
        capacity_bytes = max(_MIN_BUFFER_BYTES, 4 * (self.size_bytes + _PICKLE_OVERHEAD_BYTES))
        return Queue(max_size_bytes=capacity_bytes)


INFO = MechanismInfo(
    name="faster-fifo",
    description="faster_fifo.Queue (optional): a shared-memory ring buffer, pickled messages",
    variants=(Variant("default", SHARED),),
    mechanism=FasterFifoMechanism,
    requires="faster_fifo",
)

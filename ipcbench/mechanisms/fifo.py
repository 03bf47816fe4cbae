"""Named pipes (os.mkfifo) in a private temporary folder: the way unrelated processes
rendezvous through a FIFO, by path. Each peer opens its FIFOs itself in attach(); the
kernel pipe behind them is the same as os-pipe's, so the difference between the two rows
is the rendezvous, not the transfer (fixed-size frames, read/write loops: fdstream.py).

Opening a FIFO blocks until the other end is opened too, so every peer opens its FIFOs in
increasing index order (FifoHandle.order): two peers of a pair can then never wait on
each other's second FIFO while holding the first.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ipcbench.core.patterns import REQREP
from ipcbench.mechanisms.fdstream import (
    WHY_NOT_SHARED,
    FdStreamMechanism,
    StreamEndpoint,
    _PipeWire,
)
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant


class FifoHandle:
    """One end of a named pipe, opened by path in the peer (picklable: a path)."""

    def __init__(self, path: str, order: int, writer: bool) -> None:
        self.path = path
        self.order = order
        self.writer = writer

    def open(self) -> _PipeWire:
        return _PipeWire(os.open(self.path, os.O_WRONLY if self.writer else os.O_RDONLY))


class FifoMechanism(FdStreamMechanism):
    is_socket = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Private (0700) and named after the case, so a leftover is recognisable.
        self._folder = tempfile.mkdtemp(prefix=f"{self.name_prefix}fifo_")
        self._count = 0

    def _fifo(self) -> tuple[FifoHandle, FifoHandle]:
        """(read end, write end) of a new FIFO."""
        path = os.path.join(self._folder, f"f{self._count}")
        os.mkfifo(path, 0o600)
        order, self._count = self._count, self._count + 1
        return FifoHandle(path, order, writer=False), FifoHandle(path, order, writer=True)

    def pairs(self, count: int) -> list[tuple[StreamEndpoint, StreamEndpoint]]:
        size, result = self.size_bytes, []
        for _ in range(count):
            (r1, w1), (r2, w2) = self._fifo(), self._fifo()
            result.append((StreamEndpoint(w1, [r2], size), StreamEndpoint(w2, [r1], size)))
        return result

    def stream(self, producers: int) -> tuple[list[StreamEndpoint], StreamEndpoint]:
        ends = [self._fifo() for _ in range(producers)]
        senders = [StreamEndpoint(w, [], self.size_bytes) for _, w in ends]
        return senders, StreamEndpoint(None, [r for r, _ in ends], self.size_bytes)

    def close(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)

    def after_start(self) -> None:
        """The parent holds no descriptor: peers open the FIFOs by path."""


INFO = MechanismInfo(
    name="fifo",
    description="named pipes (os.mkfifo) in a private temp folder, opened by path in each "
                "peer; fixed-size frames, os.write loops / os.readv",
    variants=(Variant("named", STREAMS),),
    mechanism=FifoMechanism,
    # Opening a FIFO waits for its other end: the server's request and reply FIFOs and
    # the clients' are opened in orders that wait on each other (a timeout every time).
    why_not={**WHY_NOT_SHARED,
             REQREP.name: "a named FIFO's open waits for its other end, and the server's "
                          "and the clients' opens wait on each other"},
)

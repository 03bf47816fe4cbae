"""multiprocessing.Pipe. Variant 'bytes' sends raw bytes (send_bytes/recv_bytes);
variant 'pickle' goes through send/recv, which pickles: at 1 MiB the two differ by up
to 4x, so the choice is explicit and recorded in every row."""

from __future__ import annotations

from multiprocessing.connection import Connection, wait

from ipcbench.core.patterns import WORKQUEUE
from ipcbench.mechanisms.base import Endpoint, Mechanism
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant


class PipeEndpoint(Endpoint):
    def __init__(self, conn: Connection, pickled: bool) -> None:
        self.conn = conn
        self.pickled = pickled
        self.carries_objects = pickled

    def send(self, payload: bytes) -> None:
        if self.pickled:
            self.conn.send(payload)
        else:
            self.conn.send_bytes(payload)

    def recv(self) -> bytes:
        return self.conn.recv() if self.pickled else self.conn.recv_bytes()

    def close(self) -> None:
        self.conn.close()


class PipeFanIn(Endpoint):
    """Receives from several one-way pipes, serving whichever is ready (N -> 1)."""

    def __init__(self, conns: list[Connection], pickled: bool) -> None:
        self.conns = conns
        self.pickled = pickled
        self.carries_objects = pickled
        self._ready: list[Connection] = []

    def send(self, payload: bytes) -> None:
        raise TypeError("the fan-in end only receives")

    def recv(self) -> bytes:
        if len(self.conns) == 1:  # one producer: no select() in the hot path
            conn = self.conns[0]
        else:
            while not self._ready:
                self._ready = list(wait(self.conns))
            conn = self._ready.pop()
        return conn.recv() if self.pickled else conn.recv_bytes()

    def close(self) -> None:
        for conn in self.conns:
            conn.close()


class PipeMechanism(Mechanism):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pickled = self.variant == "pickle"
        self._parent_copies: list[Connection] = []

    def pairs(self, count: int) -> list[tuple[Endpoint, Endpoint]]:
        result = []
        for _ in range(count):
            a, b = self.ctx.Pipe(duplex=True)
            self._parent_copies += [a, b]
            result.append((PipeEndpoint(a, self.pickled), PipeEndpoint(b, self.pickled)))
        return result

    def stream(self, producers: int) -> tuple[list[Endpoint], Endpoint]:
        readers, senders = [], []
        for _ in range(producers):
            r, w = self.ctx.Pipe(duplex=False)
            self._parent_copies += [r, w]
            readers.append(r)
            senders.append(PipeEndpoint(w, self.pickled))
        return senders, PipeFanIn(readers, self.pickled)

    def after_start(self) -> None:
        # The parent never uses these ends; keeping them open would hide a dead
        # peer from its partner (no EOF while a copy of the write end lives on).
        for conn in self._parent_copies:
            conn.close()
        self._parent_copies.clear()

    close = after_start


INFO = MechanismInfo(
    name="pipe",
    description="multiprocessing.Pipe; 'bytes' = send_bytes/recv_bytes, 'pickle' = send/recv",
    variants=(Variant("bytes", STREAMS), Variant("pickle", STREAMS)),
    mechanism=PipeMechanism,
    why_not={WORKQUEUE.name: "a Connection read by several processes at once can split a "
             "message between them; Queue adds the lock that prevents it"},
)

"""Byte-stream channels over raw file descriptors, shared by os-pipe, socketpair and tcp.

Every message has the case's fixed length, so frames need no length prefix: the receiver
reads exactly size_bytes into a buffer it allocated once, looping over short reads, and
the sender loops over short writes. N -> 1 uses one channel per producer (writes larger
than PIPE_BUF are not atomic, so producers sharing a stream would interleave bytes), and
the receiver sleeps in poll() on all of them: no busy-waiting.

Descriptors reach peers by inheritance under fork and, under spawn/forkserver, through
multiprocessing's own fd passing (reduction.DupFd while Process.start() pickles them).
"""

from __future__ import annotations

import os
import select
import socket
from multiprocessing import reduction

from ipcbench.core.patterns import WORKQUEUE
from ipcbench.mechanisms.base import Endpoint, Mechanism

# Why none of these channels is a work queue (the skipped rows say so): MechanismInfo.why_not.
WHY_NOT_SHARED = {WORKQUEUE.name: "several readers of one byte stream can split a message "
                                  "between them; a lock per message is what SimpleQueue adds"}


class _PipeWire:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read_into(self, view: memoryview) -> int:
        return os.readv(self.fd, [view])  # readinto for a raw fd: no temporary bytes

    def write_all(self, data) -> None:
        sent = os.write(self.fd, data)
        if sent < len(data):  # short write (signal, full pipe): go on from there
            view = memoryview(data)
            while sent < len(view):
                sent += os.write(self.fd, view[sent:])

    def close(self) -> None:
        os.close(self.fd)


class _SocketWire:
    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)  # family and type are read from the fd
        self.fd = fd
        self.read_into = self.sock.recv_into
        self.write_all = self.sock.sendall  # loops over short sends itself

    def close(self) -> None:
        self.sock.close()


class FdHandle:
    """A descriptor on its way to a peer (picklable); `open()` it there."""

    def __init__(self, fd: int, is_socket: bool) -> None:
        self.fd = fd
        self.is_socket = is_socket

    def __getstate__(self) -> dict:
        # Only valid while a Process is being started (spawn/forkserver); the child
        # gets its own duplicate of the descriptor.
        return {"is_socket": self.is_socket, "dup": reduction.DupFd(self.fd)}

    def __setstate__(self, state: dict) -> None:
        self.is_socket = state["is_socket"]
        self.fd = state["dup"].detach()

    def open(self):
        return _SocketWire(self.fd) if self.is_socket else _PipeWire(self.fd)


class StreamEndpoint(Endpoint):
    """Writes to `outbox`, reads fixed-size messages from `inboxes` (several for N -> 1).
    A duplex socket is the same FdHandle object in both roles (pickled once, opened once)."""

    def __init__(self, outbox: FdHandle | None, inboxes: list[FdHandle], size_bytes: int):
        self.outbox = outbox
        self.inboxes = inboxes
        self.size_bytes = size_bytes

    def attach(self) -> None:
        wires = {}
        # In a fixed global order: opening a named FIFO blocks until its other end opens
        # (fifo.py), so every peer must take its FIFOs in the same order.
        handles = [h for h in [self.outbox, *self.inboxes] if h is not None]
        for handle in sorted(handles, key=lambda h: getattr(h, "order", 0)):
            if id(handle) not in wires:
                wires[id(handle)] = handle.open()
        self._wires = list(wires.values())
        self._out = wires[id(self.outbox)] if self.outbox is not None else None
        self._ins = [wires[id(h)] for h in self.inboxes]
        # The receiver's private buffer, allocated once (see base.py).
        self._buffer = bytearray(self.size_bytes)
        self._view = memoryview(self._buffer)
        self._by_fd = {w.fd: w for w in self._ins}
        self._poller = None
        if len(self._ins) > 1:
            self._poller = select.poll()
            for wire in self._ins:
                self._poller.register(wire.fd, select.POLLIN)
        self._ready: list[int] = []

    def send(self, payload) -> None:
        if len(payload) != self.size_bytes:
            raise ValueError(f"message of {len(payload)} bytes on a {self.size_bytes}-byte stream")
        self._out.write_all(payload)

    def recv(self) -> memoryview:
        if self._poller is None:  # one sender: no poll() in the hot path
            wire = self._ins[0]
        else:
            while not self._ready:
                self._ready = [fd for fd, _ in self._poller.poll()]
            wire = self._by_fd[self._ready.pop()]
        view, got = self._view, 0
        while got < self.size_bytes:
            n = wire.read_into(view[got:] if got else view)
            if n == 0:
                raise EOFError(f"sender closed the stream after {got} of {self.size_bytes} bytes")
            got += n
        return view

    def close(self) -> None:
        for wire in self._wires:
            wire.close()
        self._wires, self._ins, self._out, self._by_fd, self._view = [], [], None, {}, None


class FdStreamMechanism(Mechanism):
    """Subclasses make channels: `_oneway()` -> (read fd, write fd), or `_duplex()` ->
    two connected socket fds (then also used, one end each way, for one-way streams)."""

    is_socket = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._parent_fds: list[int] = []

    def _keep(self, *fds: int) -> list[FdHandle]:
        self._parent_fds += fds
        return [FdHandle(fd, self.is_socket) for fd in fds]

    def _oneway(self) -> tuple[int, int]:
        return self._duplex()

    def _duplex(self) -> tuple[int, int]:
        raise NotImplementedError

    def pairs(self, count: int) -> list[tuple[Endpoint, Endpoint]]:
        size, result = self.size_bytes, []
        for _ in range(count):
            if self.is_socket:
                a, b = self._keep(*self._duplex())
                result.append((StreamEndpoint(a, [a], size), StreamEndpoint(b, [b], size)))
            else:
                r1, w1, r2, w2 = self._keep(*self._oneway(), *self._oneway())
                result.append((StreamEndpoint(w1, [r2], size), StreamEndpoint(w2, [r1], size)))
        return result

    def stream(self, producers: int) -> tuple[list[Endpoint], Endpoint]:
        readers, senders = [], []
        for _ in range(producers):
            r, w = self._keep(*self._oneway())
            readers.append(r)
            senders.append(StreamEndpoint(w, [], self.size_bytes))
        return senders, StreamEndpoint(None, readers, self.size_bytes)

    def after_start(self) -> None:
        # Every peer has its own copy now; the parent's would only hide a dead peer
        # from its partner (no EOF while a copy of the write end stays open).
        for fd in self._parent_fds:
            os.close(fd)
        self._parent_fds.clear()

    close = after_start

"""ZeroMQ through pyzmq (optional extra `ipcbench[zmq]`): PAIR sockets for pingpong,
PUSH -> PULL for stream (PULL fair-queues the producers itself), and for the work queue
every producer's PUSH connected to every consumer's PULL: PUSH deals its messages
round-robin over the consumers it is connected to (zmq's load balancing is at the
sender, so a slow consumer still gets its turn). With no high-water mark on those PUSH
sockets no consumer is ever skipped, so a producer's one END per consumer reaches each
consumer once, behind that producer's messages to it: the end of stream is exact.

zmq contexts do not survive fork, so peers create their sockets in attach(), never
the parent. The binding side binds (variant 'ipc': a socket file in a temp directory
the parent owns; 'tcp': 127.0.0.1 on a port the kernel picks) and tells each
connecting side the bound address through a one-way multiprocessing pipe, so no port
is guessed and none can be taken in between.

Over tcp any local process could connect to the bound port and have its messages
counted as payload: the binding side requires ZMQ's PLAIN handshake with a random
per-case password (checked by a ZAP handler thread in that peer), so only the case's
own peers connect. PLAIN costs a handshake per connection, nothing per message.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile

from ipcbench.core.patterns import BIDIR
from ipcbench.mechanisms.base import END, Endpoint, Mechanism
from ipcbench.mechanisms.info import SHARED, MechanismInfo, Variant
from ipcbench.system import hygiene

_RENDEZVOUS_TIMEOUT_S = 60.0  # the harness's start deadline ends a stuck case sooner
_USER = "ipcbench"
_HWM = "send and receive high-water marks"


class ZmqEndpoint(Endpoint):
    def __init__(
        self, socket_type: str, size_bytes: int, bind: str = "", announce=(), listen=(),
        token: str = "", unbounded: bool = False, hwm: int = 0,
    ) -> None:
        self.socket_type = socket_type  # a zmq constant's name: contexts live in peers only
        self.size_bytes = size_bytes
        self.bind = bind  # address to bind, or "" for the connecting side
        self.announce = list(announce)  # pipes to tell each connecting side the address
        # Pipes this connecting side learns the addresses to connect to from (one each).
        self.listen = list(listen)
        self.token = token  # PLAIN password of the case (tcp); "" = no authentication
        # No send high-water mark: PUSH then never skips a connected peer (exact
        # round-robin, which the work queue's end of stream relies on).
        self.unbounded = unbounded
        # --depth: the socket's send and receive high-water marks (0: zmq's 1000).
        self.hwm = hwm

    def attach(self) -> None:
        import zmq

        self._context = zmq.Context()
        self._auth = None
        self._socket = self._context.socket(getattr(zmq, self.socket_type))
        if self.token:
            self._authenticate()
        if self.hwm:
            self._socket.setsockopt(zmq.SNDHWM, self.hwm)
            self._socket.setsockopt(zmq.RCVHWM, self.hwm)
        if self.unbounded:
            self._socket.setsockopt(zmq.SNDHWM, 0)
        if self.bind:
            self._socket.bind(self.bind)
            address = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
            for conn in self.announce:
                conn.send(address)
                conn.close()
        for conn in self.listen:  # in order: the round-robin starts at the first
            if not conn.poll(_RENDEZVOUS_TIMEOUT_S):
                raise TimeoutError("the binding peer never announced its address")
            self._socket.connect(conn.recv())
            conn.close()
        # The receiver's private buffer, allocated once (see base.py).
        self._buffer = bytearray(self.size_bytes)
        self._view = memoryview(self._buffer)

    def _authenticate(self) -> None:
        if self.bind:
            from zmq.auth.thread import ThreadAuthenticator

            self._auth = ThreadAuthenticator(self._context)
            self._auth.start()
            self._auth.configure_plain(domain="*", passwords={_USER: self.token})
            self._socket.plain_server = True
        else:
            self._socket.plain_username = _USER.encode()
            self._socket.plain_password = self.token.encode()

    def send(self, payload) -> None:
        # copy=True: zmq owns a copy, so the sender may reuse its buffer at once (the
        # pong echoes from the buffer its next recv overwrites).
        self._socket.send(payload, copy=True)

    def recv(self) -> memoryview:
        length = self._socket.recv_into(self._view)
        if length == 0:
            return END  # the work queue's end of stream (a payload is never empty)
        if length != self.size_bytes:  # recv_into truncates silently: check the length
            raise ValueError(f"zmq message of {length} bytes, expected {self.size_bytes}")
        return self._view

    def close(self) -> None:
        # linger=0: every message was consumed before the harness said stop.
        self._socket.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        self._context.term()


class ZmqMechanism(Mechanism):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The module, never a context, in the harness: forked peers inherit it instead of
        # each importing it (16 ms, one peer after another on a shared core).
        import zmq  # noqa: F401

        self._tempdir = ""
        self._conns = []
        self._binds = 0
        # tcp only: an ipc socket lives in a private (0700) folder of the parent.
        self._token = secrets.token_hex(16) if self.variant == "tcp" else ""

    def _bind_address(self) -> str:
        if self.variant == "tcp":
            return "tcp://127.0.0.1:*"  # loopback only; the kernel picks the port
        if not self._tempdir:
            # Room for the prefix, mkdtemp's 8 characters and "/<n>" in 107 bytes.
            root = hygiene.temp_root(len(self.name_prefix) + 16)
            self._tempdir = tempfile.mkdtemp(prefix=self.name_prefix, dir=root)
        self._binds += 1
        return f"ipc://{self._tempdir}/{self._binds}"

    def _rendezvous(self):
        reader, writer = self.ctx.Pipe(duplex=False)
        self._conns += [reader, writer]
        return reader, writer

    def pairs(self, count: int) -> list[tuple[Endpoint, Endpoint]]:
        result = []
        for _ in range(count):
            reader, writer = self._rendezvous()
            binder = ZmqEndpoint("PAIR", self.size_bytes, self._bind_address(), [writer],
                                 token=self._token, hwm=self.depth)
            result.append((binder, ZmqEndpoint("PAIR", self.size_bytes, listen=[reader],
                                               token=self._token, hwm=self.depth)))
        return result

    def stream(self, producers: int) -> tuple[list[Endpoint], Endpoint]:
        pipes = [self._rendezvous() for _ in range(producers)]
        senders = [ZmqEndpoint("PUSH", self.size_bytes, listen=[r], token=self._token,
                               hwm=self.depth) for r, _ in pipes]
        consumer = ZmqEndpoint("PULL", self.size_bytes, self._bind_address(),
                               [w for _, w in pipes], token=self._token, hwm=self.depth)
        return senders, consumer

    def work_queue(self, producers: int, consumers: int) -> tuple[list[Endpoint], list[Endpoint]]:
        """Every consumer binds a PULL; every producer's PUSH connects to all of them."""
        pipes = [[self._rendezvous() for _ in range(consumers)] for _ in range(producers)]
        senders = [ZmqEndpoint("PUSH", self.size_bytes, listen=[r for r, _ in row],
                               token=self._token, unbounded=True, hwm=self.depth)
                   for row in pipes]
        receivers = [ZmqEndpoint("PULL", self.size_bytes, self._bind_address(),
                                 [row[c][1] for row in pipes], token=self._token, hwm=self.depth)
                     for c in range(consumers)]
        return senders, receivers

    def after_start(self) -> None:
        for conn in self._conns:  # peers hold their own ends now
            conn.close()
        self._conns.clear()

    def close(self) -> None:
        self.after_start()
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = ""


INFO = MechanismInfo(
    name="zmq",
    description="pyzmq (optional): PAIR for pingpong, PUSH/PULL for stream, every producer's "
                "PUSH connected to every consumer's PULL for workqueue; 'ipc' = ipc:// in a "
                "temp dir, 'tcp' = tcp://127.0.0.1",
    variants=(Variant("ipc", SHARED, depth=_HWM), Variant("tcp", SHARED, depth=_HWM)),
    mechanism=ZmqMechanism,
    requires="zmq",
    why_not={BIDIR.name: "a zmq socket is not thread-safe: one thread may not send on it "
             "while another receives"},
)

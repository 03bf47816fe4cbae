"""nng through pynng (optional extra `ipcbench[nng]`), the other socket library beside
zmq, over ipc:// socket files in a private (0700) temp folder of the parent:

- `pair`: a Pair0 socket each side for pingpong (one duplex pipe).
- `pushpull`: every producer's Push0 dialled to the consumer's Pull0 for stream (the Pull
  fair-queues its pipes). No work queue: nng's Push picks whichever consumer pipe is
  ready, not a strict round-robin, so a producer's one END per consumer could reach the
  same consumer twice and the end of stream would not be exact.
- `pubsub`: pingpong over publish-subscribe, a Pub0 -> Sub0 link each way. Pub drops a
  message a slow subscriber's queue cannot take (no back-pressure), so only the round
  trip, one message in flight, is a lossless use of it; a stream would lose messages
  (caught by the sequence check) rather than measure a channel.

Sockets are made in attach(), inside the peers (nng starts its threads with its first
socket: none in the harness, so forking stays clean). Addresses are fixed by the parent,
so no rendezvous pipe is needed: a dialler retries in the background until its listener
is up. attach() returns only once every pipe it expects is connected (bounded), so the
first timed message never races a connection or a subscription. nng limits a received
message to 1 MiB by default: recv_max_size 0 lifts that. pynng's recv() returns a new
bytes object (nng allocates, pynng copies it out): the receiver's private copy.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass

from ipcbench.core.patterns import BIDIR, REQREP
from ipcbench.mechanisms.base import Endpoint, Mechanism
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant
from ipcbench.system import hygiene

_CONNECT_TIMEOUT_S = 60.0  # the harness's start deadline ends a stuck case sooner
# A dialler whose listener is not up yet retries this soon (nng's default is 100 ms+).
_RECONNECT_MS = 5


@dataclass(frozen=True)
class SocketSpec:
    """One nng socket of a peer: its protocol class name, what it listens on or dials,
    and how many pipes it must have before the peer says ready."""

    protocol: str  # pynng class name: Pair0, Push0, Pull0, Pub0, Sub0
    listen: str = ""
    dial: str = ""
    pipes: int = 1


class _Socket:
    """An nng socket that counts its connected pipes: opened (listening or dialling) at
    once, waited for later, so two peers that each listen and dial never wait on each
    other (pubsub: each waits for the other's subscriber)."""

    def __init__(self, spec: SocketSpec) -> None:
        import pynng

        self.spec = spec
        self.socket = getattr(pynng, spec.protocol)(
            recv_max_size=0, reconnect_time_min=_RECONNECT_MS, reconnect_time_max=100)
        if spec.protocol == "Sub0":
            self.socket.subscribe(b"")  # before dialling: filtering is the subscriber's
        self._connected = threading.Condition()
        self.socket.add_post_pipe_connect_cb(self._notify)  # before any pipe can exist
        if spec.listen:
            self.socket.listen(spec.listen)
        if spec.dial:
            self.socket.dial(spec.dial, block=False)  # retried until its listener is up

    def _notify(self, _pipe) -> None:
        with self._connected:
            self._connected.notify_all()

    def wait_connected(self) -> None:
        with self._connected:
            if not self._connected.wait_for(lambda: len(self.socket.pipes) >= self.spec.pipes,
                                            _CONNECT_TIMEOUT_S):
                raise TimeoutError(f"nng {self.spec.protocol}: {len(self.socket.pipes)} of "
                                   f"{self.spec.pipes} pipes connected within "
                                   f"{_CONNECT_TIMEOUT_S:g} s")


class NngEndpoint(Endpoint):
    """Sends on `outgoing`, receives on `incoming` (the same socket for a Pair)."""

    def __init__(self, size_bytes: int, outgoing: SocketSpec | None,
                 incoming: SocketSpec | None, same_socket: bool = False) -> None:
        self.size_bytes = size_bytes
        self.outgoing = outgoing
        self.incoming = incoming
        self.same_socket = same_socket

    def attach(self) -> None:
        from pynng.nng import ffi

        self._from_buffer = ffi.from_buffer  # pynng's send takes bytes or a cdata buffer
        self._sockets = []  # close() closes what was opened, even after a failed wait
        out = self._opened(self.outgoing)
        into = out if self.same_socket else self._opened(self.incoming)
        for socket in self._sockets:
            socket.wait_connected()
        self._out = out.socket if out else None
        self._in = into.socket if into else None

    def _opened(self, spec: SocketSpec | None) -> _Socket | None:
        if spec is None:
            return None
        self._sockets.append(_Socket(spec))
        return self._sockets[-1]

    def send(self, payload) -> None:
        # A cdata view of the payload, no copy here: nng copies it into its message.
        self._out.send(payload if isinstance(payload, bytes) else self._from_buffer(payload))

    def recv(self) -> bytes:
        message = self._in.recv()
        if len(message) != self.size_bytes:
            raise ValueError(f"nng message of {len(message)} bytes, expected {self.size_bytes}")
        return message

    def close(self) -> None:
        for socket in getattr(self, "_sockets", ()):
            socket.socket.close()


class NngMechanism(Mechanism):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        import pynng  # noqa: F401 - the module (no socket) here: peers inherit it

        self._tempdir = ""
        self._addresses = 0

    def _address(self) -> str:
        if not self._tempdir:
            # Room for the prefix, mkdtemp's 8 characters and "/<n>" in 107 bytes.
            root = hygiene.temp_root(len(self.name_prefix) + 16)
            self._tempdir = tempfile.mkdtemp(prefix=self.name_prefix, dir=root)
        self._addresses += 1
        return f"ipc://{self._tempdir}/{self._addresses}"

    def pairs(self, count: int) -> list[tuple[Endpoint, Endpoint]]:
        size, result = self.size_bytes, []
        for _ in range(count):
            if self.variant == "pair":
                address = self._address()
                result.append((NngEndpoint(size, SocketSpec("Pair0", listen=address), None, True),
                               NngEndpoint(size, SocketSpec("Pair0", dial=address), None, True)))
                continue
            there, back = self._address(), self._address()
            result.append((
                NngEndpoint(size, SocketSpec("Pub0", listen=there), SocketSpec("Sub0", dial=back)),
                NngEndpoint(size, SocketSpec("Pub0", listen=back), SocketSpec("Sub0", dial=there)),
            ))
        return result

    def stream(self, producers: int) -> tuple[list[Endpoint], Endpoint]:
        address = self._address()
        senders = [NngEndpoint(self.size_bytes, SocketSpec("Push0", dial=address), None)
                   for _ in range(producers)]
        consumer = NngEndpoint(self.size_bytes, None,
                               SocketSpec("Pull0", listen=address, pipes=producers))
        return senders, consumer

    def close(self) -> None:
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = ""


INFO = MechanismInfo(
    name="nng",
    description="pynng (optional) over ipc:// in a temp dir: 'pair' = Pair0 for pingpong, "
                "'pushpull' = every producer's Push0 to one Pull0 for stream, 'pubsub' = "
                "a Pub0 -> Sub0 link each way for pingpong",
    variants=(Variant("pair", (STREAMS[0],)), Variant("pushpull", (STREAMS[1],)),
              Variant("pubsub", (STREAMS[0],))),
    mechanism=NngMechanism,
    requires="pynng",
    # The shapes built from a mechanism's streams and pairs (mechanisms/info.py) that did
    # not finish with nng when tried: skipped rows instead of timeouts until they do.
    why_not={REQREP.name: "the request stream and the reply links did not finish within "
                          "the deadline with nng (a timeout in every case tried)",
             BIDIR.name: "a pub/sub link each way did not finish within the deadline with "
                         "both ends sending at once"},
)

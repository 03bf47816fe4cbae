"""Loopback TCP (127.0.0.1 only) with TCP_NODELAY: Nagle's algorithm would hold small
messages back waiting for an ACK, measuring a 40 ms timer instead of the channel.

The parent listens on an ephemeral port and connects + accepts every connection before
any peer starts; peers get the connected sockets (see fdstream.py). Only a connection
whose far end is the parent's own client socket, and which then presents the case's
random token, is accepted: any local process may connect to a loopback port."""

from __future__ import annotations

import hmac
import secrets
import socket

from ipcbench.mechanisms.fdstream import WHY_NOT_SHARED, FdStreamMechanism
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant

LOOPBACK = "127.0.0.1"
_ACCEPT_TIMEOUT_S = 10.0
_STRANGERS_MAX = 8
_TOKEN_BYTES = 16


def _read_token(sock: socket.socket) -> bytes:
    """The first _TOKEN_BYTES of a connection (b"" if it sends fewer in time)."""
    sock.settimeout(_ACCEPT_TIMEOUT_S)
    data = b""
    try:
        while len(data) < _TOKEN_BYTES:
            chunk = sock.recv(_TOKEN_BYTES - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        return b""
    return data


class TcpMechanism(FdStreamMechanism):
    is_socket = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._listener: socket.socket | None = None

    def _duplex(self) -> tuple[int, int]:
        if self._listener is None:
            self._listener = socket.create_server((LOOPBACK, 0), backlog=16)
            self._listener.settimeout(_ACCEPT_TIMEOUT_S)
        client = socket.create_connection(self._listener.getsockname())
        token = secrets.token_bytes(_TOKEN_BYTES)
        try:
            client.sendall(token)  # fits any socket buffer: never blocks
            server = self._accept(client.getsockname(), token)
        except BaseException:
            client.close()
            raise
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(True)  # accepted sockets inherit the listener's timeout
        return client.detach(), server.detach()

    def _accept(self, client_address, token: bytes) -> socket.socket:
        # Any local process may connect to a loopback port: refuse everyone but ours.
        for _ in range(_STRANGERS_MAX):
            server, address = self._listener.accept()  # bounded: the listener's timeout
            if address == client_address and hmac.compare_digest(_read_token(server), token):
                return server
            server.close()
        raise ConnectionError("too many foreign connections on the benchmark's listening port")

    def after_start(self) -> None:
        super().after_start()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    close = after_start


INFO = MechanismInfo(
    name="tcp",
    description="loopback TCP on 127.0.0.1 with TCP_NODELAY: sendall / recv_into loops",
    variants=(Variant("nodelay", STREAMS),),
    mechanism=TcpMechanism,
    why_not=WHY_NOT_SHARED,
)

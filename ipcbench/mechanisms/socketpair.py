"""socket.socketpair(AF_UNIX, SOCK_STREAM): one duplex connection per pingpong pair,
sendall / recv_into with fixed-size frames (see fdstream.py)."""

from __future__ import annotations

import socket

from ipcbench.mechanisms.fdstream import WHY_NOT_SHARED, FdStreamMechanism
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant


class SocketPairMechanism(FdStreamMechanism):
    is_socket = True

    def _duplex(self) -> tuple[int, int]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # detach(): from here on the raw fds are closed exactly once, by after_start().
        return a.detach(), b.detach()


INFO = MechanismInfo(
    name="socketpair",
    description="socket.socketpair(AF_UNIX, SOCK_STREAM): sendall / recv_into loops",
    variants=(Variant("unix", STREAMS),),
    mechanism=SocketPairMechanism,
    why_not=WHY_NOT_SHARED,
)

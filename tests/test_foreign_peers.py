"""tcp and zmq-over-tcp accept only the case's own peers: any local process can connect
to a loopback port, and its messages must never be counted as payload."""

from __future__ import annotations

import multiprocessing
import socket

import pytest

from ipcbench.mechanisms.tcp import TcpMechanism

SIZE_BYTES = 8
QUIET_MS = 500  # how long the receiver must stay free of foreign messages


def test_zmq_tcp_receiver_ignores_a_foreign_sender():
    zmq = pytest.importorskip("zmq")
    from ipcbench.mechanisms.zeromq import ZmqEndpoint

    announce_r, announce_w = multiprocessing.Pipe(duplex=False)
    receiver = ZmqEndpoint("PULL", SIZE_BYTES, "tcp://127.0.0.1:*", [announce_w],
                           token="the-case-token")
    receiver.attach()
    address = announce_r.recv()
    context = zmq.Context()
    foreign = context.socket(zmq.PUSH)
    listen_r, listen_w = multiprocessing.Pipe(duplex=False)
    sender = ZmqEndpoint("PUSH", SIZE_BYTES, listen=[listen_r], token="the-case-token")
    try:
        foreign.connect(address)  # a stranger without the token, connected first
        for _ in range(3):
            foreign.send(b"F" * SIZE_BYTES)
        listen_w.send(address)
        sender.attach()
        sender.send(b"L" * SIZE_BYTES)
        assert bytes(receiver.recv()) == b"L" * SIZE_BYTES
        assert receiver._socket.poll(QUIET_MS) == 0, "a foreign message was delivered"
    finally:
        foreign.close(linger=0)
        context.term()
        sender.close()
        receiver.close()


def test_tcp_refuses_a_connection_without_the_token(monkeypatch):
    """A stranger that wins the race to the listening port is closed, ours accepted."""
    mechanism = TcpMechanism(multiprocessing.get_context("fork"), "nodelay", SIZE_BYTES,
                             "ipcb_test_")
    strangers = []
    real_connect = socket.create_connection

    def stranger_first(address, *args, **kwargs):
        strangers.append(real_connect(address))  # connects (and sends nothing) first
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", stranger_first)
    try:
        a, b = mechanism._duplex()
    finally:
        mechanism.close()
    with socket.socket(fileno=a) as left, socket.socket(fileno=b) as right:
        left.sendall(b"x" * SIZE_BYTES)
        assert right.recv(SIZE_BYTES) == b"x" * SIZE_BYTES
    stranger = strangers[0]
    stranger.settimeout(5)
    assert stranger.recv(1) == b""  # closed by the mechanism
    stranger.close()

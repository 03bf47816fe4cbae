"""Every mechanism beyond Pipe, Queue, Value and shared_memory: every one x variant x supported
pattern with real peers under fork at 64 B and 64 KiB, one case each under spawn (and
forkserver where descriptors are passed), a few injected faults, and the framing and
skip logic on their own. Structure and correctness only, never speed.

The optional ones (zmq, faster-fifo) run when their module is installed and are skipped
with the reason otherwise. conftest's leak check covers peers, the manager process and
/dev/shm; temp directories are checked here.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from dataclasses import replace
from multiprocessing import get_context

import pytest

from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY, unavailable_reason

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90),
              pytest.mark.usefixtures("no_temp_dirs_left")]

SMALL = Settings(sessions=1, repeats=2,
                 warmup=1, target_bytes=256 << 10, min_messages=4, max_messages=40,
                 increments=300)

OTHER_MECHANISMS = ["simplequeue", "manager-queue", "os-pipe", "socketpair", "tcp", "mmap",
                  "array", "value-raw", "zmq", "faster-fifo", "fifo"]
OPTIONAL_MODULE = {"zmq": "zmq", "faster-fifo": "faster_fifo"}


def _needs(mechanism: str) -> list:
    module = OPTIONAL_MODULE.get(mechanism)
    if module is None:
        return []
    reason = f"optional module {module} is not installed"
    return [pytest.mark.skipif(bool(unavailable_reason(mechanism)), reason=reason)]


def _params(cases: list[Case]) -> list:
    return [pytest.param(c, id=c.label, marks=_needs(c.mechanism)) for c in cases]


def _all_cases(start_method: str) -> list[Case]:
    """Every variant x supported pattern, at two sizes and 1-2 processes."""
    cases = []
    for name in OTHER_MECHANISMS:
        for variant in REGISTRY[name].variants:
            for pattern in variant.patterns:
                sizes = [8] if pattern == "counter" else [64, 64 << 10]
                cases += [Case(name, variant.name, pattern, size, procs, start_method)
                          for size in sizes for procs in (1, 2)]
    return cases


def assert_ok(row, case: Case, settings: Settings = SMALL) -> None:
    assert row.status == "ok", f"{case.label}: {row.status}: {row.reason}"
    assert row.verified is True
    assert row.repeats >= settings.repeats
    # Exact: every round trip / message / increment of every timed repeat was counted
    # (round trips of every pair or client; otherwise what the pattern delivers a step:
    # a copy to each subscriber, one message through a pipeline, both ways of a pair).
    kind = case.kind
    per_step = case.procs if kind.round_trip or not kind.moves_payload else (
        kind.delivered(case.procs))
    assert row.messages == settings.messages_for(case) * per_step * row.repeats
    assert (row.mechanism, row.variant, row.pattern, row.size_bytes, row.procs) == (
        case.mechanism, case.variant, case.pattern, case.size_bytes, case.procs)
    assert row.min_ns <= row.median_ns <= row.max_ns
    assert row.msgs_per_s > 0


def test_every_other_mechanism_is_registered_with_its_patterns():
    for name in OTHER_MECHANISMS:
        assert name in REGISTRY and not REGISTRY[name].hidden
    assert set(REGISTRY["array"].variant_names) == {"synchronized", "raw"}
    assert set(REGISTRY["zmq"].variant_names) == {"ipc", "tcp"}
    assert REGISTRY["value-raw"].variant("lock").patterns == ("counter",)
    assert REGISTRY["zmq"].requires == "zmq"
    assert REGISTRY["faster-fifo"].requires == "faster_fifo"


@pytest.mark.parametrize("case", _params(_all_cases("fork")))
def test_other_mechanism_under_fork(meta, case):
    assert_ok(run_case(case, SMALL, meta), case)


# Spawn pickles every endpoint (descriptors travel by DupFd, files by name); forkserver
# passes descriptors over a unix socket instead, so the fd-based ones run under both.
SLOW_CASES = [
    Case(m, v, p, 4096, procs, method)
    for m, v, p, procs, methods in (
        ("simplequeue", "default", "stream", 2, ["spawn"]),
        ("manager-queue", "default", "pingpong", 1, ["spawn"]),
        ("os-pipe", "raw", "stream", 2, ["spawn", "forkserver"]),
        ("socketpair", "unix", "pingpong", 1, ["spawn", "forkserver"]),
        ("tcp", "nodelay", "pingpong", 1, ["spawn", "forkserver"]),
        ("mmap", "shared", "stream", 2, ["spawn", "forkserver"]),
        ("array", "synchronized", "pingpong", 1, ["spawn"]),
        ("array", "raw", "stream", 2, ["forkserver"]),
        ("value-raw", "lock", "counter", 2, ["spawn"]),
        ("zmq", "ipc", "stream", 2, ["spawn"]),
        ("zmq", "tcp", "pingpong", 1, ["forkserver"]),
        ("faster-fifo", "default", "stream", 2, ["spawn"]),
        ("fifo", "named", "pingpong", 2, ["spawn", "forkserver"]),
        ("fifo", "named", "stream", 2, ["forkserver"]),
    )
    for method in methods
]


@pytest.mark.parametrize("case", _params(SLOW_CASES))
def test_other_mechanism_under_spawn_and_forkserver(meta, case):
    assert_ok(run_case(case, SMALL, meta), case)


CORRUPT_CASES = [
    Case("os-pipe", "raw", "stream", 1024, 1, "fork"),
    Case("socketpair", "unix", "pingpong", 1024, 1, "fork"),
    Case("mmap", "shared", "pingpong", 1024, 1, "fork"),
    Case("array", "synchronized", "stream", 1024, 1, "fork"),
    Case("manager-queue", "default", "stream", 1024, 1, "fork"),
]


@pytest.mark.parametrize("case", _params(CORRUPT_CASES))
def test_corrupted_payload_is_detected(meta, case):
    role = "producer" if case.pattern == "stream" else "ping"
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", role)), meta)
    assert row.status == "failed", row
    assert "PayloadMismatch" in row.reason and "checksum" in row.reason


@pytest.mark.parametrize("case", _params([
    Case("tcp", "nodelay", "stream", 4096, 2, "fork"),
    Case("manager-queue", "default", "stream", 64, 1, "fork"),
]))
def test_producer_killed_mid_stream_fails_the_case_and_leaks_nothing(meta, case):
    row = run_case(case, replace(SMALL, fault=Fault("kill", "producer")), meta)
    assert row.status == "failed", row
    assert "producer#0" in row.reason and "SIGKILL" in row.reason


def test_tcp_is_loopback_only_with_nodelay():
    mechanism = REGISTRY["tcp"]
    from ipcbench.mechanisms.tcp import TcpMechanism

    tcp = TcpMechanism(get_context("fork"), "nodelay", 64, "ipcb_test_")
    try:
        [(a, b)] = tcp.pairs(1)
        for handle in (a.outbox, b.outbox):
            sock = socket.socket(fileno=os.dup(handle.fd))
            try:
                assert sock.getsockname()[0] == "127.0.0.1"
                assert sock.getpeername()[0] == "127.0.0.1"
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            finally:
                sock.close()
    finally:
        tcp.close()
    assert "TCP_NODELAY" in mechanism.description


def test_stream_endpoint_reassembles_short_reads_and_reports_eof():
    from ipcbench.mechanisms.fdstream import FdHandle, StreamEndpoint

    ours, theirs = socket.socketpair()
    message = bytes(range(256)) * 40  # 10 KiB, written in pieces with pauses
    receiver = StreamEndpoint(None, [FdHandle(ours.detach(), True)], len(message))
    receiver.attach()

    def trickle() -> None:
        for start in range(0, len(message), 3000):
            theirs.sendall(message[start:start + 3000])
            time.sleep(0.01)
        theirs.sendall(message[:100])  # the start of a message that never finishes
        theirs.close()

    writer = threading.Thread(target=trickle)
    writer.start()
    try:
        assert bytes(receiver.recv()) == message
        with pytest.raises(EOFError, match="after 100 of 10240 bytes"):
            receiver.recv()
    finally:
        writer.join()
        receiver.close()


def test_missing_optional_module_becomes_skipped_cases(monkeypatch):
    info = dataclasses.replace(REGISTRY["zmq"], requires="ipcbench_no_such_module")
    monkeypatch.setitem(REGISTRY, "zmq", info)
    reason = unavailable_reason("zmq")
    assert "ipcbench_no_such_module" in reason and "pip install" in reason
    planned = expand(["zmq", "os-pipe"], ["pingpong"], [64], [1], ["fork"])
    skipped = {p.case.variant: p.skip_reason for p in planned if p.case.mechanism == "zmq"}
    assert skipped == {"ipc": reason, "tcp": reason}
    assert all(not p.skip_reason for p in planned if p.case.mechanism == "os-pipe")
    assert unavailable_reason("os-pipe") == ""

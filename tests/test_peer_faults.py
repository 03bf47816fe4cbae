"""Fault injection with real peers: a lying, raising, dying or hanging peer must end
its case with a failed/timeout row that says what happened, never hang the harness."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.runner import run_case

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SMALL = Settings(sessions=1, repeats=2,
                 warmup=1, target_bytes=64 << 10, min_messages=4, max_messages=20,
                 increments=200)

PAYLOAD_CASES = [
    ("pipe", "bytes"), ("pipe", "pickle"), ("queue", "default"), ("value", "array"),
    ("shm", "segment"),
]


@pytest.mark.parametrize(("mechanism", "variant"), PAYLOAD_CASES)
@pytest.mark.parametrize(("pattern", "role"), [("stream", "producer"), ("pingpong", "ping")])
def test_corrupted_payload_is_detected(meta, mechanism, variant, pattern, role):
    case = Case(mechanism, variant, pattern, 1024, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", role)), meta)
    assert row.status == "failed", row
    assert "PayloadMismatch" in row.reason
    assert "checksum" in row.reason
    assert row.verified is False


FAULT_CASES = [
    Case("pipe", "bytes", "pingpong", 64, 1, "fork"),
    Case("queue", "default", "stream", 64, 2, "fork"),
    Case("shm", "segment", "stream", 64, 1, "fork"),
    Case("value", "locked", "counter", 8, 2, "fork"),
]
ROLE = {"pingpong": "pong", "stream": "producer", "counter": "incrementer"}


def _with_fault(case: Case, fault: str, **changes) -> Settings:
    return replace(SMALL, **{"fault": Fault(fault, ROLE[case.pattern]), **changes})


@pytest.mark.parametrize("case", FAULT_CASES, ids=lambda c: c.label)
def test_peer_that_raises_fails_the_case_naming_it(meta, case):
    row = run_case(case, _with_fault(case, "raise"), meta)
    assert row.status == "failed"
    assert f"peer {ROLE[case.pattern]}#0 raised RuntimeError: injected fault" in row.reason


@pytest.mark.parametrize("case", FAULT_CASES, ids=lambda c: c.label)
def test_peer_that_exits_fails_the_case_naming_the_exit_code(meta, case):
    row = run_case(case, _with_fault(case, "exit"), meta)
    assert row.status == "failed"
    assert f"peer {ROLE[case.pattern]}#0" in row.reason
    assert "exited with code 3" in row.reason


@pytest.mark.parametrize("case", FAULT_CASES[:2], ids=lambda c: c.label)
def test_peer_that_hangs_times_out_at_the_deadline(meta, case):
    began = time.monotonic()
    row = run_case(case, _with_fault(case, "hang", deadline_s=2.0), meta)
    elapsed_s = time.monotonic() - began
    assert row.status == "timeout"
    assert "deadline of 2.0s passed" in row.reason
    assert f"{ROLE[case.pattern]}#0" in row.reason
    # A bound on the deadline (2 s + teardown), not a speed assertion.
    assert elapsed_s < 30.0


def test_fault_under_spawn_is_reported_too(meta):
    case = Case("shm", "segment", "pingpong", 4096, 1, "spawn")
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", "ping")), meta)
    assert row.status == "failed"
    assert "PayloadMismatch" in row.reason


def test_slow_fault_delays_every_send_by_a_fixed_spin():
    """The known difference of the real A/B check (docs/noise.md, "How well two runs agree"): every
    send of the faulty peer waits SLOW_NS first; nothing else changes."""
    from ipcbench.core.faults import SLOW_NS
    from ipcbench.peer.main import _Slow

    class Recorder:
        def __init__(self) -> None:
            self.sent = []

        def send(self, payload) -> None:
            self.sent.append(payload)

    inner = Recorder()
    slow = _Slow(inner)
    started = time.perf_counter_ns()
    for payload in (b"a", b"b", b"c"):
        slow.send(payload)
    assert time.perf_counter_ns() - started >= 3 * SLOW_NS  # a spin never ends early
    assert inner.sent == [b"a", b"b", b"c"] and slow.spun == 3


@pytest.mark.parametrize("case", FAULT_CASES[:3], ids=lambda c: c.label)
def test_a_slow_peer_still_moves_every_message_intact(meta, case):
    row = run_case(case, _with_fault(case, "slow"), meta)
    assert row.status == "ok", row.reason
    assert row.verified is True


def test_every_process_of_a_session_keeps_a_steady_heap():
    """glibc's trim and mmap thresholds raised (heap.py) by every peer, pool worker and
    manager server; never by the harness."""
    from ipcbench.system import heap

    class Libc:
        def __init__(self) -> None:
            self.calls = []

        def mallopt(self, param: int, value: int) -> int:
            self.calls.append((param, value))
            return 1

    libc = Libc()
    heap.set_steady(libc)
    assert libc.calls == [(-1, 1 << 30), (-3, 32 << 20)]  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD

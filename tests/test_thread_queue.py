"""Threads of one host process (peer/group.py, mechanisms/thread_queue.py) measured like
peer processes: exact counts, header and sequence checks, every placement's pinning per
thread, a failure anywhere in the group ending the case with the peers named, and the
ThreadPoolExecutor variant of the executor. Structure and correctness only."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=256 << 10, min_messages=4,
                 max_messages=40)


def _assert_ok(row, case: Case) -> None:
    assert row.status == "ok", f"{case.label}: {row.status}: {row.reason}"
    assert row.verified is True
    assert row.messages == SMALL.messages_for(case) * case.procs * row.repeats
    # A thread's CPU time (getrusage RUSAGE_THREAD) is sampled at the kernel's tick: a
    # short repeat can read 0 (it did in CI on 3.13), never less, never NaN.
    assert row.cpu_s_per_msg >= 0


@pytest.mark.parametrize(("variant", "pattern", "procs", "start_method", "payload"), [
    ("queue", "pingpong", 1, "fork", "bytes"),
    ("simplequeue", "pingpong", 2, "fork", "object"),
    ("queue", "stream", 2, "fork", "bytes"),
    ("simplequeue", "fanout", 2, "fork", "bytes"),
    ("queue", "workqueue", 2, "fork", "bytes"),
    ("simplequeue", "stream", 1, "spawn", "numpy"),
])
def test_thread_queue_runs_every_pattern_in_one_host(meta, variant, pattern, procs,
                                                      start_method, payload):
    case = Case("thread-queue", variant, pattern, 4096, procs, start_method, "cross-core",
                payload)
    _assert_ok(run_case(case, SMALL, meta), case)


def test_a_duplicated_message_between_threads_is_caught(meta):
    case = Case("thread-queue", "queue", "stream", 64, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("duplicate", "producer")), meta)
    assert row.status == "failed" and "SequenceError" in row.reason, row.reason


def test_a_thread_killing_its_process_names_the_whole_group(meta):
    case = Case("thread-queue", "simplequeue", "stream", 64, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("kill", "producer")), meta)
    assert row.status == "failed", row.reason
    assert "host of peers producer#0, consumer#0" in row.reason and "SIGKILL" in row.reason


def test_a_raising_thread_is_named(meta):
    case = Case("thread-queue", "queue", "pingpong", 64, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("raise", "pong")), meta)
    assert row.status == "failed" and "pong#0 raised RuntimeError" in row.reason, row.reason


@pytest.mark.parametrize("pattern", ["pingpong", "fanout"])
def test_thread_pool_executor_counts_every_task(meta, pattern):
    case = Case("executor", "tpe", pattern, 4096, 2, "fork", "same-core", "object")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    per_repeat = SMALL.messages_for(case) * (1 if case.kind.round_trip else case.procs)
    assert row.messages == per_repeat * SMALL.repeats


def test_thread_queue_is_declared_in_process():
    assert REGISTRY["thread-queue"].in_process == "thread"
    assert REGISTRY["pipe"].in_process == ""


def test_rows_say_what_the_peers_were_and_the_gil(meta):
    from ipcbench.system.machine import gil_state

    case = Case("thread-queue", "queue", "pingpong", 64, 1, "fork")
    row = run_case(case, SMALL, meta)
    assert row.peer_kind == "threads"
    assert (row.gil_enabled, row.free_threaded) == gil_state()
    tpe = run_case(Case("executor", "tpe", "pingpong", 64, 1, "fork"), SMALL, meta)
    assert tpe.peer_kind == "threads"

"""The executor family: Pool and ProcessPoolExecutor running a no-op task per message,
pool start-up outside the timed region, exact task counts, no worker left behind."""

from __future__ import annotations

import psutil
import pytest

from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SMALL = Settings(sessions=2, repeats=2, warmup=1, target_bytes=256 << 10, min_messages=4,
                 max_messages=20)


def _children() -> set[int]:
    """Live children, without multiprocessing's own long-lived helpers (the resource
    tracker that spawn starts once per process lives as long as the test process)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            if any("resource_tracker" in part for part in child.cmdline()):
                continue
        except psutil.NoSuchProcess:
            continue
        found.add(child.pid)
    return found


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
@pytest.mark.parametrize(("variant", "pattern"), [
    ("pool", "pingpong"), ("ppe", "pingpong"), ("pool", "fanout"), ("ppe", "fanout"),
    ("pool-chunk16", "fanout"), ("ppe-chunk16", "fanout"),
])
def test_every_executor_variant_counts_every_task(meta, start_method, variant, pattern):
    before = _children()
    case = Case("executor", variant, pattern, 4096, 2, start_method, "same-core", "object")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    per_repeat = SMALL.messages_for(case) * (1 if case.kind.round_trip else case.procs)
    assert row.messages == per_repeat * SMALL.repeats * SMALL.sessions
    assert row.sessions == SMALL.sessions and row.cpu_s_per_msg > 0
    assert _children() <= before  # every pool worker of every session is gone


def test_executor_skips_what_a_pool_cannot_do():
    planned = expand(["executor"], ["stream", "counter"], [64], [1], ["fork"])
    assert planned and all("does not support" in p.skip_reason for p in planned)
    shm = expand(["executor"], ["pingpong"], [4096], [1], ["fork"], payloads=["shm-view"])
    assert all("does not carry the shm-view payload" in p.skip_reason for p in shm)
    assert set(REGISTRY["executor"].variant_names) == {"pool", "pool-chunk16", "ppe", "ppe-chunk16",
                                                       "tpe"}


@pytest.mark.parametrize("payload", ["bytes", "object", "numpy"])
def test_a_chunk_of_tasks_carries_every_payload_not_back_references(payload):
    """pickle writes an object it already wrote in the same pickle as a back-reference:
    16 references to one payload in a map chunk would move its bytes once."""
    import pickle

    from ipcbench.mechanisms.base import Workload
    from ipcbench.mechanisms.executor import ExecutorSession

    case = Case("executor", "pool-chunk16", "fanout", 4096, 1, "fork", payload=payload)
    session = ExecutorSession(case, Workload(32, 30.0, 30.0))
    with session:
        chunk = [session.copies[i % session.chunksize] for i in range(16)]
        assert len(pickle.dumps(chunk, protocol=5)) >= 15 * 4096  # once each, not once


def _signal_landed(process):
    """The worker is a zombie, stopped or already reaped (the pool may reap a dead worker
    between two looks, so a vanished process counts as landed, not as an error)."""
    try:
        return process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_STOPPED)
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("fault", ["kill", "stop"])
@pytest.mark.parametrize("variant", ["pool", "ppe"])
def test_a_worker_killed_or_stopped_between_tasks_is_reported_not_absorbed(variant, fault):
    """multiprocessing.Pool replaces a worker that dies while idle without a word, and a
    stopped idle worker leaves its tasks to the others: the rows stayed ok. Now the
    repeat after the fault fails, naming the worker."""
    import os
    import signal
    import time

    from ipcbench.mechanisms.base import PeerFailed, Workload
    from ipcbench.mechanisms.executor import ExecutorSession

    case = Case("executor", variant, "fanout", 4096, 2, "fork")
    before = _children()
    with ExecutorSession(case, Workload(16, 5.0, 30.0)) as session:
        session.run_repeat(0)
        victim = session._started[0]
        os.kill(victim.pid, signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not _signal_landed(victim) and time.monotonic() < deadline:
            time.sleep(0.01)  # polls a condition: the signal has landed
        with pytest.raises(PeerFailed) as failure:
            session.run_repeat(1)
        processes = session._processes()
    assert f"pid {victim.pid}" in str(failure.value), failure.value
    # multiprocessing reaped its own workers: one reaped behind its back stays "alive"
    # to it, and ProcessPoolExecutor's manager thread then spun for ever, hanging the
    # interpreter's exit.
    assert not [p.pid for p in processes if p.is_alive()]
    assert ("stopped" if fault == "stop" else "died") in str(failure.value)
    assert _children() <= before  # every worker of this pool, replacements too, is gone

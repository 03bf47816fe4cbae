"""posix-mq: POSIX message queues through posix_ipc (optional). Every pattern with real
peers at small sizes (exact counts, checksums), the system limits as skipped rows, a
missing module as skipped rows with the install hint, and queue hygiene: every queue is
unlinked after its case, after a killed peer, and by the sweep after a killed run
(conftest's leak check sees a leaked queue through its marker in /dev/shm)."""

from __future__ import annotations

import dataclasses
import fcntl
import os
from dataclasses import replace
from multiprocessing import get_context

import pytest

from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY, unavailable_reason
from ipcbench.system import hygiene

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
needs_posix_ipc = pytest.mark.skipif(bool(unavailable_reason("posix-mq")),
                                     reason="optional module posix_ipc is not installed")

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=256 << 10, min_messages=4,
                 max_messages=40)
DEAD = "ipcb_4243_deadbeef"
LIVE = "ipcb_4242_0badcafe"


def _largest() -> int:
    """The largest message this machine allows, at most 8 KiB (the Linux default)."""
    from ipcbench.mechanisms.posix_mq import read_limits

    return min(8192, read_limits().msgsize_max)


def assert_ok(row, case: Case) -> None:
    assert row.status == "ok", f"{case.label}: {row.status}: {row.reason}"
    assert row.verified is True
    assert row.messages == SMALL.messages_for(case) * case.procs * row.repeats


@needs_posix_ipc
@pytest.mark.parametrize("pattern", ["pingpong", "stream", "fanout"])
@pytest.mark.parametrize("procs", [1, 2])
def test_every_pattern_counts_every_message(meta, pattern, procs):
    for size in (64, _largest()):
        case = Case("posix-mq", "default", pattern, size, procs, "fork")
        assert_ok(run_case(case, SMALL, meta), case)


@needs_posix_ipc
@pytest.mark.parametrize("case", [
    Case("posix-mq", "default", "stream", 4096, 2, "spawn"),
    Case("posix-mq", "default", "pingpong", 4096, 1, "forkserver"),
    Case("posix-mq", "default", "pingpong", 4096, 1, "fork", payload="object"),
    Case("posix-mq", "default", "stream", 4096, 1, "fork", payload="shm-view"),
], ids=lambda c: c.label)
def test_other_start_methods_and_payloads(meta, case):
    assert_ok(run_case(case, SMALL, meta), case)


@needs_posix_ipc
def test_corrupted_payload_is_detected(meta):
    case = Case("posix-mq", "default", "stream", 1024, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", "producer")), meta)
    assert row.status == "failed" and "checksum" in row.reason, row


@needs_posix_ipc
def test_killed_producer_fails_the_case_and_its_queues_go(meta):
    case = Case("posix-mq", "default", "stream", 1024, 2, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("kill", "producer")), meta)
    assert row.status == "failed" and "SIGKILL" in row.reason, row
    assert hygiene.own_segments() == []  # no queue marker: every queue was unlinked


@needs_posix_ipc
def test_close_unlinks_every_queue_and_marker():
    import posix_ipc

    from ipcbench.mechanisms.posix_mq import PosixMqMechanism

    mechanism = PosixMqMechanism(get_context("fork"), "default", 64, f"{hygiene.run_prefix()}900_")
    pairs = mechanism.pairs(2)
    names = [name for a, _ in pairs for name in (a.outbox, a.inbox)]
    assert len(set(names)) == 4 and all(n.startswith(f"/{hygiene.run_prefix()}") for n in names)
    assert len(hygiene.own_segments()) == 4  # one marker a queue
    posix_ipc.MessageQueue(names[0]).close()  # it exists
    mechanism.close()
    for name in names:
        with pytest.raises(posix_ipc.ExistentialError):
            posix_ipc.MessageQueue(name)
    assert hygiene.own_segments() == []


@needs_posix_ipc
def test_sweep_unlinks_a_dead_runs_queues_and_keeps_a_live_ones(tmp_path):
    import posix_ipc

    shm = tmp_path / "shm"
    shm.mkdir()
    (shm / f"{DEAD}.lock").write_bytes(b"")  # a killed run's lock: nobody holds it
    held = os.open(shm / f"{LIVE}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(held, fcntl.LOCK_EX)  # a live run's lock (flock: per open file)
    dead, live = f"{DEAD}_3_mq0", f"{LIVE}_3_mq0"
    for name in (dead, live):
        hygiene.mark_queue(name, shm)
        posix_ipc.MessageQueue(f"/{name}", posix_ipc.O_CREX, max_messages=1,
                               max_message_size=8).close()
    try:
        removed = hygiene.sweep(shm, tmp_path)
        assert removed == [dead]
        with pytest.raises(posix_ipc.ExistentialError):
            posix_ipc.MessageQueue(f"/{dead}")
        posix_ipc.MessageQueue(f"/{live}").close()  # a live run's queue is left alone
        assert sorted(p.name for p in shm.iterdir()) == sorted([f"{LIVE}.lock", live])
    finally:
        os.close(held)
        for name in (dead, live):
            hygiene.remove_queue(name, shm)
    assert hygiene.unlink_queue(dead)  # gone already: nothing to do is success


def test_system_limits_become_skipped_rows(monkeypatch):
    from ipcbench.mechanisms import posix_mq

    limits = posix_mq.MqLimits(msgsize_max=8192, msg_max=10, queues_max=256,
                               rlimit_bytes=819200)
    monkeypatch.setattr(posix_mq, "read_limits", lambda: limits)
    assert limits.depth == 8
    reason = posix_mq.limit_reason(Case("posix-mq", "default", "stream", 65536, 1, "fork"))
    assert reason == ("posix-mq: the message exceeds the system's largest, "
                      "/proc/sys/fs/mqueue/msgsize_max = 8192 bytes")
    # 8 pairs = 16 queues of 8 x (8 KiB + overhead): above 800 KiB.
    reason = posix_mq.limit_reason(Case("posix-mq", "default", "pingpong", 8192, 8, "fork"))
    assert "RLIMIT_MSGQUEUE = 819200" in reason and "16 queue(s)" in reason
    # A stream shares one queue among its producers: 8 producers fit.
    assert posix_mq.limit_reason(Case("posix-mq", "default", "stream", 8192, 8, "fork")) == ""
    fewer = dataclasses.replace(limits, queues_max=2)
    reason = posix_mq.limit_reason(Case("posix-mq", "default", "fanout", 64, 4, "fork"), fewer)
    assert "queues_max = 2" in reason
    shallow = dataclasses.replace(limits, msg_max=3)
    assert shallow.depth == 3
    if not unavailable_reason("posix-mq"):
        planned = expand(["posix-mq"], ["pingpong"], [64, 65536], [1], ["fork"])
        reasons = {p.case.size_bytes: p.skip_reason for p in planned}
        assert reasons[64] == "" and "msgsize_max" in reasons[65536]


def test_missing_module_becomes_skipped_rows_with_the_install_hint(monkeypatch):
    info = dataclasses.replace(REGISTRY["posix-mq"], requires="ipcbench_no_posix_ipc")
    monkeypatch.setitem(REGISTRY, "posix-mq", info)
    reason = unavailable_reason("posix-mq")
    assert "ipcbench_no_posix_ipc" in reason
    planned = expand(["posix-mq"], ["pingpong", "stream"], [64], [1], ["fork"])
    assert planned and all(p.skip_reason == reason for p in planned)


def test_registry_names_the_extra():
    info = REGISTRY["posix-mq"]
    assert info.requires == "posix_ipc" and info.limit_reason is not None
    assert set(info.variant("default").patterns) == {
        "pingpong", "stream", "fanout", "workqueue", "broadcast", "pipeline", "reqrep", "bidir"}
    from ipcbench.mechanisms import install_hint

    assert install_hint("posix_ipc") == "pip install 'ipcbench[posix-mq]'"

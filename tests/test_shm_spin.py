"""The busy-polled ring (shm `ring8-spin`): skipped unless every peer has its own CPU,
correct with real peers where it may run, and never spinning forever after its partner
died (endpoint level and through the harness). conftest's autouse fixture checks (and
cleans up, even after a failure) peers and /dev/shm segments."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from multiprocessing import get_context

import pytest

from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms.base import RING_SLOTS
from ipcbench.mechanisms.handoff import CHUNK_BYTES, SequenceError
from ipcbench.mechanisms.shm import ShmMechanism
from ipcbench.mechanisms.spin import PartnerGone, receiver_states, sender_states
from ipcbench.system.affinity import allowed_cpus, busy_poll_skip_reason

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=256 << 10, min_messages=4,
                 max_messages=40)
SPIN = ("shm", "ring8-spin")
two_cpus = pytest.mark.skipif(len(allowed_cpus()) < 2, reason="busy-polling needs 2 CPUs")


def test_busy_poll_is_skipped_unless_every_peer_has_its_own_cpu():
    cpus = [0, 1]
    assert busy_poll_skip_reason("cross-core", 2, cpus, "x86_64") == ""
    assert "3 peers, 2 CPUs" in busy_poll_skip_reason("cross-core", 3, cpus, "x86_64")
    assert "cross-core" in busy_poll_skip_reason("same-core", 2, cpus, "x86_64")
    assert "cross-core" in busy_poll_skip_reason("unpinned", 2, cpus, "x86_64")
    assert "store ordering" in busy_poll_skip_reason("cross-core", 2, cpus, "aarch64")
    planned = expand(["shm"], ["pingpong", "stream"], [64], [1, 2], ["fork"], ["ring8-spin"],
                     placements=["cross-core", "same-core"], cpus=cpus)
    runnable = {(p.case.pattern, p.case.procs, p.case.placement)
                for p in planned if not p.skip_reason}
    if busy_poll_skip_reason("cross-core", 2, cpus) == "":  # x86 here
        # pingpong p1 = 2 peers, stream p1 = 2 peers; p2 = 4 and 3 peers: skipped.
        assert runnable == {("pingpong", 1, "cross-core"), ("stream", 1, "cross-core")}
    assert all(p.skip_reason for p in planned if p.case.placement == "same-core")


def test_slot_word_states_follow_the_ring_laps():
    assert sender_states(0, 8) == (0, 0) and receiver_states(0, 8) == (1, 0)
    free, busy = sender_states(8, 8)  # the 9th message reuses slot 0 once message 0 is out
    assert busy == 1 and free == 1 | (1 << 63)
    assert receiver_states(8, 8) == (9, free)


def _endpoints(mechanism: ShmMechanism):
    [sender], receiver = mechanism.stream(1)
    sender.attach()
    receiver.attach()
    return sender, receiver


def _short_lived_child(seconds: float):
    child = get_context("fork").Process(target=time.sleep, args=(seconds,), daemon=True)
    child.start()
    return child


def _prefix() -> str:
    """This process's segment names: unique beside another test worker's (pytest -n 2),
    and checked by the leftovers fixture (hygiene.own_segments)."""
    return f"ipcb_{os.getpid()}_spintest_"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("side", ["receiver", "sender"])
def test_spinner_gives_up_when_its_partner_ends(side):
    mechanism = ShmMechanism(get_context("fork"), "ring8-spin", 64, _prefix())
    sender, receiver = _endpoints(mechanism)
    child = _short_lived_child(0.3)
    try:
        started = time.monotonic()
        if side == "receiver":  # nothing was sent, and the sender dies
            sender.outbox.pids[0] = child.pid
            with pytest.raises(PartnerGone, match=f"sender \\(pid {child.pid}\\) ended"):
                receiver.recv()
        else:  # the ring is full, and the receiver dies
            receiver.inboxes[0].pids[1] = child.pid
            for _ in range(RING_SLOTS):
                sender.send(b"\x07" * 64)
            with pytest.raises(PartnerGone, match=f"receiver \\(pid {child.pid}\\) ended"):
                sender.send(b"\x07" * 64)
        assert time.monotonic() - started < 10
    finally:
        child.join()
        sender.close()
        receiver.close()
        mechanism.close()


@pytest.mark.timeout(30)
def test_spinner_rejects_a_word_no_protocol_step_writes():
    mechanism = ShmMechanism(get_context("fork"), "ring8-spin", 64, _prefix())
    sender, receiver = _endpoints(mechanism)
    try:
        sender.send(b"\x01" * 64)
        assert bytes(receiver.recv()) == b"\x01" * 64
        receiver.inboxes[0].storage.sequence(1)[0] = 42  # neither "not yet" nor "ready"
        with pytest.raises(SequenceError, match="0x2a"):
            receiver.recv()
    finally:
        sender.close()
        receiver.close()
        mechanism.close()


def assert_ok(row, case: Case) -> None:
    assert row.status == "ok", f"{case.label}: {row.status}: {row.reason}"
    assert row.verified and row.messages == SMALL.messages_for(case) * SMALL.repeats
    assert row.cpu_s_per_msg > 0


@two_cpus
@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", [
    Case(*SPIN, pattern, size, 1, method, "cross-core")
    for pattern in ("pingpong", "stream", "fanout") for size in (64, 64 << 10)
    for method in ("fork", "spawn")
] + [Case(*SPIN, pattern, 3 * CHUNK_BYTES + 5, 1, "fork", "cross-core")  # in chunks
     for pattern in ("pingpong", "stream")], ids=lambda c: c.label)
def test_spin_with_a_cpu_per_peer(meta, case):
    assert_ok(run_case(case, SMALL, meta), case)


@two_cpus
@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("pattern", "role"), [("stream", "producer"), ("pingpong", "ping")])
def test_peer_killed_mid_spin_fails_the_case_quickly(meta, pattern, role):
    case = Case(*SPIN, pattern, 4096, 1, "fork", "cross-core")
    started = time.monotonic()
    row = run_case(case, replace(SMALL, fault=Fault("kill", role)), meta)
    assert row.status == "failed"
    # Either the harness saw the SIGKILL first, or the spinning partner noticed and said so.
    assert "SIGKILL" in row.reason or "PartnerGone" in row.reason, row.reason
    assert time.monotonic() - started < 30

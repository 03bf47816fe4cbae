"""The shared-memory rings (`ring8` of shm and mmap): every variant x pattern at small
sizes with real peers, exact counts and verified payloads, under fork and the slower
start methods; the ring layout and the sequence check on their own. conftest's autouse
fixture fails a test that leaves a peer or a /dev/shm segment behind, and cleans both
up even when the test failed."""

from __future__ import annotations

from multiprocessing import get_context

import pytest

from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY, ring_slots
from ipcbench.mechanisms.base import RING_SLOTS
from ipcbench.mechanisms.handoff import CACHE_LINE_BYTES, CHUNK_BYTES, RingLayout, SequenceError
from ipcbench.mechanisms.shm import ShmMechanism

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=256 << 10, min_messages=4,
                 max_messages=40)
RINGS = [("shm", "ring8"), ("mmap", "ring8")]


def assert_ok(row, case: Case, settings: Settings = SMALL) -> None:
    assert row.status == "ok", f"{case.label}: {row.status}: {row.reason}"
    assert row.verified and row.repeats == settings.repeats
    # Exact: every round trip / message of every timed repeat was counted.
    assert row.messages == settings.messages_for(case) * case.procs * settings.repeats


def test_ring_variants_are_registered_for_every_streaming_pattern():
    for mechanism, variant in RINGS:
        assert REGISTRY[mechanism].variant(variant).patterns[:3] == (
            "pingpong", "stream", "fanout")
        assert {"broadcast", "pipeline", "reqrep"} <= set(
            REGISTRY[mechanism].variant(variant).patterns)
    assert ring_slots("shm", "ring8") == RING_SLOTS == 8
    assert ring_slots("shm", "ring8-spin") == 8 and ring_slots("shm", "segment") == 1


def test_ring_layout_keeps_slots_on_their_own_cache_lines():
    layout = RingLayout(100, 8)
    assert layout.stride_bytes % CACHE_LINE_BYTES == 0 and layout.stride_bytes >= 108
    assert layout.total_bytes == 8 * layout.stride_bytes
    assert [layout.payload_offset(i) - layout.sequence_offset(i) for i in range(8)] == [8] * 8
    # One slot keeps the mailbox's historical layout: [8-byte sequence | payload].
    assert RingLayout(100).total_bytes == 108


def test_ring_sender_runs_ahead_by_exactly_its_slot_count():
    mechanism = ShmMechanism(get_context("fork"), "ring8", 64, "ipcb_ringtest_")
    try:
        [sender], receiver = mechanism.stream(1)
        sender.attach()
        receiver.attach()
        messages = [bytes([i]) * 64 for i in range(RING_SLOTS)]
        for message in messages:  # all fit without a receiver: the ring has 8 slots
            sender.send(message)
        assert not sender.outbox.empty.acquire(False)  # a ninth would block
        assert [bytes(receiver.recv()) for _ in messages] == messages
        sender.outbox.empty.release()
        sender.send(b"\x01" * 64)
        receiver.inboxes[0].storage.sequence(0)[0] = 3  # a stale or foreign sequence
        with pytest.raises(SequenceError, match="expected sequence 9, got 3"):
            receiver.recv()
    finally:
        sender.close()
        receiver.close()
        mechanism.close()


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("mechanism", "variant"), RINGS)
@pytest.mark.parametrize(("pattern", "procs"), [("pingpong", 1), ("pingpong", 2),
                                                ("stream", 1), ("stream", 3),
                                                ("fanout", 2)])
@pytest.mark.parametrize("size", [64, 64 << 10])
def test_ring_under_fork(meta, mechanism, variant, pattern, procs, size):
    case = Case(mechanism, variant, pattern, size, procs, "fork")
    assert_ok(run_case(case, SMALL, meta), case)


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", [
    Case("shm", "ring8", "pingpong", 4096, 1, "spawn"),
    Case("shm", "ring8", "stream", 4096, 2, "forkserver"),
    Case("mmap", "ring8", "stream", 4096, 2, "spawn"),
    Case("mmap", "ring8", "fanout", 4096, 2, "forkserver"),
], ids=lambda c: c.label)
def test_ring_under_other_start_methods(meta, case):
    assert_ok(run_case(case, SMALL, meta), case)


def test_a_ring_slot_holds_at_most_a_chunk():
    assert RingLayout(64, 8).slot_bytes == 64
    assert RingLayout(16 << 20, 8).slot_bytes == CHUNK_BYTES
    assert RingLayout(16 << 20, 8).total_bytes < 8 * (CHUNK_BYTES + 2 * CACHE_LINE_BYTES)
    assert RingLayout(16 << 20).slot_bytes == 16 << 20  # a mailbox holds the whole message


# Messages of several chunks, the last one partial: every byte lands in its place (the
# checksum), in order (the sequences), also with two producers interleaving chunks.
@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize("mechanism", ["shm", "mmap"])
@pytest.mark.parametrize("pattern, procs", [("pingpong", 1), ("stream", 2), ("fanout", 2)])
def test_messages_larger_than_a_slot_travel_in_chunks(meta, mechanism, pattern, procs):
    case = Case(mechanism, "ring8", pattern, 3 * CHUNK_BYTES + 5, procs, "fork")
    assert_ok(run_case(case, SMALL, meta), case)

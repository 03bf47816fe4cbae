"""shareable-list: a ShareableList one-slot mailbox. Every pattern with real peers at
small sizes (exact counts, checksums), a payload that ends in NUL bytes (which
ShareableList strips on read) arriving whole, the per-item size cap as skipped rows, and
the sequence check."""

from __future__ import annotations

import zlib
from dataclasses import replace
from multiprocessing import get_context
from multiprocessing.shared_memory import ShareableList

import pytest

from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY
from ipcbench.mechanisms.handoff import SequenceError, Slot
from ipcbench.mechanisms.shareable_list import (
    MAX_ITEM_BYTES,
    MESSAGE,
    SEQUENCE,
    ListEndpoint,
    ListStorage,
    exact,
)
from ipcbench.payload.spec import PayloadSpec, verify

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=256 << 10, min_messages=4,
                 max_messages=40)


def assert_ok(row, case: Case, settings: Settings = SMALL) -> None:
    assert row.status == "ok", f"{case.label}: {row.status}: {row.reason}"
    assert row.verified is True
    assert row.messages == settings.messages_for(case) * case.procs * row.repeats


@pytest.mark.parametrize("pattern", ["pingpong", "stream", "fanout"])
@pytest.mark.parametrize("procs", [1, 2])
def test_every_pattern_counts_every_message(meta, pattern, procs):
    for size in (64, 64 << 10):
        case = Case("shareable-list", "mailbox", pattern, size, procs, "fork")
        assert_ok(run_case(case, SMALL, meta), case)


@pytest.mark.parametrize("case", [
    Case("shareable-list", "mailbox", "stream", 4096, 2, "spawn"),
    Case("shareable-list", "mailbox", "pingpong", 4096, 1, "forkserver"),
    Case("shareable-list", "mailbox", "pingpong", 4096, 1, "fork", payload="numpy"),
    Case("shareable-list", "mailbox", "stream", 4096, 1, "fork", payload="shm-view"),
], ids=lambda c: c.label)
def test_other_start_methods_and_payloads(meta, case):
    assert_ok(run_case(case, SMALL, meta), case)


def test_a_payload_ending_in_nul_bytes_arrives_whole(meta):
    seed = next(s for s in range(5000) if PayloadSpec(4096, s).raw().endswith(b"\0"))
    settings = replace(SMALL, seed=seed)
    for pattern in ("pingpong", "stream"):
        case = Case("shareable-list", "mailbox", pattern, 4096, 1, "fork")
        assert_ok(run_case(case, settings, meta), case, settings)


def test_stripped_nuls_are_restored_to_the_slot_length_and_nothing_else():
    items = ShareableList([0, bytes(16)])
    try:
        items[MESSAGE] = b"abc\0\0"
        assert items[MESSAGE] == b"abc"  # what ShareableList itself returns
    finally:
        items.shm.close()
        items.shm.unlink()
    assert exact(b"abc", 5) == b"abc\0\0"
    assert exact(b"abc\0\0\0\0", 5) == b"abc\0\0"  # a version that returns the allocation
    message = bytes(range(1, 200)) + b"\0\0"
    verify(exact(message.rstrip(b"\0"), len(message)), len(message), zlib.crc32(message),
           "restored")


def test_endpoints_hand_over_in_order_and_refuse_a_stale_message():
    ctx = get_context("fork")
    storage = ListStorage("ipcb_test_sl_seq", 8)
    try:
        slot = Slot(ctx, storage)
        sender, receiver = ListEndpoint(slot, []), ListEndpoint(None, [slot])
        sender.attach()
        receiver.attach()
        sender.send(b"\x01" * 7 + b"\0")
        message = receiver.recv()
        assert message == b"\x01" * 7 + b"\0" and isinstance(message, bytes)
        storage.items[SEQUENCE] = 7  # a message out of order
        storage.items[MESSAGE] = b"x" * 8
        slot.filled.release()
        with pytest.raises(SequenceError, match="expected sequence 2, got 7"):
            receiver.recv()
    finally:
        storage.unlink()


def test_corrupted_payload_is_detected(meta):
    case = Case("shareable-list", "mailbox", "pingpong", 1024, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", "ping")), meta)
    assert row.status == "failed" and "checksum" in row.reason, row


def test_items_above_the_cap_are_skipped_rows():
    assert MAX_ITEM_BYTES == 9_999_991
    # The cap is ShareableList's own: the largest item exists, one byte more cannot.
    items = ShareableList([0, bytes(MAX_ITEM_BYTES)])
    items.shm.close()
    items.shm.unlink()
    with pytest.raises(AssertionError):
        ShareableList([0, bytes(MAX_ITEM_BYTES + 1)])
    planned = expand(["shareable-list"], ["stream"], [1 << 20, 16 << 20], [1], ["fork"])
    reasons = {p.case.size_bytes: p.skip_reason for p in planned}
    assert reasons[1 << 20] == ""
    assert "exceeds ShareableList's largest item, 9999991 bytes" in reasons[16 << 20]
    info = REGISTRY["shareable-list"]
    assert info.limit_reason is not None and not info.requires

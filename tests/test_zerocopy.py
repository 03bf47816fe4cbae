"""The shm-view payload: every message written into shared memory and read in place
(stamp + word sum), regions released in any order, old `numpy-shm` rows renamed on read,
and real transfers over the new shared-memory variants and the classic channels.
conftest's autouse fixture checks (and cleans up) peers and /dev/shm segments."""

from __future__ import annotations

from multiprocessing import get_context

import numpy as np
import pytest

from ipcbench.core import payload_kinds
from ipcbench.core.results import read_results, write_rows
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.rows import base_row
from ipcbench.harness.runner import run_case
from ipcbench.payload.spec import PayloadMismatch, PayloadSpec
from ipcbench.payload.wire import Wire
from ipcbench.payload.zerocopy import _DESCRIPTOR as DESCRIPTOR
from ipcbench.payload.zerocopy import InPlace, RegionPool, regions_for, word_sum

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=256 << 10, min_messages=4,
                 max_messages=40)


@pytest.fixture
def pool():
    made = RegionPool(get_context("fork"), "ipcb_zctest_pool", 100, 3)
    yield made
    made.unlink()


def test_word_sum_reads_every_byte():
    data = np.arange(19, dtype=np.uint8)
    words = int(data[:16].view(np.uint64).astype(object).sum())
    assert word_sum(data) == (words + sum(range(16, 19))) % (1 << 64)
    assert regions_for(64) == 8 and regions_for(16 << 20) == 4 and regions_for(1 << 30) == 2


def test_every_message_is_new_data_checked_in_place(pool):
    content = bytes(range(100))
    sender, receiver = InPlace([pool], 0, content), InPlace([pool], -1, content)
    try:
        for sequence in range(1, 8):  # more messages than regions: regions are reused
            descriptor = sender.write()
            assert len(descriptor) == 64
            region = (sequence - 1) % 3
            view = pool.views()[region]
            assert int(view[:8].view(np.uint64)[0]) == sequence  # stamped
            assert bytes(view[8:]) == content[8:]
            del view
            receiver.read(descriptor)
        assert receiver.received == 7
    finally:
        sender.close()
        receiver.close()


def test_stale_or_corrupt_regions_are_caught(pool):
    content = bytes(range(100))
    sender, receiver = InPlace([pool], 0, content), InPlace([pool], -1, content)
    try:
        first = sender.write()
        receiver.read(first)
        with pytest.raises(PayloadMismatch, match="duplicated or reordered"):
            receiver.read(first)
        with pytest.raises(PayloadMismatch, match="stale or foreign"):
            receiver.read(DESCRIPTOR.pack(4, 0, 0, 0, 0))  # region 0 still holds message 1
        second = sender.write()
        pool.views()[1][50] ^= 0xFF
        fresh = InPlace([pool], -1, content)
        with pytest.raises(PayloadMismatch, match="wrong content"):
            fresh.read(second)
        fresh.close()
    finally:
        sender.close()
        receiver.close()


def test_regions_are_released_in_any_order(pool):
    sender = InPlace([pool], 0, bytes(100))
    try:
        descriptors = [sender.write() for _ in range(3)]  # every region is taken
        assert not pool.free[0].acquire(False)
        sender.read(descriptors[2])  # a fanout worker may finish a later message first
        assert pool.free[2].acquire(False) and not pool.free[0].acquire(False)
    finally:
        sender.close()


def test_old_numpy_shm_rows_are_renamed_on_read(tmp_path, meta):
    row = base_row(Case("pipe", "bytes", "stream", 4096, 1, "fork", payload="shm-view"),
                   meta, "skipped", "x")
    write_rows(tmp_path / "results.csv", [row])
    text = (tmp_path / "results.csv").read_text().replace("shm-view", "numpy-shm")
    (tmp_path / "results.csv").write_text(text)
    frame = read_results(tmp_path)
    assert list(frame["payload"]) == ["numpy-shm-v3"]
    assert Case(**{k: frame.iloc[0][k] for k in ("mechanism", "variant", "pattern")},
                size_bytes=4096, procs=1, start_method="fork",
                payload="numpy-shm-v3").payload == "numpy-shm-v3"
    with pytest.raises(ValueError, match="unknown payload"):
        Case("pipe", "bytes", "stream", 4096, 1, "fork", payload="numpy-shm")


def test_the_shm_view_record():
    kind = payload_kinds.SHM_VIEW
    assert kind.descriptor_bytes == DESCRIPTOR.size == 64
    assert [k.name for k in payload_kinds.PAYLOADS.values() if k.shared_memory] == ["shm-view"]
    assert not kind.as_object and not kind.module
    assert "in-place read of every byte" in kind.in_latency
    wire = Wire(PayloadSpec(4096, kind="shm-view"), 0, carries_objects=True)
    assert wire.wire_bytes == DESCRIPTOR.size  # the descriptor on every channel
    wire.close()


def test_the_renamed_kinds_read_but_never_run():
    assert payload_kinds.RENAMED_PAYLOADS == {"numpy-shm": "numpy-shm-v3"}
    assert payload_kinds.READABLE_PAYLOAD_KINDS == (*payload_kinds.PAYLOAD_KINDS,
                                                    "numpy-shm-v3")
    Case("pipe", "bytes", "stream", 4096, 1, "fork", payload="numpy-shm-v3")
    for old in ("numpy-shm", "numpy-shm-v3"):
        with pytest.raises(ValueError, match=f"unknown payload '{old}'"):
            PayloadSpec(4096, kind=old)


CHANNELS = [("shm", "ring8"), ("mmap", "ring8"), ("shm", "segment"), ("pipe", "bytes"),
            ("queue", "default")]


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("mechanism", "variant"), CHANNELS)
@pytest.mark.parametrize(("pattern", "procs"), [("pingpong", 1), ("stream", 2), ("fanout", 2)])
def test_shm_view_over_every_pattern(meta, mechanism, variant, pattern, procs):
    case = Case(mechanism, variant, pattern, 64 << 10, procs, "fork", "unpinned", "shm-view")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.messages == SMALL.messages_for(case) * procs * SMALL.repeats


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", [
    Case("shm", "ring8", "stream", 4096, 2, "spawn", "unpinned", "shm-view"),
    Case("mmap", "ring8", "fanout", 4096, 2, "forkserver", "unpinned", "shm-view"),
    Case("shm", "ring8-spin", "pingpong", 4096, 1, "forkserver", "cross-core", "shm-view"),
], ids=lambda c: c.label)
def test_shm_view_under_other_start_methods(meta, case):
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason

"""Payload kinds (bytes, object, numpy, shm-view) and the fanout pattern: exact wire
sizes, deterministic checksums, and real transfers verified end to end."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import payload_unavailable_reason
from ipcbench.payload.framing import HEADER, tag
from ipcbench.payload.spec import DESCRIPTOR_BYTES, PAYLOAD_KINDS, PayloadSpec, framed_pickle

SMALL = Settings(sessions=1, repeats=2,
                 warmup=1, target_bytes=256 << 10, min_messages=4, max_messages=30)
CORE = [("pipe", "bytes"), ("pipe", "pickle"), ("queue", "default"), ("value", "array"),
        ("shm", "segment")]


@pytest.mark.parametrize("kind", ["object", "numpy"])
@pytest.mark.parametrize("size", [255, 256, 257, 4096, 65536, 1 << 20])
def test_pickled_kinds_are_exactly_the_requested_size(kind, size):
    """The wire message (header and value, pickled as one) has exactly the size."""
    spec = PayloadSpec(size, kind=kind)
    assert spec.check_buildable() == ""
    header = HEADER.pack(tag(3, 12345), 2**32 - 1)
    assert len(framed_pickle(header, spec.value())) == size
    assert spec.wire_bytes == size


def test_shm_view_sends_a_fixed_descriptor_whatever_the_size():
    assert PayloadSpec(1 << 20, kind="shm-view").wire_bytes == DESCRIPTOR_BYTES
    assert PayloadSpec(64, kind="shm-view").wire_bytes == DESCRIPTOR_BYTES
    assert "at least 8 bytes" in PayloadSpec(4, kind="shm-view").check_buildable()


def test_checksums_are_deterministic_across_builds():
    for kind in PAYLOAD_KINDS:
        if payload_unavailable_reason(kind):
            continue  # msgpack, arrow without their module (tests/test_codecs.py)
        assert PayloadSpec(4096, 7, kind).checksum() == PayloadSpec(4096, 7, kind).checksum()
    assert PayloadSpec(4096, 1).checksum() != PayloadSpec(4096, 2).checksum()


def test_too_small_payload_is_skipped_with_a_reason():
    assert "needs more than 64 bytes" in PayloadSpec(64, kind="numpy").check_buildable()
    planned = expand(["pipe"], ["pingpong"], [64, 4096], [1], ["fork"], ["bytes"],
                     payloads=["numpy"])
    reasons = {p.case.size_bytes: p.skip_reason for p in planned}
    assert reasons[4096] == "" and "numpy" in reasons[64]


def test_unknown_payload_is_rejected():
    with pytest.raises(ValueError, match="unknown payload 'json'"):
        PayloadSpec(64, kind="json")
    with pytest.raises(ValueError, match="unknown payload 'json'"):
        Case("pipe", "bytes", "stream", 64, 1, "fork", payload="json")


def test_counter_ignores_the_payload_axis():
    planned = expand(["value"], ["counter"], [64], [2], ["fork"], payloads=list(PAYLOAD_KINDS))
    assert [(p.case.pattern, p.case.payload) for p in planned] == [("counter", "bytes")]


@pytest.mark.integration
@pytest.mark.parametrize(("mechanism", "variant"), CORE)
@pytest.mark.parametrize("kind", ["object", "numpy", "shm-view"])
@pytest.mark.parametrize("pattern", ["pingpong", "stream"])
def test_every_payload_kind_arrives_verified(meta, mechanism, variant, kind, pattern):
    case = Case(mechanism, variant, pattern, 4096, 1, "fork", "unpinned", kind)
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.payload == kind and row.verified
    assert row.messages == SMALL.messages_for(case) * SMALL.repeats


@pytest.mark.integration
@pytest.mark.parametrize(("mechanism", "variant"), CORE)
def test_fanout_gives_every_worker_its_exact_share(meta, mechanism, variant):
    case = Case(mechanism, variant, "fanout", 4096, 3, "fork")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.messages == SMALL.messages_for(case) * 3 * SMALL.repeats
    assert row.bytes_per_s == pytest.approx(row.msgs_per_s * 4096)


@pytest.mark.integration
def test_fanout_worker_sees_a_corrupted_payload(meta):
    case = Case("queue", "default", "fanout", 4096, 2, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", "distributor")), meta)
    assert row.status == "failed"
    assert "worker#" in row.reason and "checksum" in row.reason, row.reason


@pytest.mark.integration
def test_shm_view_under_spawn(meta):
    case = Case("pipe", "bytes", "pingpong", 65536, 1, "spawn", "unpinned", "shm-view")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason

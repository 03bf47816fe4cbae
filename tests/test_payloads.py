"""Payload kinds (bytes, object, numpy, shm-view) and the fanout pattern: the PayloadKind
records and their lookup, exact wire sizes, deterministic checksums, and real transfers
verified end to end."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from ipcbench.cli import main
from ipcbench.core import payload_kinds
from ipcbench.core.faults import Fault
from ipcbench.core.payload_kinds import (
    DESCRIPTOR_BYTES,
    PAYLOAD_KINDS,
    PAYLOADS,
    Encoding,
    PayloadKind,
    Value,
    payload_unavailable_reason,
)
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY
from ipcbench.payload import codecs, spec, wire
from ipcbench.payload.framing import HEADER, tag
from ipcbench.payload.spec import PayloadSpec, framed_pickle

SMALL = Settings(sessions=1, repeats=2,
                 warmup=1, target_bytes=256 << 10, min_messages=4, max_messages=30)
CORE = [("pipe", "bytes"), ("pipe", "pickle"), ("queue", "default"), ("value", "array"),
        ("shm", "segment")]


# -- the records ---------------------------------------------------------------------------
_FIELD_TYPES = {"name": str, "summary": str, "value": Value, "encoding": Encoding,
                "descriptor_bytes": int, "as_object": bool, "in_latency": str,
                "in_default_matrix": bool, "module": str, "extra": str}


def test_the_registry_holds_every_kind_in_reading_order():
    assert PAYLOAD_KINDS == ("bytes", "object", "msgpack", "numpy", "dataframe", "arrow",
                             "shm-view")
    assert all(name == kind.name for name, kind in PAYLOADS.items())
    assert payload_kinds.get("shm-view") is payload_kinds.SHM_VIEW


@pytest.mark.parametrize("kind", PAYLOADS.values(), ids=lambda k: k.name)
def test_every_kind_has_every_field(kind):
    assert {f.name for f in fields(PayloadKind)} == set(_FIELD_TYPES)
    for name, kind_of in _FIELD_TYPES.items():
        assert isinstance(getattr(kind, name), kind_of), name
    for text in (kind.summary, kind.in_latency):
        assert text and "\n" not in text and text == text.strip()
    assert kind.descriptor_bytes >= 0
    assert bool(kind.module) == bool(kind.extra)  # a module needs its extra's install hint
    with pytest.raises(AttributeError):
        kind.name = "other"  # frozen


def test_a_bad_name_is_named_in_a_one_line_error():
    for bad in ("json", "numpy-shm", "numpy-shm-v3", ""):
        with pytest.raises(ValueError) as error:
            payload_kinds.get(bad)
        message = str(error.value)
        assert message.startswith(f"unknown payload {bad!r} (choose from bytes, object, ")
        assert "\n" not in message and "shm-view" in message


def test_the_wire_size_rule_is_the_records():
    for kind in PAYLOADS.values():
        for size in (8, 4096, 1 << 20):
            assert PayloadSpec(size, kind=kind.name).wire_bytes == kind.wire_bytes(size)
    assert [k.name for k in PAYLOADS.values() if k.descriptor_bytes] == ["shm-view"]
    assert payload_kinds.SHM_VIEW.wire_bytes(1 << 20) == DESCRIPTOR_BYTES == 64


def test_every_value_and_encoding_has_its_behaviour():
    """The payload code picks builders, checksums and send/open paths by the record: a
    new kind's value and encoding must each have theirs."""
    assert set(spec._VALUES) == set(Value)
    assert set(spec._CHECKSUMS) == set(Encoding) == set(wire._SETUPS)
    codec_kinds = [k for k in PAYLOADS.values() if k.encoding in codecs.CODECS]
    assert [k.name for k in codec_kinds] == ["msgpack", "arrow"]
    assert not any(k.as_object for k in codec_kinds)  # bytes on every channel


def test_the_mechanisms_allow_only_known_kinds():
    for info in REGISTRY.values():
        assert set(info.payloads or ()) <= set(PAYLOAD_KINDS), info.name


def test_list_prints_every_kinds_summary(capsys):
    assert main(["list"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("payload ")]
    assert [line.split(":")[0] for line in lines] == [f"payload {n}" for n in PAYLOAD_KINDS]
    for line, kind in zip(lines, PAYLOADS.values(), strict=True):
        assert line.startswith(f"payload {kind.name}: {kind.summary}")


# -- sizes and checksums --------------------------------------------------------------------
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
        first = PayloadSpec(4096, 7, kind).checksum()
        # Built again from nothing: the per-process caches would hand back the first.
        spec._checksum_of.cache_clear()
        spec._kept_random_bytes.cache_clear()
        assert PayloadSpec(4096, 7, kind).checksum() == first
    assert PayloadSpec(4096, 1).checksum() != PayloadSpec(4096, 2).checksum()


def test_random_bytes_are_kept_up_to_the_limit_and_built_fresh_above_it():
    limit = spec.CACHED_RAW_MAX_BYTES
    kept = PayloadSpec(limit, 3).raw()
    assert PayloadSpec(limit, 3).raw() is kept  # built once: forked peers find it made
    assert kept == spec._random_bytes(limit, 3)  # and the same bytes a fresh build gives
    assert PayloadSpec(limit, 4).raw() != kept
    big = PayloadSpec(limit + 1, 3)
    assert big.raw() is not big.raw()  # not kept: would grow every fork's page tables
    assert big.raw() == spec._random_bytes(limit + 1, 3)


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

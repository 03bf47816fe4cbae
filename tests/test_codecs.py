"""The serializer payload kinds: msgpack (vs object), dataframe and arrow (pickle vs Arrow
IPC on one DataFrame). Exact wire sizes with the header at many sizes, the same data on
both sides of each comparison, a zero-copy receiver for arrow, checksums that catch a
corrupted value, skipped rows (too small, module missing) with their reason, and the
header round trip on real channels with exact counts. Structure and correctness only,
never speed."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest

from ipcbench.cli import main
from ipcbench.core import payload_kinds
from ipcbench.core.faults import Fault
from ipcbench.core.payload_kinds import PAYLOAD_KINDS
from ipcbench.core.schema import Case
from ipcbench.core.settings import MATRICES, Settings
from ipcbench.harness.plan import Axes, expand, plan
from ipcbench.harness.runner import run_case
from ipcbench.payload import codecs
from ipcbench.payload.framing import HEADER, HEADER_BYTES, tag
from ipcbench.payload.spec import PayloadMismatch, PayloadSpec, PayloadTooSmall, framed_pickle
from ipcbench.payload.wire import Wire

msgpack = pytest.importorskip("msgpack")
pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=64 << 10, min_messages=6,
                 max_messages=24)
NEW_KINDS = ("msgpack", "dataframe", "arrow")
CORE = [("pipe", "bytes"), ("pipe", "pickle"), ("queue", "default"), ("shm", "segment")]
MSGPACK_SIZES = [25, 64, 255, 256, 257, 300, 4096, 4099, 65536, 81_000, 1 << 20]
FRAME_SIZES = [codecs.min_frame_bytes(), 2048, 2051, 4096, 65536, 1 << 20, (1 << 20) + 5]


def wires(kind: str, size: int, sender: int = 3, corrupt: bool = False):
    spec = PayloadSpec(size, kind=kind)
    checksum = spec.checksum()
    return (Wire(spec, checksum, carries_objects=False, sender=sender, corrupt=corrupt),
            Wire(spec, checksum, carries_objects=False))


# -- exact wire sizes, the header inside ---------------------------------------------------
@pytest.mark.parametrize("size", MSGPACK_SIZES)
def test_msgpack_messages_are_exactly_the_size_and_carry_the_header(size):
    spec = PayloadSpec(size, kind="msgpack")
    assert spec.check_buildable() == "" and spec.wire_bytes == size
    sender, receiver = wires("msgpack", size)
    for stamp in (0, 12345, 2**32 - 1):
        message = sender.message(stamp)
        assert isinstance(message, bytes) and len(message) == size
        assert receiver.open(message) == (tag(3, sender.sent - 1), stamp)
    header = HEADER.pack(tag(3, 0), 7)
    assert msgpack.packb((header, spec.value())) == Wire(spec, 0, False, sender=3).message(7)
    receiver.check("receiver")


@pytest.mark.parametrize("kind", codecs.FRAME_KINDS)
@pytest.mark.parametrize("size", FRAME_SIZES)
def test_frame_messages_are_exactly_the_size_and_carry_the_header(kind, size):
    spec = PayloadSpec(size, kind=kind)
    assert spec.check_buildable() == "" and spec.wire_bytes == size
    sender, receiver = wires(kind, size)
    for stamp in (0, 2**32 - 1):
        message = sender.message(stamp)
        assert len(message) == size
        assert receiver.open(bytes(message)) == (tag(3, sender.sent - 1), stamp)
    receiver.check("receiver")
    assert len(receiver.last_body) == codecs.frame_rows(size)


@pytest.mark.parametrize("size", FRAME_SIZES)
def test_the_arrow_stream_fills_the_message_up_to_8_byte_alignment(size):
    sender, _ = wires("arrow", size)
    message = bytes(sender.message(99))
    stream_bytes = (size - HEADER_BYTES) // 8 * 8
    assert size - HEADER_BYTES - stream_bytes < 8
    tail = message[HEADER_BYTES + stream_bytes:]
    assert tail == bytes(len(tail))  # never read
    reader = pa.ipc.open_stream(pa.py_buffer(message[HEADER_BYTES:HEADER_BYTES + stream_bytes]))
    assert reader.read_all().num_rows == codecs.frame_rows(size)
    # The stream alone, with its end-of-stream marker, is exactly that long.
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, reader.schema) as writer:
        writer.write_table(pa.ipc.open_stream(pa.py_buffer(message[HEADER_BYTES:])).read_all())
    assert sink.getvalue().size == stream_bytes


def test_the_pickled_dataframe_pair_is_exactly_the_size():
    for size in FRAME_SIZES:
        value = PayloadSpec(size, kind="dataframe").value()
        assert len(framed_pickle(HEADER.pack(tag(255, 2**24 - 1), 2**32 - 1), value)) == size


# -- the same data on both sides of a comparison ------------------------------------------
def test_dataframe_and_arrow_carry_the_same_dataframe():
    size = 1 << 20
    pickled = PayloadSpec(size, kind="dataframe").value()
    sender, receiver = wires("arrow", size)
    receiver.open(bytes(sender.message(1)))
    arrived = receiver.last_body
    pd.testing.assert_frame_equal(arrived, pickled, check_flags=False)
    assert list(arrived.columns) == ["id", "x", "y", "k"]
    assert len(arrived) == codecs.frame_rows(size) == (size - 1536) // 28
    assert pickled.attrs.keys() == {"pad"} and arrived.attrs == {}


def test_msgpack_packs_the_structure_the_object_kind_pickles():
    for size in (4096, 1 << 20):
        packed = PayloadSpec(size, kind="msgpack").value()
        pickled = PayloadSpec(size, kind="object").value()
        assert packed["items"] == pickled["items"]  # only the padding differs
        sender, receiver = wires("msgpack", size)
        receiver.open(sender.message(5))
        assert [tuple(item) for item in receiver.last_body["items"]] == pickled["items"]


def test_the_arrow_receiver_reads_the_message_without_copying():
    sender, receiver = wires("arrow", 65536)
    message = bytes(sender.message(5))  # as a Queue or Pipe.recv_bytes hands it out
    receiver.open(message)
    whole = np.frombuffer(message, dtype=np.uint8)
    for name in ("id", "x", "y", "k"):
        column = receiver.last_body[name].to_numpy()
        assert np.shares_memory(column, whole) and not column.flags.writeable


def test_a_pong_echoes_codec_messages_with_the_same_header():
    for kind, size in (("msgpack", 256), ("arrow", 4096)):
        sender, pong = wires(kind, size)
        request = sender.message(4242)
        reply = pong.echo(bytes(request))
        assert len(reply) == size and bytes(reply) == bytes(request)
        sender.open(bytes(reply))
        sender.check("echo")


def test_codec_kinds_go_as_bytes_on_channels_that_pickle():
    for kind, size in (("msgpack", 256), ("arrow", 4096)):
        spec = PayloadSpec(size, kind=kind)
        wire = Wire(spec, spec.checksum(), carries_objects=True)
        message = wire.message(1)
        assert isinstance(message, (bytes, bytearray)) and wire.wire_bytes == size
        assert len(message) == size
    # the pickled kinds are still handed over as objects there
    spec = PayloadSpec(4096, kind="dataframe")
    assert Wire(spec, spec.checksum(), carries_objects=True).wire_bytes is None


# -- checksums ----------------------------------------------------------------------------
def test_checksums_are_deterministic_and_tell_the_kinds_apart():
    sums = {}
    for kind in PAYLOAD_KINDS:
        a, b = PayloadSpec(4096, 7, kind), PayloadSpec(4096, 7, kind)
        assert a.checksum() == b.checksum()
        sums[kind] = a.checksum()
    assert len(set(sums.values())) == len(sums)
    assert PayloadSpec(4096, 1, "arrow").checksum() != PayloadSpec(4096, 2, "arrow").checksum()


@pytest.mark.parametrize("kind", ("object", "numpy", *NEW_KINDS))
def test_a_corrupted_value_keeps_its_size_and_fails_the_check(kind):
    size = 4096
    sender, receiver = wires(kind, size, corrupt=True)
    message = sender.message(1)
    assert len(message) == size
    assert receiver.open(bytes(message))[0] == tag(3, 0)  # the header still reads
    with pytest.raises(PayloadMismatch, match="checksum"):
        receiver.check("consumer#0 last message")


def test_a_flipped_value_in_an_arrow_message_fails_the_check():
    sender, receiver = wires("arrow", 4096)
    message = bytearray(sender.message(1))
    x = PayloadSpec(4096, kind="arrow").value()["x"].to_numpy()
    at = bytes(message).index(x[-1].tobytes())  # the last `x` value, in the record batch
    message[at] ^= 0x01
    receiver.open(bytes(message))
    with pytest.raises(PayloadMismatch, match="arrow value"):
        receiver.check("consumer#0 last message")


def test_the_corrupt_fault_still_refuses_shm_view():
    spec = PayloadSpec(4096, kind="shm-view")
    with pytest.raises(ValueError, match="shm-view"):
        Wire(spec, 0, carries_objects=False, corrupt=True)


# -- skipped rows -------------------------------------------------------------------------
def test_too_small_sizes_are_skipped_with_a_reason():
    planned = expand(["pipe"], ["stream"], [64, 1024, 2048], [1], ["fork"], ["bytes"],
                     payloads=list(NEW_KINDS), cpus=[0])
    reasons = {(p.case.payload, p.case.size_bytes): p.skip_reason for p in planned}
    for kind in codecs.FRAME_KINDS:
        assert "needs at least 1564 bytes" in reasons[(kind, 64)]
        assert "needs at least 1564 bytes" in reasons[(kind, 1024)]
        assert reasons[(kind, 2048)] == ""
    assert reasons[("msgpack", 64)] == ""
    assert "needs more than 16 bytes" in PayloadSpec(16, kind="msgpack").check_buildable()
    with pytest.raises(PayloadTooSmall):
        PayloadSpec(1024, kind="arrow").value()


@pytest.mark.parametrize(("kind", "module", "extra"), [("msgpack", "msgpack", "msgpack"),
                                                       ("arrow", "pyarrow", "arrow")])
def test_a_missing_module_makes_skipped_rows_naming_the_install(monkeypatch, capsys, kind,
                                                               module, extra):
    monkeypatch.setattr(payload_kinds, "_installed", lambda name: name != module)
    planned = expand(["pipe", "queue"], ["pingpong", "stream"], [4096], [1], ["fork"],
                     payloads=["bytes", kind], cpus=[0])
    hint = f"pip install 'ipcbench[{extra}]'"
    for item in planned:
        if item.case.payload == kind:
            assert f"payload {kind} needs the optional module {module!r}" in item.skip_reason
            assert hint in item.skip_reason
        else:
            assert item.skip_reason == ""
    assert main(["list"]) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith(f"payload {kind}:")]
    assert hint in line


@pytest.mark.parametrize("kind", [k for k in payload_kinds.PAYLOADS.values() if k.module],
                         ids=lambda k: k.name)
def test_the_skipped_row_reason_for_a_missing_module_is_unchanged(monkeypatch, kind):
    monkeypatch.setattr(payload_kinds, "_installed", lambda name: name != kind.module)
    reason = (f"payload {kind.name} needs the optional module {kind.module!r} "
              f"(pip install 'ipcbench[{kind.extra}]')")
    assert payload_kinds.payload_unavailable_reason(kind.name) == reason
    assert kind.unavailable_reason() == reason
    [item] = expand(["pipe"], ["stream"], [4096], [1], ["fork"], ["bytes"],
                    payloads=[kind.name], cpus=[0])
    assert item.skip_reason == reason
    assert payload_kinds.PAYLOAD_REQUIRES == {"msgpack": ("msgpack", "msgpack"),
                                              "arrow": ("pyarrow", "arrow")}


def test_kinds_without_a_module_never_wait_for_one(monkeypatch):
    monkeypatch.setattr(payload_kinds, "_installed", lambda name: False)
    for kind in payload_kinds.PAYLOADS.values():
        assert bool(kind.unavailable_reason()) == bool(kind.module), kind.name


def test_the_codec_records_pick_their_codec():
    assert codecs.FRAME_KINDS == ("dataframe", "arrow")
    for name, codec in (("msgpack", codecs.MsgpackCodec), ("arrow", codecs.ArrowCodec)):
        kind = payload_kinds.get(name)
        assert codecs.CODECS[kind.encoding] is codec
        spec = PayloadSpec(4096, kind=name)
        assert isinstance(Wire(spec, spec.checksum(), carries_objects=True)._codec, codec)
    # msgpack packs the object kind's structure, arrow the dataframe kind's DataFrame
    assert payload_kinds.MSGPACK.value is payload_kinds.OBJECT.value
    assert payload_kinds.ARROW.value is payload_kinds.DATAFRAME.value


def test_the_full_matrix_measures_the_new_kinds_at_its_payload_sizes_only():
    full = plan(MATRICES["full"], Axes(["fork"], mechanisms=["pipe"], patterns=["stream"]))
    sizes = {p.case.size_bytes for p in full if p.case.payload in NEW_KINDS}
    assert sizes == set(MATRICES["full"].payload_sizes_bytes)
    # The default and quick matrices leave them to --payload (time: see settings.py).
    default = plan(MATRICES["default"], Axes(["fork"], mechanisms=["pipe"], patterns=["stream"]))
    assert not {p.case.payload for p in default} & set(NEW_KINDS)
    quick = plan(MATRICES["quick"], Axes(["fork"]))
    assert {p.case.payload for p in quick} == {"bytes"}


# -- real channels ------------------------------------------------------------------------
def _size(kind: str) -> int:
    return 2048 if kind in codecs.FRAME_KINDS else 256


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize(("mechanism", "variant"), CORE)
@pytest.mark.parametrize("kind", NEW_KINDS)
def test_every_message_of_a_codec_stream_has_its_header_and_latency(meta, mechanism, variant,
                                                                    kind):
    case = Case(mechanism, variant, "stream", _size(kind), 2, "fork", "unpinned", kind)
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.verified and row.payload == kind
    assert row.lat_samples == row.messages == SMALL.messages_for(case) * 2 * SMALL.repeats
    assert row.bytes_per_s == pytest.approx(row.msgs_per_s * case.size_bytes)


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize(("mechanism", "variant"), CORE)
@pytest.mark.parametrize("kind", NEW_KINDS)
def test_codec_round_trips_are_echoed_and_verified(meta, mechanism, variant, kind):
    case = Case(mechanism, variant, "pingpong", 4096, 1, "fork", "unpinned", kind)
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.verified and row.messages == SMALL.messages_for(case) * SMALL.repeats


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", NEW_KINDS)
def test_fanout_and_work_queue_carry_the_codec_kinds(meta, kind):
    fanout = run_case(Case("pipe", "bytes", "fanout", 4096, 2, "fork", payload=kind),
                      SMALL, meta)
    queue = run_case(Case("queue", "default", "workqueue", 4096, 2, "fork", payload=kind),
                     SMALL, meta)
    for row in (fanout, queue):
        assert row.status == "ok", row.reason
        assert row.lat_samples == row.messages


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize(("mechanism", "variant"), [("pipe", "bytes"), ("queue", "default")])
@pytest.mark.parametrize("kind", NEW_KINDS)
def test_a_corrupted_codec_payload_fails_the_case(meta, mechanism, variant, kind):
    case = Case(mechanism, variant, "stream", 4096, 1, "fork", payload=kind)
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", "producer")), meta)
    assert row.status == "failed"
    assert "consumer#0" in row.reason and "checksum" in row.reason, row.reason


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_arrow_under_spawn(meta):
    case = Case("pipe", "bytes", "stream", 65536, 1, "spawn", payload="arrow")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.lat_samples == row.messages


def test_pickled_dataframe_survives_a_round_trip_through_pickle_alone():
    value = PayloadSpec(4096, kind="dataframe").value()
    again = pickle.loads(pickle.dumps(value, protocol=5))
    assert pickle.dumps(again, protocol=5) == pickle.dumps(value, protocol=5)

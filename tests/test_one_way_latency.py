"""One-way latency and open-loop load (the message header of framing.py).

- the header round trip on every mechanism x payload kind (msgpack, dataframe and arrow
  included): every message of a stream row has a latency (lat_samples == messages),
  sequences checked per sender;
- the sequence check on its own: foreign, lost, duplicated, reordered messages;
- duplicated / dropped messages on a real channel end the case;
- coordinated omission with a virtual clock: a stall counts against every message it
  delays in the open loop, once in the closed loop (exact);
- the schedule: due times exactly start + i / rate; a real sender never runs ahead of
  it; rows record rate, achieved rate and saturation; --samples files.
Structure and correctness only, never speed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ipcbench.core import samples
from ipcbench.core.faults import Fault
from ipcbench.core.payload_kinds import PAYLOAD_KINDS
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.core.stats import summarize
from ipcbench.harness.plan import expand, with_rates
from ipcbench.harness.rows import is_saturated
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY, public_names, session_class, unavailable_reason
from ipcbench.payload.codecs import FRAME_KINDS
from ipcbench.payload.framing import HEADER, STAMP_MASK, Expected, SequenceError, one_way_ns, tag
from ipcbench.payload.spec import PayloadSpec
from ipcbench.payload.wire import Wire
from ipcbench.peer.roles import send_many

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=64 << 10, min_messages=6,
                 max_messages=24)


# -- the sequence check, pure ------------------------------------------------------------
def words(*pairs) -> np.ndarray:
    return np.array([tag(sender, seq) for sender, seq in pairs], dtype=np.uint32)


def test_in_order_messages_of_each_sender_pass_and_run_on_over_repeats():
    expected = Expected({0: 0, 1: 0})
    expected.check(words((0, 0), (1, 0), (0, 1), (1, 1)), "r1", each=2)
    expected.check(words((1, 2), (0, 2)), "r2", each=1)  # senders interleave freely
    with pytest.raises(SequenceError, match="message 0 where 3 was due"):
        expected.check(words((0, 0)), "r3")  # a stale message of an earlier repeat


@pytest.mark.parametrize("arrived, match", [
    (((0, 0), (0, 0)), "message 0 where 1 was due"),  # duplicated
    (((0, 1), (0, 0)), "message 1 where 0 was due"),  # reordered
    (((0, 0), (0, 2)), "message 2 where 1 was due"),  # lost
    (((0, 0), (7, 0)), "unknown sender 7"),  # foreign
])
def test_every_kind_of_misdelivery_is_named(arrived, match):
    with pytest.raises(SequenceError, match=match):
        Expected({0: 0}).check(words(*arrived), "consumer#0")


def test_a_sender_short_of_its_share_fails_even_when_the_total_is_right():
    with pytest.raises(SequenceError, match="3 messages from sender 0, expected exactly 2"):
        Expected({0: 0, 1: 0}).check(words((0, 0), (0, 1), (0, 2), (1, 0)), "c", each=2)


def test_a_fanout_worker_expects_every_nth_message():
    expected = Expected({0: 1}, stride=3)  # worker 1 of 3
    expected.check(words((0, 1), (0, 4), (0, 7)), "worker#1", each=3)
    with pytest.raises(SequenceError):
        Expected({0: 1}, stride=3).check(words((0, 1), (0, 2)), "worker#1")


def test_latency_survives_the_32_bit_wrap_of_the_stamp():
    sent_ns = np.array([(1 << 40) + STAMP_MASK - 5, (1 << 40) + 100], dtype=np.int64)
    arrived_ns = sent_ns + np.array([15, 250])  # the first one crosses the wrap
    assert one_way_ns(sent_ns & STAMP_MASK, arrived_ns).tolist() == [15, 250]


# -- coordinated omission, exact, with a virtual clock ------------------------------------
class VirtualChannel:
    """A channel that takes `service_ns` per message and stalls `stall_ns` before
    message `stall_at`, on a virtual clock; it records each message's one-way latency
    from the header the real Wire wrote."""

    def __init__(self, service_ns: int, stall_at: int, stall_ns: int) -> None:
        self.now_ns = 1_000_000
        self.service_ns, self.stall_at, self.stall_ns = service_ns, stall_at, stall_ns
        self.latencies_ns: list[int] = []
        self.stamps: list[int] = []

    def clock(self) -> int:
        return self.now_ns

    def wait(self, due_ns: int) -> None:
        self.now_ns = max(self.now_ns, due_ns)

    def send(self, message) -> None:
        if len(self.latencies_ns) == self.stall_at:
            self.now_ns += self.stall_ns
        self.now_ns += self.service_ns
        word, stamp = HEADER.unpack_from(message)
        self.stamps.append(stamp)
        self.latencies_ns.append((self.now_ns - stamp) & STAMP_MASK)


def virtual_run(rate_per_s: float, closed_loop_messages: int = 1000) -> VirtualChannel:
    wire = Wire(PayloadSpec(64), 0, carries_objects=False)
    channel = VirtualChannel(service_ns=2_000, stall_at=100, stall_ns=5_000_000)
    send_many(channel, wire, closed_loop_messages, rate_per_s, clock=channel.clock,
              wait=channel.wait)
    return channel


def test_a_stall_counts_once_closed_loop_but_against_every_delayed_message_open_loop():
    closed = virtual_run(rate_per_s=0)
    # Closed loop: the sender waited out the stall, then stamped the next message late.
    assert sorted(set(closed.latencies_ns)) == [2_000, 5_002_000]
    assert closed.latencies_ns.count(5_002_000) == 1
    assert summarize(closed.latencies_ns).p99_ns == 2_000
    # Open loop at 20 k/s (one every 50 µs): message 100 waits out the stall (5.002 ms),
    # and message 100 + k, sent 2 µs after the previous one, waits 5.002 ms - 48 µs * k
    # while that is more than its 2 µs: k = 1 .. 104, 105 delayed messages in all.
    opened = virtual_run(rate_per_s=20_000)
    delayed = [lat for lat in opened.latencies_ns if lat > 2_000]
    assert len(delayed) == 105
    assert delayed == [5_002_000 - 48_000 * k for k in range(105)]
    assert max(opened.latencies_ns) == 5_002_000
    assert summarize(opened.latencies_ns).p99_ns > 4_000_000


def test_open_loop_stamps_are_the_due_times_exactly():
    channel = VirtualChannel(service_ns=1_000, stall_at=-1, stall_ns=0)
    wire = Wire(PayloadSpec(64), 0, carries_objects=False)
    send_many(channel, wire, 50, 1_000, clock=channel.clock, wait=channel.wait)
    start = 1_000_000
    assert channel.stamps == [(start + i * 1_000_000) & STAMP_MASK for i in range(50)]
    assert set(channel.latencies_ns) == {1_000}


def test_saturation_is_below_95_percent_of_the_rate():
    assert is_saturated(1000, 949.9)
    assert not is_saturated(1000, 950.0)
    assert not is_saturated(0, 1.0)  # closed loop is never saturated


# -- the header round trip on real channels -----------------------------------------------
def _stream_cases() -> list:
    params = []
    for name in public_names():
        if session_class(name) is not None:
            continue  # a pool or Ray: tasks and objects, not messages with a header
        for variant, supported in ((v.name, v.patterns) for v in REGISTRY[name].variants):
            if "stream" not in supported:
                continue
            for payload in PAYLOAD_KINDS:
                # A DataFrame needs about 1.5 KiB of its own (codecs.FRAME_RESERVE_BYTES).
                size = 2048 if payload in FRAME_KINDS else 256
                [planned] = expand([name], ["stream"], [size], [2], ["fork"], [variant],
                                   payloads=[payload], cpus=[0])
                if planned.skip_reason:
                    continue
                reason = unavailable_reason(name)
                params.append(pytest.param(planned.case, id=planned.case.label, marks=[
                    pytest.mark.skipif(bool(reason), reason=reason or "")]))
    return params


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize("case", _stream_cases())
def test_every_message_has_a_one_way_latency_on_every_channel_and_kind(meta, case):
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", f"{case.label}: {row.reason}"
    assert row.lat_samples == row.messages == SMALL.messages_for(case) * 2 * row.repeats
    assert 0 < row.lat_p50_ns <= row.lat_p90_ns <= row.lat_p99_ns <= row.lat_max_ns


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_fanout_workers_report_every_message(meta):
    case = Case("pipe", "bytes", "fanout", 512, 3, "fork")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.lat_samples == row.messages


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_pingpong_and_tiny_messages_carry_no_one_way_latency(meta):
    pingpong = run_case(Case("pipe", "bytes", "pingpong", 64, 1, "fork"), SMALL, meta)
    tiny = run_case(Case("pipe", "bytes", "stream", 4, 1, "fork"), SMALL, meta)
    assert pingpong.status == tiny.status == "ok"
    assert pingpong.lat_samples == tiny.lat_samples == 0


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize("mechanism, variant", [("pipe", "bytes"), ("queue", "default"),
                                                ("shm", "segment")])
def test_a_duplicated_message_fails_the_case(meta, mechanism, variant):
    case = Case(mechanism, variant, "stream", 256, 2, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("duplicate", "producer")), meta)
    assert row.status == "failed"
    assert "lost, duplicated or reordered" in row.reason or "expected exactly" in row.reason


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_a_dropped_message_ends_the_case_within_its_deadline(meta):
    case = Case("pipe", "bytes", "stream", 256, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("drop", "producer"), deadline_s=3.0),
                   meta)
    assert row.status == "timeout"


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_a_rated_row_records_its_load_and_never_outruns_its_schedule(meta):
    case = Case("pipe", "bytes", "stream", 1024, 1, "fork", "unpinned", "bytes", 400)
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.rate_per_s == 400 and row.lat_samples == row.messages
    n = SMALL.messages_for(case)
    # The last message is never sent before its due time, (n - 1) / rate after the
    # first: a sender cannot beat the schedule, however fast the machine.
    assert 0 < row.achieved_per_s <= 400 * n / (n - 1) * 1.0001
    assert row.saturated == (row.achieved_per_s < 0.95 * 400)


def test_rates_cross_only_patterns_with_a_sender_schedule():
    planned = expand(["pipe"], ["pingpong", "stream"], [64], [1], ["fork"], ["bytes"],
                     cpus=[0])
    crossed = with_rates(planned, [500, 1000])
    stream = [p.case.rate_per_s for p in crossed if p.case.pattern == "stream"]
    pingpong = [p for p in crossed if p.case.pattern == "pingpong"]
    assert stream == [500, 1000]
    assert len(pingpong) == 1 and "no sender schedule" in pingpong[0].skip_reason
    # `--rate max 1000` asks for full speed too: pingpong then runs, once.
    [pingpong] = [p for p in with_rates(planned, [0, 1000]) if p.case.pattern == "pingpong"]
    assert pingpong.skip_reason == "" and pingpong.case.rate_per_s == 0
    with pytest.raises(ValueError, match="rate applies to stream, fanout"):
        Case("pipe", "bytes", "pingpong", 64, 1, "fork", rate_per_s=10)


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_samples_are_kept_per_session_then_gathered_per_case(tmp_path, meta):
    from ipcbench.harness.runner import measure_session

    case = Case("pipe", "bytes", "stream", 256, 1, "fork")
    sessions = [measure_session(case, SMALL, index) for index in range(2)]
    for result in sessions:
        samples.save_session(tmp_path, case, result)
    path = samples.gather(tmp_path, case)
    assert path == f"samples/{case.label}.npz"
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [f"{case.label}.npz"]
    loaded = samples.load(tmp_path, path)
    assert loaded.size == sum(s.lat_samples for s in sessions)
    assert np.array_equal(loaded, np.concatenate([s.latencies_ns for s in sessions]))


def test_load_plans_each_unthrottled_case_at_shares_of_its_own_rate(meta):
    from ipcbench.cli.run import load_cases
    from ipcbench.harness.rows import base_row

    def row(pattern: str, rate: int, achieved: float, status: str = "ok"):
        case = Case("pipe", "bytes", pattern, 64, 1, "fork", "same-core", "bytes", rate)
        if status != "ok":
            return base_row(case, meta, status, "it failed")
        return base_row(case, meta, "ok", verified=True, messages=10, median_ns=1.0,
                        achieved_per_s=achieved)

    rows = [row("stream", 0, 80_000.0), row("pingpong", 0, 30_000.0),
            row("stream", 40_000, 39_000.0), row("fanout", 0, 0.0, status="failed")]
    planned = load_cases([0.1, 0.5, 0.9], rows)
    # 40 k/s (50%) already has a row: a resumed run does not measure it twice.
    assert [p.case.rate_per_s for p in planned] == [8_000, 72_000]
    assert {p.case.pattern for p in planned} == {"stream"}


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_work_queue_consumers_report_every_message_and_keep_to_a_rate(meta):
    case = Case("queue", "default", "workqueue", 512, 2, "fork", rate_per_s=2000)
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.lat_samples == row.messages
    assert row.rate_per_s == 2000 and row.achieved_per_s > 0


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_sessions_waiting_for_their_next_round_hold_no_raw_latencies(meta, monkeypatch):
    """on_session gets every raw latency (for --samples); the sessions kept for the row
    do not: a default run held ~300 MB of them and every fork copied its page tables."""
    from ipcbench.harness import runner

    seen, kept = [], []
    real_ok_row = runner.ok_row

    def ok_row(case, meta_, sessions, *args, **kwargs):
        kept.extend(sessions)
        return real_ok_row(case, meta_, sessions, *args, **kwargs)

    monkeypatch.setattr(runner, "ok_row", ok_row)
    planned = expand(["pipe"], ["stream"], [256], [1], ["fork"], variants=["bytes"])
    rows = []
    runner.run_planned(planned, replace(SMALL, sessions=2), meta, rows.append,
                       on_session=lambda case, result: seen.append(result))
    assert [r.status for r in rows] == ["ok"]
    assert len(seen) == len(kept) == 2
    assert all(s.latencies_ns is not None and s.latencies_ns.size == s.lat_samples > 0
               for s in seen)
    assert all(s.latencies_ns is None for s in kept)
    assert rows[0].lat_samples == sum(s.lat_samples for s in seen)

"""The broadcast, pipeline, reqrep and bidir patterns: each runs with real peers on the
seed's channels with exact counts (every delivery has its one-way latency, every round
trip its sample); a duplicated message (by the publisher, a pipeline's relay stage, a
client, one end of a pair) fails the case through the sequence checks, a dropped one ends
it at its deadline; what cannot run is a skipped row with the reason. Structure and
correctness only, never speed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ipcbench.core import patterns
from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=32 << 10, min_messages=6,
                 max_messages=12)
NEW = ("broadcast", "pipeline", "reqrep", "bidir")
SEED = [("pipe", "bytes"), ("queue", "default"), ("shm", "ring8"), ("value", "array")]
# The role whose peer #0 misbehaves, for each pattern: a message it sends is duplicated
# or dropped. The pipeline's is a relay stage: its sink must notice what a stage did.
SENDER = {"broadcast": "publisher", "pipeline": "relay", "reqrep": "client", "bidir": "left"}


def _deliveries(case: Case) -> int:
    """Messages every repeat delivers (round trips for reqrep)."""
    n = SMALL.messages_for(case)
    if case.kind.round_trip:
        return n * case.procs
    return n * case.kind.delivered(case.procs)


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize("pattern", NEW)
@pytest.mark.parametrize(("mechanism", "variant"), SEED)
def test_every_message_arrives_exactly_once(meta, mechanism, variant, pattern):
    case = Case(mechanism, variant, pattern, 256, 2, "fork")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.verified is True
    per_repeat = _deliveries(case)
    assert row.messages % per_repeat == 0 and row.messages > 0
    if case.kind.round_trip:  # a sample per round trip, no one-way figure
        assert row.lat_samples == 0
    else:  # every delivery (each subscriber's copy, each way) has its latency
        assert row.lat_samples == row.messages
    assert row.bytes_per_s == pytest.approx(
        row.msgs_per_s * case.kind.bytes_per_message(case.size_bytes))


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize("pattern", NEW)
@pytest.mark.parametrize(("mechanism", "variant"), [("pipe", "bytes"), ("shm", "ring8"),
                                                    ("value", "array")])
def test_a_duplicated_message_fails_the_case(meta, mechanism, variant, pattern):
    case = Case(mechanism, variant, pattern, 256, 2, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("duplicate", SENDER[pattern])), meta)
    assert row.status == "failed", row
    assert any(what in row.reason for what in
               ("lost, duplicated or reordered", "expected exactly", "stale or foreign")), row


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize("pattern", NEW)
def test_a_dropped_message_ends_the_case_at_its_deadline(meta, pattern):
    case = Case("queue", "default", pattern, 256, 2, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("drop", SENDER[pattern]), deadline_s=2.0),
                   meta)
    assert row.status == "timeout", row


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("pattern", "mechanism", "variant", "payload"), [
    ("reqrep", "queue", "default", "object"), ("pipeline", "shm", "ring8", "shm-view"),
    ("bidir", "pipe", "pickle", "numpy")])
def test_endpoints_travel_to_forkserver_peers_with_other_payloads(meta, pattern, mechanism,
                                                                  variant, payload):
    case = Case(mechanism, variant, pattern, 4096, 2, "forkserver", payload=payload)
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.messages % _deliveries(case) == 0 and row.messages > 0


def test_the_new_patterns_run_wherever_streams_and_pairs_do():
    for name in ("pipe", "queue", "shm", "value"):
        for pattern in NEW:
            assert pattern in REGISTRY[name].patterns, (name, pattern)
    assert "bidir" not in REGISTRY["shm"].variant("ring8-spin").patterns
    assert "bidir" not in REGISTRY["zmq"].patterns
    # Sessions of their own (pools, Ray) build none of them.
    assert not set(NEW) & set(REGISTRY["executor"].patterns)


def test_what_cannot_run_is_a_skipped_row_with_the_reason():
    planned = expand(["zmq", "pipe", "executor"], list(NEW), [4, 64], [2], ["fork"],
                     cpus=[0, 1])
    reasons = {(p.case.mechanism, p.case.pattern, p.case.size_bytes): p.skip_reason
               for p in planned}
    assert "not thread-safe" in reasons[("zmq", "bidir", 64)]
    assert "header" in reasons[("pipe", "reqrep", 4)]
    assert reasons[("pipe", "reqrep", 64)] == ""
    assert reasons[("pipe", "broadcast", 4)] == ""
    assert "does not support the pipeline pattern" in reasons[("executor", "pipeline", 64)]
    views = {p.case.pattern: p.skip_reason for p in expand(
        ["shm"], list(NEW), [4096], [2], ["fork"], ["ring8"], cpus=[0, 1],
        payloads=["shm-view"])}
    assert "frees once one receiver has read it" in views["broadcast"]
    assert "sending thread" in views["bidir"]
    assert views["pipeline"] == views["reqrep"] == ""


def test_the_new_patterns_count_what_they_deliver():
    b, p, r, d = (patterns.get(name) for name in NEW)
    assert b.peers(4) == 5 and p.peers(4) == 6 and r.peers(4) == 5 and d.peers(4) == 8
    # Deliveries per step: a copy per subscriber, one message end to end, one each way.
    assert (b.delivered(4), p.delivered(4), d.delivered(4)) == (4, 1, 8)
    # What a sender reached: a broadcast message is 4 deliveries, bidir has 8 senders.
    assert b.sent_per_s(4000.0, 4) == 1000.0
    assert d.sent_per_s(8000.0, 4) == 1000.0
    assert p.sent_per_s(1000.0, 4) == 1000.0
    assert patterns.STREAM.sent_per_s(4000.0, 4) == 1000.0
    assert patterns.FANOUT.sent_per_s(4000.0, 4) == 4000.0
    # Measured only when asked for: the default matrix keeps its cost.
    assert not set(NEW) & set(patterns.DEFAULT_PATTERN_NAMES)

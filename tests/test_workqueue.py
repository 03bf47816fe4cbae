"""The workqueue pattern: M producers and N consumers on one shared channel, with exact
accounting. Every mechanism that supports it runs with real peers at small sizes and a
few shapes (2 x 2, 1 x 3, 3 x 1); every repeat's per-consumer counts must add up to
exactly producers x messages; lost and duplicated messages fail the case; the END marker
can never be taken for a payload; channels that cannot be shared by several consumers
become skipped rows with the reason. conftest's leak check covers peers, the manager
process and /dev/shm; temp directories (zmq's ipc sockets) are checked here.
Structure and correctness only, never speed."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest

from ipcbench.core import patterns
from ipcbench.core.faults import Fault
from ipcbench.core.payload_kinds import DESCRIPTOR_BYTES, PAYLOAD_KINDS, PAYLOAD_REQUIRES
from ipcbench.core.schema import Case
from ipcbench.core.settings import MATRICES, Settings
from ipcbench.harness.plan import Axes, expand, plan
from ipcbench.harness.runner import run_case, run_planned
from ipcbench.harness.session import CaseSession, derive_workload
from ipcbench.mechanisms import REGISTRY, public_names, unavailable_reason
from ipcbench.mechanisms.base import END, Endpoint, is_end
from ipcbench.payload.framing import SequenceError, Shares, tag
from ipcbench.payload.spec import PayloadSpec
from ipcbench.payload.wire import Wire
from ipcbench.peer.roles import receive_until_ends

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90),
              pytest.mark.usefixtures("no_temp_dirs_left")]

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=256 << 10, min_messages=4,
                 max_messages=40)
WORKQUEUE = patterns.WORKQUEUE.name
FANOUT, PINGPONG, STREAM = patterns.FANOUT.name, patterns.PINGPONG.name, patterns.STREAM.name
# The channels several processes can read from, message by message.
SHARED = {("queue", "default"), ("simplequeue", "default"), ("manager-queue", "default"),
          ("zmq", "ipc"), ("zmq", "tcp"), ("faster-fifo", "default"), ("posix-mq", "default"),
          ("thread-queue", "queue"), ("thread-queue", "simplequeue")}


def _needs(mechanism: str) -> list:
    reason = unavailable_reason(mechanism)
    return [pytest.mark.skipif(bool(reason), reason=reason)] if reason else []


def _params(cases: list[Case]) -> list:
    return [pytest.param(c, id=c.label, marks=_needs(c.mechanism)) for c in cases]


class CountingSession(CaseSession):
    """Keeps every repeat's per-consumer counts; `consumers` overrides the shape."""

    consumers: int | None = None
    log: list[list[int]]

    def work_queue_consumers(self) -> int:
        return self.consumers or super().work_queue_consumers()

    def _outcome(self, replies, go_ns, each):
        # A dequeuer replies (messages taken, their header words, their latencies).
        self.log.append([r[0] for s, r in zip(self.specs, replies, strict=True)
                         if s.role == "dequeuer"])
        return super()._outcome(replies, go_ns, each)


def counting(consumers: int | None = None):
    """A session factory for run_case, and the per-repeat counts it records."""
    log: list[list[int]] = []

    def make(case, settings):
        workload = derive_workload(case, settings.messages_for(case), settings.deadline_s)
        session = CountingSession(case, workload, settings.seed, settings.fault)
        session.consumers, session.log = consumers, log
        return session

    return make, log


def assert_exact(row, case: Case, log: list[list[int]], consumers: int,
                 settings: Settings = SMALL) -> None:
    assert row.status == "ok", f"{case.label}: {row.status}: {row.reason}"
    assert row.verified is True and row.reason == ""
    per_repeat = settings.messages_for(case) * case.procs  # every producer's share
    assert row.messages == per_repeat * settings.repeats
    assert len(log) == settings.warmup + settings.repeats  # warm-up repeats are checked too
    for counts in log:
        assert len(counts) == consumers
        assert all(isinstance(n, int) and n >= 0 for n in counts)
        assert sum(counts) == per_repeat, counts
    assert row.msgs_per_s > 0 and row.bytes_per_s > 0


# -- which channels can be a work queue ----------------------------------------------

def test_work_queue_channels_are_exactly_the_shared_ones():
    supported = {(name, variant) for name in public_names()
                 for variant in REGISTRY[name].variant_names
                 if WORKQUEUE in REGISTRY[name].variant(variant).patterns}
    assert supported == SHARED
    assert "workqueue" in REGISTRY["fake"].variant("ideal").patterns  # the runner's tests use it


def test_unsupported_channels_become_skipped_rows_with_the_reason(meta):
    planned = expand(["pipe", "os-pipe", "shm", "executor", "value-raw", "queue"], [WORKQUEUE],
                     [64], [2], ["fork"])
    reasons = {p.case.mechanism: p.skip_reason for p in planned}
    assert reasons["queue"] == ""
    for name in ("pipe", "os-pipe", "shm", "executor", "value-raw"):
        assert reasons[name].startswith(f"{name} does not support the workqueue pattern (it "
                                        "supports: "), reasons[name]
    # Why, where it is not obvious from the list.
    assert "split a message" in reasons["pipe"] and "split a message" in reasons["os-pipe"]
    assert "exactly one reader" in reasons["shm"]
    assert "one submitter" in reasons["executor"] and "fanout" in reasons["executor"]
    rows = []
    run_planned([p for p in planned if p.skip_reason], SMALL, meta, rows.append)
    assert [(r.mechanism, r.pattern, r.status) for r in rows] == [
        (name, WORKQUEUE, "skipped") for name in ("pipe", "os-pipe", "shm", "executor",
                                                   "value-raw")]
    assert all(r.reason == reasons[r.mechanism] for r in rows)


def test_quick_matrix_measures_the_work_queue_with_queue_only():
    quick = plan(MATRICES["quick"], Axes(["fork"]))
    work = [p for p in quick if p.case.pattern == WORKQUEUE]
    assert {p.case.mechanism for p in work} == {"queue"}
    assert len(work) == len(MATRICES["quick"].sizes_bytes) * len(MATRICES["quick"].procs)
    # Naming the mechanisms lifts the matrix's scope; the default matrix has none.
    named = plan(MATRICES["quick"],
                 Axes(["fork"], mechanisms=["simplequeue"], patterns=[WORKQUEUE]))
    assert {p.case.mechanism for p in named} == {"simplequeue"} and named
    default = plan(MATRICES["default"], Axes(["fork"], patterns=[WORKQUEUE]))
    assert {p.case.mechanism for p in default if not p.skip_reason} >= {
        "queue", "simplequeue", "manager-queue"}


def test_the_command_line_keeps_the_quick_matrix_scope():
    """`ipcbench run --quick` names no mechanism: the matrix's scope applies (it once
    passed every mechanism on, which measured the work queue and fan-out with all 18),
    and no process count: ping-pong runs with one pair."""
    from ipcbench.cli import build_parser
    from ipcbench.cli.run import plan_from_args

    def planned(*argv: str, key: str = "mechanism") -> dict[str, set]:
        cases, _ = plan_from_args(build_parser().parse_args(["run", *argv]))
        found: dict[str, set] = {}
        for p in cases:
            found.setdefault(p.case.pattern, set()).add(getattr(p.case, key))
        return found

    def mechanisms(*argv: str) -> dict[str, set]:
        return planned(*argv)

    quick = mechanisms("--quick")
    assert quick[WORKQUEUE] == {"queue"}
    assert quick[FANOUT] == {"pipe", "queue", "shm"}
    assert {"zmq", "tcp", "os-pipe"} <= quick[PINGPONG] & quick[STREAM]
    assert mechanisms("--quick", "-m", "zmq", "-p", FANOUT) == {FANOUT: {"zmq"}}
    # One ping-pong pair unless -n says otherwise; every other pattern 1 and 2.
    procs = planned("--quick", key="procs")
    assert procs[PINGPONG] == {1} and procs[STREAM] == procs[FANOUT] == {1, 2}
    assert planned("--quick", "-p", PINGPONG, "-n", "2", key="procs") == {PINGPONG: {2}}


def test_pattern_record_states_the_procs_mapping():
    kind = patterns.WORKQUEUE
    assert kind.peers(3) == 6  # 3 producers and 3 consumers
    assert "producers" in kind.procs_label and "consumers" in kind.procs_label
    assert kind.bytes_per_step(100, 3) == 300  # one message from every producer
    assert (kind.metric, kind.higher_is_better, kind.timing_role) == (
        "bytes_per_s", True, "enqueuer")
    assert WORKQUEUE in patterns.throughput_names()


# -- the END marker ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
def test_end_marker_is_never_a_payload_message(kind):
    if PAYLOAD_REQUIRES.get(kind):
        pytest.importorskip(PAYLOAD_REQUIRES[kind][0])
    size = {"bytes": 1, "dataframe": 2048, "arrow": 2048}.get(kind, 256)
    spec = PayloadSpec(size, kind=kind)
    if kind == "shm-view":
        candidates = [bytes(DESCRIPTOR_BYTES)]
    else:
        value = spec.value()
        message = Wire(spec, spec.checksum(), carries_objects=False).message(0)
        candidates = [value, pickle.dumps(value, protocol=5), message]
    for message in candidates:
        assert not is_end(message)
    assert not is_end(b"\0") and not is_end(bytearray()) and not is_end(memoryview(b""))
    assert is_end(END) and is_end(pickle.loads(pickle.dumps(END)))


class ListEndpoint(Endpoint):
    """An in-memory channel: recv() hands out the given messages in order."""

    def __init__(self, messages) -> None:
        self.messages = list(messages)

    def send(self, payload) -> None:
        self.messages.append(payload)

    def recv(self):
        return self.messages.pop(0)


def test_receive_until_ends_counts_payloads_and_stops_at_the_last_end():
    spec = PayloadSpec(16)
    sender = Wire(spec, spec.checksum(), carries_objects=False, sender=1)
    wire = Wire(spec, spec.checksum(), carries_objects=False)
    sent = [bytes(sender.message(1000 + i)) for i in range(4)]
    endpoint = ListEndpoint([sent[0], END, sent[1], sent[2], END, sent[3]])
    arrivals = receive_until_ends(endpoint, wire, 2, "t")
    assert list(arrivals.words) == [tag(1, 0), tag(1, 1), tag(1, 2)]
    assert list(arrivals.stamps) == [1000, 1001, 1002]
    assert bytes(wire.last_body) == sent[2]
    assert endpoint.messages == [sent[3]]  # nothing read past the second END
    assert len(receive_until_ends(ListEndpoint([END, END]), wire, 2, "t").times) == 0
    with pytest.raises(ValueError, match="t: message 1 has 2 bytes, expected 16"):
        receive_until_ends(ListEndpoint([sent[0], b"ab", END]), wire, 1, "t")


def test_consumers_together_must_hold_each_message_once():
    shares = Shares(senders=2, each=3)
    shares.check([[tag(0, 0), tag(1, 0), tag(0, 2)], [tag(1, 1), tag(0, 1), tag(1, 2)]], "r1")
    shares.check([[tag(0, 3), tag(0, 4), tag(0, 5)], [tag(1, 3), tag(1, 4), tag(1, 5)]], "r2")
    with pytest.raises(SequenceError, match="not each taken exactly once"):  # 7 lost, 6 twice
        Shares(1, 2).check([[tag(0, 0)], [tag(0, 0)]], "c")
    with pytest.raises(SequenceError, match="out of order"):
        Shares(1, 2).check([[tag(0, 1), tag(0, 0)]], "c")
    with pytest.raises(SequenceError, match="unknown sender 5"):
        Shares(1, 1).check([[tag(5, 0)]], "c")


# -- real peers --------------------------------------------------------------------------

def _cases(start_method: str = "fork") -> list[Case]:
    # posix-mq: messages up to the system's msgsize_max (8 KiB by default).
    return [Case(m, v, WORKQUEUE, size, procs, start_method)
            for m, v in sorted(SHARED) for size in (64, 4096 if m == "posix-mq" else 64 << 10)
            for procs in (1, 2)]


@pytest.mark.parametrize("case", _params(_cases()))
def test_every_shared_channel_counts_exactly(meta, case):
    make, log = counting()
    row = run_case(case, SMALL, meta, make_session=make)
    assert_exact(row, case, log, consumers=case.procs)


# Other shapes: one producer feeding three consumers, three producers and one consumer.
SHAPES = [
    (Case(m, v, WORKQUEUE, 4096, producers, "fork"), consumers)
    for m, v in (("queue", "default"), ("simplequeue", "default"), ("zmq", "ipc"),
                 ("faster-fifo", "default"))
    for producers, consumers in ((1, 3), (3, 1))
]


@pytest.mark.parametrize(("case", "consumers"), [
    pytest.param(c, n, id=f"{c.mechanism}-{c.variant}-{c.procs}x{n}", marks=_needs(c.mechanism))
    for c, n in SHAPES])
def test_other_shapes_count_exactly(meta, case, consumers):
    make, log = counting(consumers)
    assert_exact(run_case(case, SMALL, meta, make_session=make), case, log, consumers)


def test_one_byte_messages_are_not_taken_for_end_markers(meta):
    case = Case("queue", "default", WORKQUEUE, 1, 2, "fork")
    make, log = counting()
    assert_exact(run_case(case, SMALL, meta, make_session=make), case, log, 2)


PAYLOAD_CASES = [
    Case(m, v, WORKQUEUE, 4096, 2, "fork", payload=kind)
    for m, v in (("queue", "default"), ("zmq", "ipc"))
    for kind in ("object", "numpy", "shm-view")
]


@pytest.mark.parametrize("case", _params(PAYLOAD_CASES))
def test_payload_kinds_through_a_work_queue(meta, case):
    make, log = counting()
    assert_exact(run_case(case, SMALL, meta, make_session=make), case, log, 2)


SLOW_CASES = [
    Case("queue", "default", WORKQUEUE, 4096, 2, "spawn"),
    Case("simplequeue", "default", WORKQUEUE, 4096, 2, "forkserver"),
    Case("manager-queue", "default", WORKQUEUE, 4096, 2, "spawn"),
    Case("zmq", "tcp", WORKQUEUE, 4096, 2, "forkserver"),
    Case("faster-fifo", "default", WORKQUEUE, 4096, 2, "spawn"),
]


@pytest.mark.parametrize("case", _params(SLOW_CASES))
def test_work_queue_under_spawn_and_forkserver(meta, case):
    make, log = counting()
    assert_exact(run_case(case, SMALL, meta, make_session=make), case, log, 2)


# -- accounting failures -------------------------------------------------------------------

class Skewing(Endpoint):
    """A producer's endpoint that loses (skew -1) or doubles (+1) its first message of
    every repeat, as a broken channel would; END markers pass untouched."""

    def __init__(self, endpoint: Endpoint, skew: int) -> None:
        self.endpoint = endpoint
        self.skew = skew
        self.carries_objects = endpoint.carries_objects
        self._fresh = True

    def attach(self) -> None:
        self.endpoint.attach()

    def send(self, payload) -> None:
        if is_end(payload):
            self._fresh = True  # the next payload opens the next repeat
            self.endpoint.send(payload)
            return
        if self._fresh:
            self._fresh = False
            for _ in range(1 + self.skew):
                self.endpoint.send(payload)
            return
        self.endpoint.send(payload)

    def recv(self):
        return self.endpoint.recv()

    def close(self) -> None:
        self.endpoint.close()


class SkewingSession(CaseSession):
    """Producer #0 sends through a Skewing endpoint."""

    skew = 0

    def _peers(self):
        peers = super()._peers()
        spec, endpoint = peers[0]
        assert spec.name == "enqueuer#0"
        return [(spec, Skewing(endpoint, self.skew)), *peers[1:]]


@pytest.mark.parametrize(("skew", "what"), [(-1, "lost"), (1, "duplicated")])
@pytest.mark.parametrize("mechanism", ["queue", "simplequeue"])
def test_a_lost_or_duplicated_message_fails_the_case(meta, mechanism, skew, what):
    case = Case(mechanism, "default", WORKQUEUE, 64, 2, "fork")

    def make(case, settings):
        workload = derive_workload(case, settings.messages_for(case), settings.deadline_s)
        session = SkewingSession(case, workload, settings.seed)
        session.skew = skew
        return session

    row = run_case(case, SMALL, meta, make_session=make)
    expected = SMALL.messages_for(case) * case.procs
    assert row.status == "failed", f"a {what} message went unnoticed: {row}"
    assert row.reason.startswith(f"consumers took {expected + skew} messages (")
    assert row.reason.endswith(f"), expected exactly {expected}")


def test_producer_killed_mid_stream_fails_the_case_and_leaks_nothing(meta):
    case = Case("queue", "default", WORKQUEUE, 4096, 2, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("kill", "enqueuer")), meta)
    assert row.status == "failed", row
    assert "enqueuer#0" in row.reason and "SIGKILL" in row.reason


@pytest.mark.parametrize("case", _params([
    Case("manager-queue", "default", WORKQUEUE, 64, 2, "fork"),
    Case("zmq", "ipc", WORKQUEUE, 64, 2, "fork"),
]))
def test_consumer_that_dies_fails_the_case_and_leaks_nothing(meta, case):
    row = run_case(case, replace(SMALL, fault=Fault("exit", "dequeuer")), meta)
    assert row.status == "failed", row
    assert "dequeuer#0" in row.reason and "exited with code 3" in row.reason


def test_corrupted_payload_is_detected(meta):
    # One producer: every message (so every consumer's last one) is the corrupted one.
    case = Case("queue", "default", WORKQUEUE, 1024, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", "enqueuer")), meta)
    assert row.status == "failed", row
    assert "PayloadMismatch" in row.reason and "checksum" in row.reason

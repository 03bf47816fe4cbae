"""The traffic patterns: everything ipcbench knows about each, stated once.

A Pattern says who talks to whom (roles, peers for N procs), how much a message moves,
which figure ranks channels for it (its figure of merit, direction and unit), which
in-run baseline its efficiency is measured against, and how people read it (labels,
titles). The runner, the session, the charts, compare and advise all read these records;
no other module compares pattern names.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipcbench.core import units


@dataclass(frozen=True)
class BaselineRef:
    """The in-run baseline row a pattern's efficiency divides by (mechanism `baseline`)."""

    variant: str  # memcpy, os-pipe, lock
    pattern: str  # the baseline row's pattern column
    column: str  # its figure
    label: str  # for people: "memcpy bandwidth"
    # True: measured at each message size a run uses (a row of that size_bytes), and a
    # case is judged against the figure at its own size; False: one fixed-size row.
    per_size: bool = False
    # True: measured only when a case of its pattern needs it (start-up's fork floor),
    # so runs without such cases keep the baseline set they always had.
    lazy: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        """Which figure of which baseline row: (variant, pattern, column)."""
        return (self.variant, self.pattern, self.column)


@dataclass(frozen=True)
class Pattern:
    name: str
    summary: str
    # Roles of the peers, in start (and pinning) order; see roles.ROLES.
    sender: str
    receiver: str
    # The peer whose clock times a repeat (pingpong: every round trip at the initiator).
    timing_role: str
    # Peers for --procs N: pairs (2N), N senders + 1 receiver, 1 + N, N alike, or N
    # senders + N receivers (workqueue).
    peers_per_proc: int
    extra_peers: int
    # A message goes there and back (pingpong): it moves its payload twice.
    round_trip: bool
    # False for the counter: its "message" is one increment of an int64, no payload.
    moves_payload: bool
    # Figure of merit: the row column that ranks channels, its direction and unit.
    metric: str
    higher_is_better: bool
    unit: str
    metric_label: str
    title: str
    procs_label: str  # what --procs counts for this pattern
    baseline: BaselineRef
    # Crossed with the matrix's extra payload kinds (object, numpy, ...) by default.
    in_payload_matrix: bool
    # Receivers record every message's one-way latency (the lat_* columns), and senders
    # can keep to a schedule (--rate): messages flow one way, from senders that do not
    # wait for an answer.
    open_loop: bool = False
    one_sender: bool = False  # fanout: one distributor whatever --procs says
    # Messages delivered per timed step: `step_messages` each proc (or in all, when not
    # `per_proc`): broadcast delivers one copy to each of N subscribers, a pipeline one
    # message end to end whatever its stage count, bidir two (one each way) per pair.
    step_messages: int = 1
    per_proc: bool = True
    # Every message reaches every receiver (broadcast), not one of them.
    every_receiver: bool = False
    # The receiver routes by the sender in each message's header (reqrep's server picks
    # the reply channel): a message too short to carry the header cannot run it.
    routes_by_header: bool = False
    # Why the shm-view payload (a descriptor of a region in the sender's pool, freed
    # once its one receiver has read it) cannot run this pattern; "" = it can.
    why_no_shared_payload: str = ""
    # One-reader channels a case opens: `channels_per_proc` each proc plus `extra_channels`
    # (pingpong and bidir: one each way per pair; reqrep: the requests' and the replies';
    # pipeline: one per hop). What a mechanism builds may differ (one shared queue).
    channels_per_proc: int = 1
    extra_channels: int = 0
    # Measured when a run names no patterns (-p); the newer shapes only when asked for.
    in_default_matrix: bool = True
    # Not 0: the pattern has no size axis, every case of it uses this one size (the
    # counter's int64, start-up's first message); 0: sized by the matrix (-s).
    fixed_size_bytes: int = 0
    # Its repeats start their own workers, one start (of `procs` workers) a repeat.
    starts_workers: bool = False

    def channels(self, procs: int) -> int:
        return self.channels_per_proc * procs + self.extra_channels

    def delivered(self, procs: int) -> int:
        """Messages delivered while the timing peer advances one step (not pingpong's)."""
        return self.step_messages * (procs if self.per_proc else 1)

    def peers(self, procs: int) -> int:
        """Processes a case of this pattern starts."""
        return self.peers_per_proc * procs + self.extra_peers

    def senders(self, procs: int) -> int:
        """Peers that send: one distributor, both ends of a bidir pair, else one per proc."""
        if self.one_sender:
            return 1
        return procs * (self.step_messages if self.per_proc else 1)

    def sent_per_s(self, delivered_per_s: float, procs: int) -> float:
        """Messages per second each sender sent (what --rate asks of it), from the
        messages delivered per second: a broadcast message is delivered N times."""
        copies = procs if self.every_receiver else 1
        return delivered_per_s / self.senders(procs) / copies

    def bytes_per_step(self, size_bytes: int, procs: int) -> int:
        """Bytes all peers move while the timing peer advances one message: there and
        back per pair for pingpong (pairs run side by side), one message from every
        producer or to every worker for stream/fanout/workqueue."""
        if not self.moves_payload:
            return 0
        return size_bytes * (2 if self.round_trip else self.delivered(procs))

    def bytes_per_message(self, size_bytes: int) -> int:
        """Payload bytes one timed message moves (pingpong: there and back)."""
        if not self.moves_payload:
            return 0
        return size_bytes * (2 if self.round_trip else 1)

    def efficiency(self, figure: float, baseline_figure: float) -> float:
        """Pure: the figure relative to its baseline, 1.0 = the hardware's figure."""
        if self.higher_is_better:
            return figure / baseline_figure
        return baseline_figure / figure

    @property
    def sized(self) -> bool:
        """Charted and matched against message size (the counter and start-up have none)."""
        return not self.fixed_size_bytes

    def format(self, value: float) -> str:
        return units.format_value(value, self.unit)


# A copy of a cache-resident message runs far above the 64 MiB figure: only memcpy at
# the case's own size keeps a correct channel's efficiency at or below about 1.
_COPY = BaselineRef("memcpy", "stream", "bytes_per_s", "memcpy bandwidth at the message size",
                    per_size=True)
_PIPE_RTT = BaselineRef("os-pipe", "pingpong", "p50_ns", "raw os.pipe round trip")
_LOCK = BaselineRef("lock", "counter", "msgs_per_s", "uncontended lock increments")
# The counter's "message" is one increment of an int64: its size axis is this one value.
COUNTER_SIZE_BYTES = 8
# Start-up's first message: small, so the figure is the start, not a transfer.
STARTUP_SIZE_BYTES = 64

PINGPONG = Pattern(
    name="pingpong",
    summary="round-trip latency: one process sends, its partner echoes; N pairs side by side",
    sender="ping", receiver="pong", timing_role="ping", peers_per_proc=2, extra_peers=0,
    round_trip=True, moves_payload=True,
    metric="p50_ns", higher_is_better=False, unit=units.TIME_NS,
    metric_label="p50 round trip", title="Ping-pong p50 latency (lower is better)",
    procs_label="pairs of processes", baseline=_PIPE_RTT, in_payload_matrix=True,
    channels_per_proc=2,
)
STREAM = Pattern(
    name="stream",
    summary="N producers -> 1 consumer, aggregate throughput timed at the consumer",
    sender="producer", receiver="consumer", timing_role="consumer", peers_per_proc=1,
    extra_peers=1, round_trip=False, moves_payload=True,
    metric="bytes_per_s", higher_is_better=True, unit=units.BYTES_PER_S,
    metric_label="throughput", title="Stream throughput (higher is better)",
    procs_label="producer processes", baseline=_COPY, in_payload_matrix=True,
    open_loop=True,
)
FANOUT = Pattern(
    name="fanout",
    summary="1 producer -> N consumers, one channel each, served round-robin",
    sender="distributor", receiver="worker", timing_role="distributor", peers_per_proc=1,
    extra_peers=1, round_trip=False, moves_payload=True,
    metric="bytes_per_s", higher_is_better=True, unit=units.BYTES_PER_S,
    metric_label="throughput", title="Fanout throughput (higher is better)",
    procs_label="consumer processes", baseline=_COPY, in_payload_matrix=False,
    open_loop=True, one_sender=True,
)
# Work queue: `procs` = N producers and as many consumers, all on one shared channel
# (competing consumers: each message goes to whichever consumer takes it first). Each
# producer sends its share, then one end-of-stream marker per consumer; each consumer
# takes messages until it holds one marker per producer and reports how many it took;
# the total must be exactly N x messages. Producer #0 times from the start barrier to an
# end barrier every peer reaches when done (like fanout's distributor).
WORKQUEUE = Pattern(
    name="workqueue",
    summary="N producers -> N consumers on one shared channel, each message taken by "
            "whichever consumer is free; exact total count",
    sender="enqueuer", receiver="dequeuer", timing_role="enqueuer", peers_per_proc=2,
    extra_peers=0, round_trip=False, moves_payload=True,
    metric="bytes_per_s", higher_is_better=True, unit=units.BYTES_PER_S,
    metric_label="throughput", title="Work queue throughput (higher is better)",
    procs_label="producers (and as many consumers)", baseline=_COPY, in_payload_matrix=False,
    open_loop=True,
)
COUNTER = Pattern(
    name="counter",
    summary="N processes increment one shared counter under its lock; exact final count",
    sender="incrementer", receiver="incrementer", timing_role="incrementer",
    peers_per_proc=1, extra_peers=0, round_trip=False, moves_payload=False,
    metric="msgs_per_s", higher_is_better=True, unit=units.MSGS_PER_S,
    metric_label="increments/s", title="Locked counter increments/s (higher is better)",
    procs_label="incrementing processes", baseline=_LOCK, in_payload_matrix=False,
    fixed_size_bytes=COUNTER_SIZE_BYTES,
)

# Broadcast: one publisher, N subscribers, each on a channel of its own, every message
# sent to every one of them (N copies). The publisher times from the start barrier to an
# end barrier each subscriber reaches once it holds the last message; the figure is the
# bytes delivered (every copy) per second. Subscribers check they got every message
# exactly once, in order, and report each one's one-way latency.
BROADCAST = Pattern(
    name="broadcast",
    summary="1 publisher -> N subscribers, every subscriber gets every message; timed "
            "until the last subscriber holds the last message",
    sender="publisher", receiver="subscriber", timing_role="publisher", peers_per_proc=1,
    extra_peers=1, round_trip=False, moves_payload=True,
    metric="bytes_per_s", higher_is_better=True, unit=units.BYTES_PER_S,
    metric_label="delivered throughput", title="Broadcast throughput, every copy counted "
    "(higher is better)", procs_label="subscriber processes", baseline=_COPY,
    in_payload_matrix=False, open_loop=True, one_sender=True, every_receiver=True,
    in_default_matrix=False,
    why_no_shared_payload="every subscriber would read the one region a message is in, "
                          "which its pool frees once one receiver has read it",
)
# Pipeline: a source, N relay stages, a sink; each relay passes every message on as it
# came (header untouched), so the sink's one-way latency is end to end and its sequence
# check covers every stage. The sink times from the start barrier to its last message.
PIPELINE = Pattern(
    name="pipeline",
    summary="source -> N relay stages -> sink; end-to-end one-way latency and throughput",
    sender="source", receiver="sink", timing_role="sink", peers_per_proc=1, extra_peers=2,
    round_trip=False, moves_payload=True,
    metric="bytes_per_s", higher_is_better=True, unit=units.BYTES_PER_S,
    metric_label="end-to-end throughput", title="Pipeline end-to-end throughput "
    "(higher is better)", procs_label="relay stages", baseline=_COPY,
    in_payload_matrix=False, open_loop=True, one_sender=True, per_proc=False,
    extra_channels=1, in_default_matrix=False,
)
# Request-reply: N clients, one server. Clients send requests on one shared N -> 1
# channel; the server answers each on the client's own reply channel, found from the
# sender in the request's header. Every client times each round trip (a distribution);
# the figure of merit is requests per second over all clients.
REQREP = Pattern(
    name="reqrep",
    summary="N clients -> 1 server, each request answered; round-trip distribution and "
            "aggregate requests/s",
    sender="client", receiver="server", timing_role="client", peers_per_proc=1,
    extra_peers=1, round_trip=True, moves_payload=True,
    metric="msgs_per_s", higher_is_better=True, unit=units.MSGS_PER_S,
    metric_label="requests/s", title="Request-reply requests/s (higher is better)",
    procs_label="client processes", baseline=BaselineRef(
        "os-pipe", "pingpong", "msgs_per_s", "raw os.pipe round trips/s"),
    in_payload_matrix=False, channels_per_proc=2, routes_by_header=True,
    in_default_matrix=False,
)
# Bidirectional: N pairs, both ends sending and receiving at once (a thread of each peer
# sends while its main thread receives: one thread doing both deadlocks on a pipe once
# both sides' messages outgrow its buffer). Every peer reaches an end barrier once it
# has sent and received its share; left #0 times up to it. Aggregate bytes/s, both ways.
BIDIR = Pattern(
    name="bidir",
    summary="N pairs, both ends send and receive at once; aggregate bytes/s both ways",
    sender="left", receiver="right", timing_role="left", peers_per_proc=2, extra_peers=0,
    round_trip=False, moves_payload=True,
    metric="bytes_per_s", higher_is_better=True, unit=units.BYTES_PER_S,
    metric_label="throughput, both ways", title="Bidirectional throughput (higher is better)",
    procs_label="pairs of processes", baseline=_COPY, in_payload_matrix=False,
    open_loop=True, step_messages=2, channels_per_proc=2, in_default_matrix=False,
    why_no_shared_payload="a peer's region pool would be written by its sending thread and "
                          "read by its receiving one at once",
)

# Start-up: what starting workers costs, which every other pattern keeps out of its
# clock (their peers are up before any timing). A repeat starts `procs` workers of the
# case's kind (a Process, a Pool, a ProcessPoolExecutor, a Manager, a thread, a
# subinterpreter: mechanisms/startup.py) with the case's start method, sends each its
# first 64 B message and times until the last reply is back: one sample a repeat, torn
# down outside the clock (CHURN, below, times tasks through pools that replace their
# workers). Its floor is a raw os.fork to a first byte back.
STARTUP = Pattern(
    name="startup",
    summary="start N workers, time until every one's first reply is back; a fresh "
            "worker every time (per start method)",
    sender="starter", receiver="worker", timing_role="starter", peers_per_proc=1,
    extra_peers=0, round_trip=True, moves_payload=True,
    metric="p50_ns", higher_is_better=False, unit=units.TIME_NS,
    metric_label="start to first reply", title="Start-up: start to first reply, p50 "
    "(lower is better)", procs_label="workers started at once",
    baseline=BaselineRef("os-fork", "startup", "p50_ns", "raw os.fork to first byte back",
                         lazy=True),
    in_payload_matrix=False, in_default_matrix=False, fixed_size_bytes=STARTUP_SIZE_BYTES,
    starts_workers=True,
)

# Worker churn: a pool whose every worker runs one task and is replaced (Pool's
# maxtasksperchild=1, ProcessPoolExecutor's max_tasks_per_child=1). Its pool's first
# workers start untimed; a repeat times CHURN_TASKS_PER_WORKER (starters.py) tasks a
# worker through replacements. Its own pattern, not a start-up variant: a rate of tasks
# through restarts is another workload than one start to a first reply.
CHURN = Pattern(
    name="churn",
    summary="tasks through a pool that replaces each worker after one task; tasks/s "
            "(per start method)",
    sender="starter", receiver="worker", timing_role="starter", peers_per_proc=1,
    extra_peers=0, round_trip=True, moves_payload=True,
    metric="msgs_per_s", higher_is_better=True, unit=units.MSGS_PER_S,
    metric_label="tasks/s, a new worker each", title="Worker churn: tasks/s through "
    "pools that replace each worker after one task (higher is better)",
    procs_label="workers in the pool",
    baseline=BaselineRef("os-fork", "churn", "msgs_per_s",
                         "raw os.fork to first byte back, per second", lazy=True),
    in_payload_matrix=False, in_default_matrix=False, fixed_size_bytes=STARTUP_SIZE_BYTES,
    starts_workers=True,
)

PATTERNS: dict[str, Pattern] = {
    p.name: p for p in (PINGPONG, STREAM, FANOUT, WORKQUEUE, COUNTER,
                        BROADCAST, PIPELINE, REQREP, BIDIR, STARTUP, CHURN)
}
PATTERN_NAMES: tuple[str, ...] = tuple(PATTERNS)
DEFAULT_PATTERN_NAMES: tuple[str, ...] = tuple(
    name for name, p in PATTERNS.items() if p.in_default_matrix)


def get(name: str) -> Pattern:
    """The Pattern named `name`; a one-line ValueError naming it otherwise."""
    try:
        return PATTERNS[name]
    except KeyError:
        raise ValueError(
            f"unknown pattern {name!r} (choose from {', '.join(PATTERN_NAMES)})"
        ) from None


def sized_names() -> tuple[str, ...]:
    return tuple(p.name for p in PATTERNS.values() if p.sized)


def throughput_names() -> tuple[str, ...]:
    """Patterns whose figure of merit is bytes/s."""
    return tuple(p.name for p in PATTERNS.values() if p.unit == units.BYTES_PER_S)

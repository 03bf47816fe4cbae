"""In-run hardware baselines: the floor and ceiling every case is judged against.

Measured in the same run, under the same placement as the cases, and written as rows
of their own (mechanism `baseline`):
- `memcpy` / stream: numpy copy bandwidth (np.copyto, one core, call overhead included),
  the ceiling for any throughput (an IPC transfer copies at least once): once at 64 MiB,
  larger than the caches (the memory figure charts draw), and once at every message
  size a stream/fanout/workqueue case of the run uses. Cache-resident sizes copy far
  faster than 64 MiB, so a case is judged against the copy of its own size
  (Pattern.baseline.per_size), which keeps a correct channel's efficiency at or below
  about 1;
- `os-pipe` / pingpong: a raw os.pipe round trip of 64 B between two processes, the
  floor for any pipe-based channel's latency;
- `os-pipe` / stream: raw os.pipe throughput in 1 MiB writes;
- `lock` / counter: uncontended increments of a shared int64 under one Lock in one
  process, the ceiling for the shared counter;
- `os-fork` / startup and churn: a raw os.fork whose child echoes 64 B back over os.pipe, the floor
  for starting a process worker; measured only in runs with start-up cases.
Every case row then gets `efficiency` = its figure relative to the baseline its pattern
names (Pattern.baseline), so two machines can be compared on how close each gets to its
own hardware. BaselineCache measures them per placement when a case first needs them,
and in a run twice more, at the starts of the next rounds (SPREAD_SETS): the rows pool
the sets.
"""

from __future__ import annotations

import math
import mmap
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from ipcbench.core import patterns
from ipcbench.core.results import ResultRow
from ipcbench.core.schema import BASELINE_MECHANISM, Case
from ipcbench.core.session_stats import bracket_ns
from ipcbench.harness.rows import RunMeta, base_row, baseline_row
from ipcbench.system.affinity import allowed_cpus, cpus_for_peer, pinned, with_child
from ipcbench.system.launcher import Launcher
from ipcbench.system.starters import Order

COPY_BYTES = 64 << 20
# Each memcpy sample times enough copies to move about this much (at most MAX_COPIES),
# so small sizes are not timer noise and the whole set stays well under a second.
COPY_SAMPLE_BYTES = 16 << 20
MAX_COPIES = 100_000
RTT_SIZE_BYTES = 64
RTT_COUNT = 2000
STREAM_CHUNK_BYTES = 1 << 20
STREAM_CHUNKS = 64
LOCK_INCREMENTS = 20000
REPEATS = 5


@dataclass(frozen=True)
class Baselines:
    """The baseline figures of one placement: `figures` keyed (variant, pattern, column)
    of their rows (for memcpy, the 64 MiB row); `sized` keyed (variant, pattern, column,
    size_bytes) for the baselines measured per message size (memcpy). The column is in
    the key because one row anchors two patterns by different figures: the os.pipe
    round trip is ping-pong's p50_ns and request-reply's msgs_per_s."""

    figures: dict[tuple[str, str, str], float]
    sized: dict[tuple[str, str, str, int], float] = field(default_factory=dict)
    # The host's state these figures are at: the probe (a raw os.pipe round trip, as
    # around every session) their sets were brought to; 0 = as measured, state unknown.
    probe_ns: float = 0.0

    @classmethod
    def from_rows(cls, rows: Iterable[ResultRow], probe_ns: float = 0.0) -> Baselines:
        """KeyError when a baseline a pattern needs is missing from `rows`."""
        rows = sorted(rows, key=lambda r: r.size_bytes)
        by_kind = {(r.variant, r.pattern): r for r in rows}  # the largest size of each
        figures, sized = {}, {}
        for pattern in patterns.PATTERNS.values():
            ref = pattern.baseline
            if ref.lazy and (ref.variant, ref.pattern) not in by_kind:
                continue  # measured when a case of its pattern first needs it
            figures[ref.key] = getattr(by_kind[(ref.variant, ref.pattern)], ref.column)
            if ref.per_size:
                sized.update({(*ref.key, r.size_bytes): getattr(r, ref.column)
                              for r in rows if (r.variant, r.pattern) == (ref.variant,
                                                                          ref.pattern)})
        return cls(figures, sized, probe_ns)

    def for_case(self, pattern: patterns.Pattern, size_bytes: int) -> float:
        """The figure a case of this pattern and size is judged against (KeyError when a
        per-size baseline was not measured at that size)."""
        ref = pattern.baseline
        if ref.per_size:
            return self.sized[(*ref.key, size_bytes)]
        return self.figures[ref.key]

    def with_figure(self, ref: patterns.BaselineRef, size_bytes: int,
                    figure: float) -> Baselines:
        """These figures with `ref`'s set to `figure` (at `size_bytes` when per size)."""
        if ref.per_size:
            return replace(self, sized={**self.sized, (*ref.key, size_bytes): figure})
        return replace(self, figures={**self.figures, ref.key: figure})

    def has(self, pattern: patterns.Pattern, size_bytes: int) -> bool:
        ref = pattern.baseline
        if ref.per_size:
            return (*ref.key, size_bytes) in self.sized
        return ref.key in self.figures


def efficiency(row: ResultRow, base: Baselines) -> float:
    """Pure: how close a case gets to its baseline (1.0 = the hardware's figure)."""
    if row.status != "ok":
        return math.nan
    pattern = patterns.get(row.pattern)
    return pattern.efficiency(getattr(row, pattern.metric),
                              base.for_case(pattern, row.size_bytes))


def at_reference(row: ResultRow, base: Baselines) -> Baselines:
    """Pure: the baselines a row is judged against, at the row's state of the host where
    the row's times are at the run's reference state (probe_ref_ns above 0:
    session_stats.standardized) and the baselines' state is known (base.probe_ns): every
    figure scaled as the sessions were, by the row's probe over the baselines' (a time
    up, a rate down), and the raw os.pipe round trip is the row's probe itself (the same
    64 B os.pipe echo, pinned alike, taken beside every session).

    Why: a baseline set is a few moments of the run, and the host moves between speed
    states. Between two back-to-back quick runs on an AMD EPYC VM the baseline rows read
    8.7 to 11.1 us for the raw round trip while the runs' median probes read 10.8 to
    11.6 us, and the lock baseline 531 and 806 ns: a row at the run's state over a
    baseline from other moments moved its efficiency by up to 1.5x."""
    ref_ns = row.probe_ref_ns
    if not ref_ns > 0:
        return base
    if base.probe_ns > 0:
        factor = ref_ns / base.probe_ns
        base = replace(base, probe_ns=ref_ns,
                       figures={key: _scaled(key, value, factor)
                                for key, value in base.figures.items()},
                       sized={key: _scaled(key, value, factor)
                              for key, value in base.sized.items()})
    ref = patterns.get(row.pattern).baseline
    per_column = {"p50_ns": ref_ns, "msgs_per_s": 1e9 / ref_ns}
    if ref.key[:2] == _RAW_ROUND_TRIP and ref.column in per_column:
        base = base.with_figure(ref, row.size_bytes, per_column[ref.column])
    return base


def _scaled(key: tuple, value: float, factor: float) -> float:
    """A baseline figure with its times scaled by `factor`: a time (`_ns`) goes with
    it, a rate (`_per_s`) against it. key[2] is the figure's column."""
    return value * factor if key[2].endswith("_ns") else value / factor


# The baseline row the probe stands for: (variant, pattern).
_RAW_ROUND_TRIP = ("os-pipe", "pingpong")


# -- raw loops ------------------------------------------------------------------------
def read_exact(fd: int, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise RuntimeError("os.pipe baseline: the echo child exited mid-transfer")
        got += n


def write_all(fd: int, view: memoryview) -> None:
    sent = 0
    while sent < len(view):
        sent += os.write(fd, view[sent:])


def _echo(rfd: int, wfd: int, size: int, count: int, cpus: tuple[int, ...]) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    view = memoryview(bytearray(size))
    for _ in range(count):
        read_exact(rfd, view)
        write_all(wfd, view)


def _sink(rfd: int, size: int, count: int, cpus: tuple[int, ...]) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    view = memoryview(bytearray(size))
    for _ in range(count):
        read_exact(rfd, view)


def round_trips_ns(send_fd: int, reply_fd: int, count: int) -> np.ndarray:
    """`count` round trips of RTT_SIZE_BYTES to an echo (_echo, the probe's), each
    timed; the last reply checked against what was sent."""
    payload = memoryview(bytes(range(RTT_SIZE_BYTES)))
    reply = memoryview(bytearray(RTT_SIZE_BYTES))
    samples = np.empty(count, dtype=np.int64)
    for i in range(count):
        start = time.perf_counter_ns()
        write_all(send_fd, payload)
        read_exact(reply_fd, reply)
        samples[i] = time.perf_counter_ns() - start
    if bytes(reply) != bytes(payload):
        raise RuntimeError("os.pipe echo: the reply differs from what was sent")
    return samples


def fork_context():
    # The raw pipe fds reach the child only by inheritance: fork, whatever the run uses.
    return multiprocessing.get_context("fork")


def close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:  # closed already, once the child held its own copy
            pass


def pipe_rtt_samples_ns(placement: str, round_trips: int = RTT_COUNT,
                        repeats: int = REPEATS, warmup: int | None = None) -> np.ndarray:
    """Per round trip ns of a raw os.pipe echo (64 B): `round_trips * repeats` samples,
    after `warmup` round trips of warm-up (None: `round_trips`)."""
    cpus = allowed_cpus()
    return pinned_pipe_rtt_samples_ns(cpus_for_peer(placement, 0, cpus),
                                      cpus_for_peer(placement, 1, cpus), round_trips, repeats,
                                      warmup)


def pinned_pipe_rtt_samples_ns(here: tuple[int, ...], there_cpus: tuple[int, ...],
                               round_trips: int = RTT_COUNT,
                               repeats: int = REPEATS,
                               warmup: int | None = None) -> np.ndarray:
    """pipe_rtt_samples_ns between this process on `here` and an echo child on
    `there_cpus` (() = unpinned): also a cell of the core-to-core matrix."""
    there, back = os.pipe(), os.pipe()
    skip = round_trips if warmup is None else warmup
    count = skip + round_trips * repeats

    def work() -> np.ndarray:
        # The child holds its own copies now: with ours closed, a child that dies gives
        # EOF (or EPIPE) here instead of a read that waits forever.
        close_all((there[0], back[1]))
        return round_trips_ns(there[1], back[0], count)[skip:]  # the first `skip`: warm-up

    try:
        child_args = (there[0], back[1], RTT_SIZE_BYTES, count, there_cpus)
        return with_child(fork_context(), _echo, child_args, here, work)
    finally:
        close_all((*there, *back))


# The host's state, sampled either side of every session (harness/runner.py): a short raw os.pipe
# echo. Against it a drift of the host cancels between runs, not only within a block.
# 50 round trips warm a freshly forked echo child up: 300 of them (the warm-up before)
# cost a third of every probe, and 40 probes of each kind, interleaved on the 2-vCPU VM,
# gave medians within 1% of each other (p10-p90 of the ratio 0.94-1.04) at 12 ms a probe
# instead of 19 ms.
PROBE_ROUND_TRIPS = 200
PROBE_WARMUP = 50


def probe_ns(placement: str) -> float:
    """The median round trip of a short raw os.pipe echo under `placement` (~10 ms)."""
    return float(np.median(pipe_rtt_samples_ns(placement, PROBE_ROUND_TRIPS, repeats=1,
                                               warmup=PROBE_WARMUP)))


def pipe_stream_samples_ns(placement: str) -> np.ndarray:
    """Per-chunk ns, one sample per repeat."""
    cpus = allowed_cpus()
    rfd, wfd = os.pipe()
    chunk = memoryview(np.random.default_rng(0).integers(0, 256, STREAM_CHUNK_BYTES, np.uint8))
    total = STREAM_CHUNKS * (REPEATS + 1)

    def work() -> np.ndarray:
        close_all((rfd,))  # a sink that dies gives EPIPE here, never a full pipe forever
        samples = []
        for _ in range(REPEATS + 1):
            start = time.perf_counter_ns()
            for _ in range(STREAM_CHUNKS):
                write_all(wfd, chunk)
            samples.append((time.perf_counter_ns() - start) / STREAM_CHUNKS)
        return np.array(samples[1:])

    try:
        child_args = (rfd, STREAM_CHUNK_BYTES, total, cpus_for_peer(placement, 1, cpus))
        return with_child(fork_context(), _sink, child_args, cpus_for_peer(placement, 0, cpus),
                          work)
    finally:
        close_all((rfd, wfd))


FORKS = 20
FORK_DEADLINE_S = 10.0  # per fork: a raw fork answers in milliseconds


def fork_reply_samples_ns(placement: str, forks: int = FORKS) -> np.ndarray:
    """The start-up floor: per sample, a raw os.fork() whose child (pinned where the
    placement puts a worker) echoes 64 B over os.pipe, timed from the fork to the echo
    back. Forked by the start-up launcher, as the start-up cases' workers are, so floor
    and cases pay for the same small parent (the harness's heap would slow the fork).
    The first fork is warm-up."""
    cpus = allowed_cpus()
    order = Order("os-fork", "fork", 1, (tuple(cpus_for_peer(placement, 1, cpus)),),
                  FORK_DEADLINE_S, bytes(range(RTT_SIZE_BYTES)))
    with Launcher(tuple(cpus_for_peer(placement, 0, cpus)), FORK_DEADLINE_S) as launcher:
        samples = [launcher.measure(order, order.wait_bound_s).sample_ns
                   for _ in range(forks + 1)]
    return np.array(samples[1:], dtype=np.int64)


def copies_per_sample(size_bytes: int) -> int:
    return max(1, min(MAX_COPIES, COPY_SAMPLE_BYTES // size_bytes))


def _page_aligned(size_bytes: int) -> np.ndarray:
    """A buffer of `size_bytes` that starts on a page boundary.

    Why: two buffers from malloc often lie 16 bytes apart modulo 4096, and then a copy
    between them stalls on 4K aliasing (a load that seems to hit the store just before
    it): on an AMD EPYC VM np.copyto of 64 KiB took 41 us with the target 8-24 bytes
    past the source modulo a page, 2.7-4.5 us at 0 or 32-96. Which one a run drew
    depended on its heap, so its memcpy baseline ran 2.3 us in one run and 23.7 us in
    the next, and every shared-memory channel's efficiency moved tenfold with it. The
    baseline is the copy at its best alignment, as a channel whose buffers are
    page-aligned (shared memory, mmap) gets it."""
    page = mmap.PAGESIZE
    whole = np.empty(size_bytes + page, dtype=np.uint8)
    start = (-whole.ctypes.data) % page
    return whole[start:start + size_bytes]


def copy_samples_ns(size_bytes: int = COPY_BYTES) -> np.ndarray:
    """Per-copy ns of np.copyto between two buffers of `size_bytes` (the copy every
    shared-memory receiver makes), each sample the mean of copies_per_sample copies.
    The same two buffers every time: cache-resident when they fit, as a channel's
    reused buffers are. Both start on a page boundary (_page_aligned)."""
    source = _page_aligned(size_bytes)
    source[:] = np.random.default_rng(0).integers(0, 256, size_bytes, dtype=np.uint8)
    target = _page_aligned(size_bytes)
    copies = copies_per_sample(size_bytes)
    samples = []
    for _ in range(REPEATS + 1):
        start = time.perf_counter_ns()
        for _ in range(copies):
            np.copyto(target, source)
        samples.append((time.perf_counter_ns() - start) / copies)
    if not np.array_equal(source[-4096:], target[-4096:]):
        raise RuntimeError("memcpy baseline: copy differs")
    return np.array(samples[1:], dtype=np.float64)


def lock_samples_ns() -> np.ndarray:
    """Per-increment ns of a shared int64 (RawValue) incremented under one plain Lock in
    one process: the fewest lock operations an increment can cost, so no counter
    channel beats it. A synchronized Value (`with v.get_lock(): v.value += 1`) takes its
    recursive lock three times, and the channel that guards a RawValue with one Lock
    (value-raw) read 1.3-1.5x that figure."""
    counter = multiprocessing.RawValue("q", 0)
    lock = multiprocessing.Lock()
    samples = []
    for _ in range(REPEATS + 1):
        start = time.perf_counter_ns()
        for _ in range(LOCK_INCREMENTS):
            with lock:
                counter.value += 1
        samples.append((time.perf_counter_ns() - start) / LOCK_INCREMENTS)
    if counter.value != LOCK_INCREMENTS * (REPEATS + 1):
        raise RuntimeError("lock baseline: lost increments")
    return np.array(samples[1:])


# -- rows -------------------------------------------------------------------------------
# A run measures each placement's baselines this many times: at the first case that needs
# them and at the start of each next round of the run (runner.py), a set each time, and
# the row pools the sets (their median). On an Intel Xeon VM the host switched between
# two speeds for seconds at a time, and a one-shot set landed in whichever state that
# moment had: one run's baselines ran 1.5-2x slower than the next run's, and compare
# called every channel of the run less efficient. Replayed on the probe (the same raw
# round trip, taken around every session of 19 quick runs), one moment sat more than 10%
# from its run's median in 27% of draws, the median of three taken at the starts of the
# first three rounds in 10%.
SPREAD_SETS = 3

# A set: each baseline it measured, keyed by the baseline's case: the messages a sample
# averages, its samples, and the probe around that baseline (0: none).
BaselineSet = dict[Case, tuple[int, np.ndarray, float]]


def _no_probe() -> float:
    return 0.0


class ProbeChain:
    """Probes between consecutive measurements: each measurement gets the probes either
    side of it (session_stats.bracket_ns), one shared with its neighbour (n measurements,
    n + 1 probes). `probe()` gives 0 when there is none or it failed.

    Why each baseline and not the set: a set takes over a second (the 64 MiB copies
    alone about half of it) while the host's speed states last 0.3 s to a few seconds,
    so a probe either side of the whole set missed the state most of its baselines ran
    in (docs/noise.md)."""

    def __init__(self, probe: Callable[[], float] = _no_probe) -> None:
        self.probe = probe
        self.last_ns = probe()

    def __call__(self, work: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
        samples = work()
        after_ns = self.probe()
        before_ns, self.last_ns = self.last_ns, after_ns
        return samples, bracket_ns(before_ns, after_ns)


def measure_set(placement: str, start_method: str, copy_sizes_bytes: Iterable[int] = (),
                probe: Callable[[], float] = _no_probe) -> BaselineSet:
    """Every fixed baseline of `placement` once, and memcpy at each of `copy_sizes_bytes`
    (the per-size copies a run's cases asked for so far), each between two probes of
    `probe` (ProbeChain)."""
    here = cpus_for_peer(placement, 0, allowed_cpus())
    chain = ProbeChain(probe)
    found: BaselineSet = {}

    def take(variant: str, pattern: patterns.Pattern, size: int, per_sample: int,
             work: Callable[[], np.ndarray]) -> None:
        case = Case(BASELINE_MECHANISM, variant, pattern.name, size, 1, start_method,
                    placement)
        found[case] = (per_sample, *chain(work))

    take("memcpy", patterns.STREAM, COPY_BYTES, copies_per_sample(COPY_BYTES),
         lambda: pinned(here, copy_samples_ns))
    take("os-pipe", patterns.PINGPONG, RTT_SIZE_BYTES, 1,
         lambda: pipe_rtt_samples_ns(placement))
    take("os-pipe", patterns.STREAM, STREAM_CHUNK_BYTES, STREAM_CHUNKS,
         lambda: pipe_stream_samples_ns(placement))
    take("lock", patterns.COUNTER, patterns.COUNTER_SIZE_BYTES, LOCK_INCREMENTS,
         lambda: pinned(here, lock_samples_ns))
    for size in copy_sizes_bytes:
        take("memcpy", patterns.STREAM, size, copies_per_sample(size),
             lambda size=size: pinned(here, lambda: copy_samples_ns(size)))
    return found


@dataclass
class _Pool:
    """A placement's sets so far, before its rows are written: per baseline case, the
    messages a sample averages and, per set that measured it, its samples and the probe
    taken around them (0: none)."""

    start_method: str
    samples: dict[Case, tuple[int, list[tuple[np.ndarray, float]]]] = field(
        default_factory=dict)
    sets: int = 0

    def add(self, found: BaselineSet) -> None:
        for case, (per_sample, samples, probe_ns) in found.items():
            self.samples.setdefault(case, (per_sample, []))[1].append((samples, probe_ns))

    def rows(self, meta: RunMeta, at_probe_ns: float = 0.0) -> list[ResultRow]:
        """The pooled rows, as measured; with `at_probe_ns`, each set's samples first
        scaled to that state by it over their own probe (samples without a probe are
        taken as they are)."""
        def at_state(samples: np.ndarray, probe_ns: float) -> np.ndarray:
            if at_probe_ns > 0 and probe_ns > 0:
                return samples * (at_probe_ns / probe_ns)
            return samples

        return [baseline_row(case, meta, [at_state(a, p) for a, p in arrays], per_sample)
                for case, (per_sample, arrays) in self.samples.items()]

    def probe_ns(self) -> float:
        """The state the pooled sets are brought to: the median of their probes (0 when
        none had one)."""
        probes = [p for _, arrays in self.samples.values() for _, p in arrays if p > 0]
        return float(np.median(probes)) if probes else 0.0

    def copy_sizes_bytes(self) -> list[int]:
        return [case.size_bytes for case in self.samples
                if case.variant == "memcpy" and case.size_bytes != COPY_BYTES]


_MEASURE_ERRORS = (OSError, RuntimeError, ValueError, MemoryError)


class BaselineCache:
    """Measures the baselines of a placement when a case first needs them and keeps the
    figures. With `sets` > 1 (a run: SPREAD_SETS) they are measured again at each
    next_round() until there are `sets` sets, and the rows, pooled over the sets, go to
    `on_row` then, or at flush() (the end of the run, however it ends); until then a
    case is judged against the sets so far. With `sets` = 1 (the pytest front end) the
    rows go out at once, before the cases they anchor."""

    def __init__(self, meta: RunMeta, on_row: Callable[[ResultRow], None],
                 sets: int = 1, probe: Callable[[str], float] | None = None) -> None:
        self.meta = meta
        self.on_row = on_row
        self.sets = max(1, sets)
        # The run's probe (harness/probe.py), taken either side of every baseline of a
        # set (ProbeChain) so the sets can be brought to one state of the host
        # (at_reference); None = no probe.
        self.probe = probe
        # The run's reference state under a placement so far (set by run_planned to
        # runner.RunContext.reference_ns): the rows are written at it, as the cases' are.
        # None or 0: the rows are written as measured.
        self.reference: Callable[[str], float] | None = None
        self._by_placement: dict[str, Baselines | None] = {}
        self._pools: dict[str, _Pool] = {}  # placements whose rows are not written yet
        # Baselines that could not be measured on first need (ref, size): NaN, asked
        # for once.
        self._failed: dict[str, list[tuple[patterns.BaselineRef, int]]] = {}
        # placement -> the message sizes its cases will want memcpy at (expect()).
        self._copy_sizes: dict[str, set[int]] = {}

    def expect(self, cases: Iterable[Case]) -> None:
        """The cases the run will measure: every set then copies at each message size a
        case judged against memcpy uses. Else a copy waits for its first need, when the
        first row that needs it is written (most at the end of a run), and rests on
        that one set."""
        for case in cases:
            if case.kind.baseline.per_size:
                self._copy_sizes.setdefault(case.placement, set()).add(case.size_bytes)

    def preload(self, rows: Iterable[ResultRow]) -> None:
        """Reuse the baselines already in a run folder (--resume): the resumed cases are
        judged against the same figures, and the CSV holds one set per placement."""
        found: dict[str, list[ResultRow]] = {}
        for row in rows:
            if row.mechanism == BASELINE_MECHANISM and row.status == "ok":
                found.setdefault(row.placement, []).append(row)
        for placement, placement_rows in found.items():
            try:
                self._by_placement[placement] = Baselines.from_rows(placement_rows)
            except KeyError:
                continue  # incomplete set (run killed while measuring): measure again

    def get(self, placement: str, start_method: str) -> Baselines | None:
        if placement not in self._by_placement:
            try:
                found = measure_set(placement, start_method,
                                    sorted(self._copy_sizes.get(placement, ())),
                                    partial(self._probe_ns, placement))
            except _MEASURE_ERRORS as exc:
                case = Case(BASELINE_MECHANISM, "all", patterns.STREAM.name, 1, 1, start_method,
                            placement)
                self.on_row(base_row(case, self.meta, "failed", f"baseline: {exc}"))
                self._by_placement[placement] = None
                return None
            pool = self._pools[placement] = _Pool(start_method)
            pool.add(found)
            pool.sets = 1
            self._settle(placement)
        return self._by_placement[placement]

    def next_round(self) -> None:
        """Another set for every placement that has fewer than `sets` (a set that fails
        is left out: the ones measured still stand)."""
        for placement, pool in list(self._pools.items()):
            if pool.sets >= self.sets:
                continue
            try:
                found = self._next_set(placement, pool)
            except _MEASURE_ERRORS:
                continue
            pool.add(found)
            pool.sets += 1
            self._settle(placement)

    def _probed(self, placement: str, measure: Callable[[], np.ndarray]
                ) -> tuple[np.ndarray, float]:
        """measure()'s samples and the probe around them (ProbeChain, as a session's)."""
        return ProbeChain(partial(self._probe_ns, placement))(measure)

    def _probe_ns(self, placement: str) -> float:
        if self.probe is None:
            return 0.0
        try:
            value = self.probe(placement)
        except _MEASURE_ERRORS:
            return 0.0
        return value if value > 0 and math.isfinite(value) else 0.0

    def _reference_ns(self, placement: str) -> float:
        value = self.reference(placement) if self.reference is not None else 0.0
        return value if value > 0 and math.isfinite(value) else 0.0

    def flush(self, quiet: bool = False) -> None:
        """Write the rows of every placement still pooling (the run ends). `quiet`: while
        another exception is on its way up, a failing `on_row` does not replace it."""
        for placement in list(self._pools):
            self._settle(placement, write=True, quiet=quiet)

    def _settle(self, placement: str, write: bool = False, quiet: bool = False) -> None:
        """The placement's figures from its pool; its rows written once it has every set
        (or `write`)."""
        pool = self._pools[placement]
        probe_ns = pool.probe_ns()
        base = (Baselines.from_rows(pool.rows(self.meta, probe_ns), probe_ns) if probe_ns
                else Baselines.from_rows(pool.rows(self.meta)))
        for ref, size_bytes in self._failed.get(placement, []):
            base = base.with_figure(ref, size_bytes, math.nan)
        self._by_placement[placement] = base
        if write or pool.sets >= self.sets:
            del self._pools[placement]
            reference_ns = self._reference_ns(placement) if probe_ns else 0.0
            rows = [replace(row, probe_ref_ns=reference_ns)
                    for row in pool.rows(self.meta, reference_ns)]
            for row in rows:
                try:
                    self.on_row(row)
                except Exception:
                    if not quiet:
                        raise

    def _next_set(self, placement: str, pool: _Pool) -> BaselineSet:
        """A later set: every fixed baseline, the copies so far, the fork floor if any."""
        return {**measure_set(placement, pool.start_method, pool.copy_sizes_bytes(),
                              partial(self._probe_ns, placement)),
                **self._lazy_again(placement, pool)}

    def _lazy_again(self, placement: str, pool: _Pool) -> BaselineSet:
        """The fork floor again in a later set, where a case measured it on first need."""
        return {case: (1, *self._probed(placement,
                                        partial(fork_reply_samples_ns, placement)))
                for case in pool.samples if case.variant == "os-fork"}

    def annotate(self, row: ResultRow) -> ResultRow:
        """The row with its efficiency against this run's baselines (ok rows only),
        measuring a per-size baseline at the row's size first if needed."""
        if row.status != "ok":
            return row
        base = self.get(row.placement, row.start_method)
        if base is None:
            return row
        if not base.has(row.case.kind, row.size_bytes):
            base = self._measure_missing(row.case.kind.baseline, row, base)
        return replace(row, efficiency=efficiency(row, at_reference(row, base)))

    def _measure_missing(self, ref: patterns.BaselineRef, row: ResultRow,
                         base: Baselines) -> Baselines:
        """A baseline measured on first need, under the row's placement: memcpy at the
        row's size, or the fork floor. While the placement pools its sets it joins the
        pool (and the later sets); else its row goes out at once, just before the case
        row it anchors. NaN when it could not be measured, so a failure is reported
        once, not per row."""
        if ref.variant == "memcpy":
            size_bytes, per_sample = row.size_bytes, copies_per_sample(row.size_bytes)
            start_method = row.start_method  # none applies: the row's, as every baseline
            here = cpus_for_peer(row.placement, 0, allowed_cpus())
            work = lambda: pinned(here, lambda: copy_samples_ns(row.size_bytes))  # noqa: E731
        elif ref.variant == "os-fork":
            size_bytes, per_sample, start_method = RTT_SIZE_BYTES, 1, "fork"  # a raw fork
            work = lambda: fork_reply_samples_ns(row.placement)  # noqa: E731
        else:
            raise ValueError(f"no measurement on first need for baseline {ref.variant!r}")
        case = Case(BASELINE_MECHANISM, ref.variant, ref.pattern, size_bytes, 1,
                    start_method, row.placement)
        try:
            samples, probe_ns = self._probed(row.placement, work)
        except _MEASURE_ERRORS as exc:
            self.on_row(base_row(case, self.meta, "failed", f"baseline: {exc}"))
            self._failed.setdefault(row.placement, []).append((ref, row.size_bytes))
            figure = math.nan
        else:
            pool = self._pools.get(row.placement)
            if pool is not None:
                pool.add({case: (per_sample, samples, probe_ns)})
                self._settle(row.placement)
                return self._by_placement[row.placement]
            measured = baseline_row(case, self.meta, [samples], per_sample)
            reference_ns = self._reference_ns(row.placement) if probe_ns > 0 else 0.0
            if reference_ns:  # written at the run's reference state, as the cases are
                self.on_row(replace(baseline_row(case, self.meta,
                                                 [samples * (reference_ns / probe_ns)],
                                                 per_sample), probe_ref_ns=reference_ns))
            else:
                self.on_row(measured)
            figure = getattr(measured, ref.column)
            if base.probe_ns > 0 and probe_ns > 0:  # to the state the others are at
                figure = _scaled(ref.key, figure, base.probe_ns / probe_ns)
        base = base.with_figure(ref, row.size_bytes, figure)
        self._by_placement[row.placement] = base
        return base

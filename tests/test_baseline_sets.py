"""The in-run baselines measured in several sets spread over a run (SPREAD_SETS), their
rows pooled: a set taken while the host ran in another state is outvoted. Fake sets, no
processes: harness.baselines.measure_set is replaced."""

from __future__ import annotations

import numpy as np
import pytest

from ipcbench.core import patterns
from ipcbench.core.schema import BASELINE_MECHANISM, Case
from ipcbench.core.session_stats import bracket_ns
from ipcbench.core.settings import Settings
from ipcbench.harness import baselines
from ipcbench.harness.baselines import COPY_BYTES, BaselineCache
from ipcbench.harness.rows import BASELINE_GROUPS, base_row
from ipcbench.harness.runner import run_planned


class FakeSets:
    """measure_set's stand-in: the k-th set's samples are all `levels[k]` ns (a round
    trip of that many ns, a copy per sample of that many ns ...), in one state of the
    host: every baseline of it gets the probes taken before and after the whole set;
    records its calls."""

    def __init__(self, *levels: float) -> None:
        self.levels = list(levels)
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def __call__(self, placement, start_method, copy_sizes_bytes=(), probe=lambda: 0.0):
        level = self.levels[len(self.calls)]
        self.calls.append((placement, tuple(copy_sizes_bytes)))
        probe_ns = bracket_ns(probe(), probe())

        def case(variant, pattern, size):
            return Case(BASELINE_MECHANISM, variant, pattern.name, size, 1, start_method,
                        placement)

        samples = np.full(10, level)
        found = {case("memcpy", patterns.STREAM, COPY_BYTES): (1, samples, probe_ns),
                 case("os-pipe", patterns.PINGPONG, 64): (1, samples, probe_ns),
                 case("os-pipe", patterns.STREAM, 1 << 20): (1, samples, probe_ns),
                 case("lock", patterns.COUNTER, 8): (1, samples, probe_ns)}
        for size in copy_sizes_bytes:
            found[case("memcpy", patterns.STREAM, size)] = (1, samples, probe_ns)
        return found


@pytest.fixture
def fake_sets(monkeypatch):
    def install(*levels):
        fake = FakeSets(*levels)
        monkeypatch.setattr(baselines, "measure_set", fake)
        monkeypatch.setattr(baselines, "copy_samples_ns", lambda size: np.full(10, 500.0))
        return fake
    return install


def pingpong_row(meta, p50_ns):
    case = Case("fake", "ideal", "pingpong", 64, 1, "fork", "same-core")
    return base_row(case, meta, "ok", verified=True, messages=1, median_ns=p50_ns,
                    p50_ns=p50_ns)


def test_the_rows_pool_every_set_and_a_set_in_another_state_is_outvoted(meta, fake_sets):
    fake = fake_sets(5_000.0, 8_000.0, 8_000.0)  # the first set met a fast moment
    rows = []
    cache = BaselineCache(meta, rows.append, sets=3)
    first = cache.get("same-core", "fork")
    assert rows == [] and first.for_case(patterns.PINGPONG, 64) == 5_000.0  # so far
    # A case finished before the last set is judged against the sets so far.
    assert cache.annotate(pingpong_row(meta, 10_000.0)).efficiency == pytest.approx(0.5)
    cache.next_round()
    assert rows == []
    cache.next_round()
    assert len(fake.calls) == 3 and len(rows) == 4  # every set measured, rows written once
    [rtt] = [r for r in rows if (r.variant, r.pattern) == ("os-pipe", "pingpong")]
    assert rtt.sessions == 3 * BASELINE_GROUPS and rtt.p50_ns == 8_000.0
    assert cache.annotate(pingpong_row(meta, 16_000.0)).efficiency == pytest.approx(0.5)
    cache.next_round()
    cache.flush()
    assert len(fake.calls) == 3 and len(rows) == 4  # nothing more once every set is in


def test_a_row_at_the_host_s_reference_state_is_judged_against_the_probe(meta, fake_sets):
    """Ping-pong and request-reply rows whose times are at the run's reference probe take
    that probe as their raw round trip (the same os.pipe echo), not the baseline row's
    few moments; rows as measured (probe_ref_ns 0) and other patterns keep the row's."""
    from dataclasses import replace

    fake_sets(5_000.0)
    cache = BaselineCache(meta, lambda row: None)
    at_state = replace(pingpong_row(meta, 16_000.0), probe_ref_ns=8_000.0)
    assert cache.annotate(at_state).efficiency == pytest.approx(0.5)
    assert cache.annotate(pingpong_row(meta, 16_000.0)).efficiency == pytest.approx(5 / 16)
    case = Case("fake", "ideal", "reqrep", 64, 1, "fork", "same-core")
    reqrep = base_row(case, meta, "ok", verified=True, messages=1, median_ns=20_000.0,
                      p50_ns=20_000.0, msgs_per_s=50_000.0, probe_ref_ns=8_000.0)
    assert cache.annotate(reqrep).efficiency == pytest.approx(50_000.0 / 125_000.0)
    stream = Case("fake", "ideal", "stream", 64, 1, "fork", "same-core")
    copied = base_row(stream, meta, "ok", verified=True, messages=1, median_ns=1_000.0,
                      p50_ns=1_000.0, msgs_per_s=1e6, bytes_per_s=64e6,
                      probe_ref_ns=8_000.0)
    assert cache.annotate(copied).efficiency == cache.annotate(
        replace(copied, probe_ref_ns=0.0)).efficiency


def test_sets_are_brought_to_one_state_and_then_to_the_row_s(meta, fake_sets):
    """Sets taken in a fast (probe 5 ns) and a slow state (8 ns) read alike once each is
    scaled to the sets' median probe; a row at the run's reference state (probe_ref_ns 10)
    is judged against them scaled on to that state. The rows written stay as measured."""
    from dataclasses import replace

    fake = fake_sets(5_000.0, 8_000.0, 8_000.0)
    probes = []

    def probe(placement):  # two a set, before and after, at that set's state
        probes.append(placement)
        return fake.levels[(len(probes) - 1) // 2] / 1000

    rows = []
    cache = BaselineCache(meta, rows.append, sets=3, probe=probe)
    cache.get("same-core", "fork")
    cache.next_round()
    cache.next_round()
    assert len(probes) == 6 and len(rows) == 4
    base = cache.get("same-core", "fork")
    assert base.probe_ns == 8.0
    assert base.for_case(patterns.COUNTER, 8) == pytest.approx(1e9 / 8_000.0)  # every set
    [lock] = [r for r in rows if r.variant == "lock"]
    # No run to take a reference state from: the rows are written as measured.
    assert lock.sessions == 15 and lock.min_ns == 5_000.0 and lock.probe_ref_ns == 0.0
    case = Case("fake", "ideal", "counter", 8, 1, "fork", "same-core")
    counter = base_row(case, meta, "ok", verified=True, messages=1, median_ns=20_000.0,
                       p50_ns=20_000.0, msgs_per_s=50_000.0, probe_ref_ns=10.0)
    assert cache.annotate(counter).efficiency == pytest.approx(50_000.0 / 100_000.0)
    assert cache.annotate(replace(counter, probe_ref_ns=0.0)).efficiency == pytest.approx(
        50_000.0 / 125_000.0)  # times as measured: against the sets at their own state


def test_the_rows_are_written_at_the_run_s_reference_state(meta, fake_sets):
    """With the run's reference state known (probe 10 ns), each set is written at it: the
    fast set (5000 ns at probe 5) and the slow ones (8000 at 8) all read 10000."""
    fake = fake_sets(5_000.0, 8_000.0, 8_000.0)
    probes = []

    def probe(placement):
        probes.append(placement)
        return fake.levels[(len(probes) - 1) // 2] / 1000

    rows = []
    cache = BaselineCache(meta, rows.append, sets=3, probe=probe)
    cache.reference = lambda placement: 10.0
    cache.get("same-core", "fork")
    cache.next_round()
    cache.next_round()
    [lock] = [r for r in rows if r.variant == "lock"]
    assert (lock.min_ns, lock.max_ns, lock.probe_ref_ns) == (10_000.0, 10_000.0, 10.0)


def test_one_set_writes_its_rows_at_once_and_flush_writes_a_partial_pool(meta, fake_sets):
    fake_sets(7_000.0)
    rows = []
    BaselineCache(meta, rows.append).get("same-core", "fork")  # the pytest front end's
    assert len(rows) == 4 and all(r.sessions == BASELINE_GROUPS for r in rows)

    fake_sets(7_000.0, 9_000.0)
    rows = []
    cache = BaselineCache(meta, rows.append, sets=3)
    cache.get("same-core", "fork")
    cache.next_round()
    cache.flush()  # the run ended after two sets
    assert len(rows) == 4 and all(r.sessions == 2 * BASELINE_GROUPS for r in rows)


def test_a_copy_measured_on_first_need_joins_the_later_sets(meta, fake_sets):
    fake = fake_sets(1_000.0, 1_000.0, 1_000.0)
    rows = []
    cache = BaselineCache(meta, rows.append, sets=3)
    case = Case("fake", "ideal", "stream", 4096, 1, "fork", "same-core")
    row = base_row(case, meta, "ok", verified=True, messages=1, median_ns=1.0,
                   bytes_per_s=1e9)
    assert np.isfinite(cache.annotate(row).efficiency) and rows == []
    cache.next_round()
    cache.next_round()
    assert [sizes for _, sizes in fake.calls] == [(), (4096,), (4096,)]
    [copy] = [r for r in rows if (r.variant, r.size_bytes) == ("memcpy", 4096)]
    assert copy.sessions == 3 * BASELINE_GROUPS  # first need, then two sets


def test_a_copy_measured_after_the_pool_is_brought_to_its_state(meta, fake_sets):
    """One set (the pytest front end's way, rows out at once) at probe 8 ns; a copy
    measured later on first need, in a state twice as fast (probe 4): its figure is
    scaled to the set's state before it joins, so a row at that state reads 0.5."""
    fake_sets(8_000.0)
    readings = iter([8.0, 8.0, 4.0, 4.0])
    cache = BaselineCache(meta, lambda row: None, probe=lambda placement: next(readings))
    cache.get("same-core", "fork")
    case = Case("fake", "ideal", "stream", 4096, 1, "fork", "same-core")
    row = base_row(case, meta, "ok", verified=True, messages=1, median_ns=2_000.0,
                   p50_ns=2_000.0, bytes_per_s=4096 / 2_000.0 * 1e9, probe_ref_ns=8.0)
    # The copy: 500 ns measured at probe 4, so 1000 ns at 8; the row takes 2000 ns.
    assert cache.annotate(row).efficiency == pytest.approx(0.5)


class StubCache:
    """What the runner asks of a baseline cache, counted."""

    def __init__(self) -> None:
        self.rounds = 0
        self.flushes: list[bool] = []

    def get(self, placement, start_method):
        return None

    def annotate(self, row):
        return row

    def next_round(self) -> None:
        self.rounds += 1

    def flush(self, quiet: bool = False) -> None:
        self.flushes.append(quiet)


def _fake_session(case, settings):
    from fake_mechanism import FakeSession

    from ipcbench.mechanisms.base import Workload

    return FakeSession(case, Workload(settings.messages_for(case), 5.0, 5.0))


def test_the_runner_asks_for_a_set_each_round_and_flushes_at_the_end(meta):
    case = Case("fake", "ideal", "stream", 64, 1, "fork")
    settings = Settings(sessions=3, max_sessions=3, repeats=1, max_messages=3)
    cache = StubCache()
    rows = []
    run_planned([_planned(case)], settings, meta, rows.append,
                make_session=_fake_session, baseline_cache=cache)
    assert len(rows) == 1 and cache.rounds == 2 and cache.flushes == [False]

    def broken(row):
        raise RuntimeError("disk full")

    cache = StubCache()
    with pytest.raises(RuntimeError, match="disk full"):
        run_planned([_planned(case)], settings, meta, broken,
                    make_session=_fake_session, baseline_cache=cache)
    assert cache.flushes == [True]  # quiet: the disk's error is the one that goes up


def _planned(case):
    from ipcbench.harness.plan import PlannedCase

    return PlannedCase(case)


def test_expected_sizes_are_copied_in_every_set(meta, fake_sets):
    fake = fake_sets(1_000.0, 1_000.0, 1_000.0)
    rows = []
    cache = BaselineCache(meta, rows.append, sets=3)
    cache.expect([Case("fake", "ideal", "stream", 4096, 1, "fork", "same-core"),
                  Case("fake", "ideal", "fanout", 64, 2, "fork", "same-core"),
                  Case("fake", "ideal", "pingpong", 1 << 20, 1, "fork", "same-core"),
                  Case("fake", "ideal", "stream", 8192, 1, "fork", "cross-core")])
    cache.get("same-core", "fork")
    cache.next_round()
    cache.next_round()
    # Ping-pong is judged against the round trip, not a copy; cross-core is not measured.
    assert [sizes for _, sizes in fake.calls] == [(64, 4096)] * 3
    copies = {r.size_bytes: r.sessions for r in rows if r.variant == "memcpy"}
    assert copies == {COPY_BYTES: 15, 64: 15, 4096: 15}


def test_each_baseline_of_a_set_gets_the_probes_either_side_of_it(monkeypatch):
    """A set's baselines run one after another while the host moves between states:
    each gets the geometric mean of the probes around it, shared with its neighbours
    (five baselines, six probes), or the one that worked where the other failed (0)."""
    probes = iter([4.0, 9.0, 16.0, 0.0, 25.0, 36.0])
    order = []

    def samples(name):
        return lambda *args: order.append(name) or np.full(3, 1.0)

    for name in ("copy_samples_ns", "lock_samples_ns", "pipe_rtt_samples_ns",
                 "pipe_stream_samples_ns"):
        monkeypatch.setattr(baselines, name, samples(name))
    found = baselines.measure_set("same-core", "fork", [4096], probe=lambda: next(probes))
    assert order == ["copy_samples_ns", "pipe_rtt_samples_ns", "pipe_stream_samples_ns",
                     "lock_samples_ns", "copy_samples_ns"]
    assert [(case.variant, case.size_bytes) for case in found] == [
        ("memcpy", COPY_BYTES), ("os-pipe", 64), ("os-pipe", 1 << 20), ("lock", 8),
        ("memcpy", 4096)]
    assert [probe_ns for _, _, probe_ns in found.values()] == pytest.approx(
        [6.0, 12.0, 16.0, 25.0, 30.0])
    assert next(probes, None) is None  # no probe more than n + 1

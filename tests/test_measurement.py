"""How cases are measured: the median's CI and the session stopping rule, the noisy
flag, efficiency against baselines, placement read back from the peers, CPU-cost
accounting, and the seeded order of the rounds."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from fake_mechanism import FakeClock, FakeSession

from ipcbench.core import patterns
from ipcbench.core.faults import BURN_CPU_S, Fault
from ipcbench.core.schema import BASELINE_MECHANISM, Case
from ipcbench.core.settings import Settings
from ipcbench.core.stats import ci_half_width, median_ci, should_stop
from ipcbench.harness.baselines import BaselineCache, Baselines, efficiency
from ipcbench.harness.plan import expand
from ipcbench.harness.rows import RunMeta, base_row
from ipcbench.harness.runner import run_case, run_planned
from ipcbench.harness.session import CaseSession, derive_workload
from ipcbench.mechanisms.base import Workload
from ipcbench.system.affinity import allowed_cpus


# -- statistics --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "expected"), [(5, (1, 5)), (6, (1, 6)), (10, (2, 9)), (20, (6, 15)), (50, (18, 33))]
)
def test_median_ci_uses_the_binomial_order_statistics(n, expected):
    # Ranks from the standard tables of distribution-free median CIs at 95%.
    assert median_ci(list(range(1, n + 1))) == expected


def test_median_ci_ranks_match_scipy_without_importing_it():
    """The harness computes the binomial quantile itself (no scipy before measuring:
    tests/test_lean_harness.py); it must agree with scipy's binom.ppf everywhere."""
    from scipy.stats import binom

    from ipcbench.core.stats import _binomial_half_ppf

    for confidence in (0.5, 0.6, 0.9, 0.95, 0.99):
        q = (1.0 - confidence) / 2.0
        for n in [*range(1, 200), 1500]:
            assert _binomial_half_ppf(q, n) == int(binom.ppf(q, n, 0.5)), (confidence, n)


def test_median_ci_is_order_independent_and_rejects_nothing():
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 7.0, 8.0, 6.0, 10.0]
    assert median_ci(values) == median_ci(sorted(values)) == (2.0, 9.0)
    with pytest.raises(ValueError):
        median_ci([])


def test_ci_half_width_is_relative_to_the_median():
    assert ci_half_width([100.0] * 10) == 0.0
    assert ci_half_width(list(range(1, 11))) == pytest.approx((9 - 2) / 2 / 5.5)


def test_stopping_rule():
    tight, loose = [100.0] * 6, [50.0, 150.0, 90.0, 110.0, 70.0, 130.0]
    rule = {"min_count": 5, "max_count": 8, "target": 0.02, "budget_s": 10.0}
    assert should_stop(tight[:4], elapsed_s=0, **rule) == (False, False)  # below the minimum
    assert should_stop(tight, elapsed_s=0, **rule) == (True, False)  # CI within the target
    assert should_stop(loose, elapsed_s=0, **rule) == (False, False)  # keep going
    assert should_stop(loose, elapsed_s=10.0, **rule) == (True, True)  # budget spent: noisy
    assert should_stop(loose + [100.0, 100.0], elapsed_s=0, **rule) == (True, True)  # max


class JitterClock(FakeClock):
    """Steps drawn from a seeded distribution: repeats differ by a few percent."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = random.Random(seed)

    def __call__(self) -> int:
        value = self.now_ns
        self.now_ns += self.rng.choice((500, 1000, 1500, 4000))
        return value


class SlowingClock(FakeClock):
    """Each step 2% longer than the last: every session is slower than the one before,
    so the sessions never settle around their median."""

    def __init__(self) -> None:
        super().__init__()
        self.step_ns = 1000.0

    def __call__(self) -> int:
        value = self.now_ns
        self.now_ns += int(self.step_ns)
        self.step_ns *= 1.02
        return value


def _fake(clock):
    def make(case, settings):
        workload = Workload(settings.messages_for(case), 5.0, 5.0)
        return FakeSession(case, workload, clock=clock)

    return make


def test_steady_case_stops_at_the_minimum_sessions_and_is_not_noisy(meta):
    case = Case("fake", "ideal", "stream", 64, 1, "fork")
    settings = Settings(sessions=3, max_sessions=30, repeats=2, target_ci=0.02, budget_s=60,
                        max_messages=20)
    row = run_case(case, settings, meta, make_session=_fake(FakeClock(1000)))
    assert row.status == "ok" and row.sessions == 3 and row.repeats == 6 and not row.noisy
    assert row.ci_low_ns == row.ci_high_ns == 1000.0 and row.noise == ""


def test_sessions_that_never_settle_run_to_the_budget_and_are_flagged_noisy(meta):
    case = Case("fake", "ideal", "stream", 64, 1, "fork")
    settings = Settings(sessions=3, max_sessions=7, repeats=2, target_ci=0.001, budget_s=60,
                        max_messages=3)
    row = run_case(case, settings, meta, make_session=_fake(SlowingClock()))
    assert row.status == "ok" and row.sessions == 7 and row.repeats == 14 and row.noisy
    assert row.floor_ns <= row.ci_low_ns < row.median_ns < row.ci_high_ns
    assert row.middle_spread > settings.target_ci
    assert row.noise in ("between-sessions", "within-session")


def test_time_budget_ends_a_case_with_an_injected_clock(meta):
    case = Case("fake", "ideal", "stream", 64, 1, "fork")
    settings = Settings(sessions=2, max_sessions=100, repeats=2, target_ci=0.001, budget_s=5,
                        max_messages=3)
    ticks = iter(range(0, 1000))  # one second per call: every session lasts one second
    row = run_case(case, settings, meta, make_session=_fake(JitterClock(4)),
                   clock=lambda: next(ticks))
    assert row.noisy and row.sessions == 5


# -- efficiency and baselines --------------------------------------------------------------
def test_efficiency_per_pattern(meta):
    base = Baselines({("memcpy", "stream", "bytes_per_s"): 10e9,
                      ("os-pipe", "pingpong", "p50_ns"): 10_000,
                      ("os-pipe", "pingpong", "msgs_per_s"): 100_000,
                      ("lock", "counter", "msgs_per_s"): 2e6},
                     {("memcpy", "stream", "bytes_per_s", 64): 10e9})

    def ok(pattern, **values):
        case = Case("fake", "ideal", pattern, 64, 1, "fork")
        return base_row(case, meta, "ok", verified=True, messages=1, median_ns=1.0, **values)

    assert efficiency(ok("stream", bytes_per_s=2.5e9), base) == pytest.approx(0.25)
    assert efficiency(ok("fanout", bytes_per_s=5e9), base) == pytest.approx(0.5)
    assert efficiency(ok("pingpong", p50_ns=40_000.0), base) == pytest.approx(0.25)
    assert efficiency(ok("counter", msgs_per_s=1e6), base) == pytest.approx(0.5)
    assert efficiency(ok("reqrep", msgs_per_s=50_000.0), base) == pytest.approx(0.5)
    failed = base_row(Case("fake", "ideal", "stream", 64, 1, "fork"), meta, "failed", "x")
    assert math.isnan(efficiency(failed, base))


@pytest.mark.integration
def test_baselines_are_rows_and_annotate_cases(meta):
    rows = []
    cache = BaselineCache(meta, rows.append)
    base = cache.get("same-core", "fork")
    assert {(r.variant, r.pattern) for r in rows} == {
        ("memcpy", "stream"), ("os-pipe", "pingpong"), ("os-pipe", "stream"), ("lock", "counter")
    }
    assert all(r.status == "ok" and r.efficiency == 1.0 and r.verified for r in rows)
    # Four figures from three rows: the os.pipe round trip anchors ping-pong by its p50
    # and request-reply by its round trips per second.
    assert all(figure > 0 for figure in base.figures.values()) and len(base.figures) == 4
    assert cache.get("same-core", "fork") is base and len(rows) == 4  # measured once

    again = BaselineCache(meta, rows.append)
    again.preload(rows)  # --resume reuses them instead of measuring again
    assert again.get("same-core", "fork") == base and len(rows) == 4

    # Stream efficiency is against memcpy at the case's own size, measured on first need
    # (one more baseline row, just before the case's), then reused.
    case = Case("fake", "ideal", "stream", 64, 1, "fork", "same-core")
    row = cache.annotate(run_case(case, Settings(repeats=2), meta))
    [copy_64] = [r for r in rows[4:] if (r.variant, r.size_bytes) == ("memcpy", 64)]
    assert row.efficiency == pytest.approx(row.bytes_per_s / copy_64.bytes_per_s)
    assert cache.annotate(row).efficiency == row.efficiency and len(rows) == 5
    again = BaselineCache(meta, rows.append)
    again.preload(rows)
    assert (again.get("same-core", "fork").sized[("memcpy", "stream", "bytes_per_s", 64)]
            == copy_64.bytes_per_s)


def test_one_baseline_row_anchors_each_pattern_by_its_own_column(meta):
    # The os.pipe round trip is ping-pong's floor by its p50 and request-reply's by its
    # round trips per second: one figure per (row, column), or the pattern read last
    # decides both (a 64 B ping-pong once read 2253% of the raw round trip).
    def baseline(variant, pattern, size, **values):
        case = Case(BASELINE_MECHANISM, variant, pattern, size, 1, "fork", "same-core")
        return base_row(case, meta, "ok", verified=True, messages=1, median_ns=1.0, **values)

    rows = [baseline("memcpy", "stream", 64 << 20, bytes_per_s=10e9),
            baseline("memcpy", "stream", 64, bytes_per_s=40e9),
            baseline("os-pipe", "pingpong", 64, p50_ns=8_000.0, msgs_per_s=125_000.0),
            baseline("lock", "counter", 8, msgs_per_s=2e6)]
    base = Baselines.from_rows(rows)
    assert base.for_case(patterns.PINGPONG, 64) == 8_000.0
    assert base.for_case(patterns.REQREP, 64) == 125_000.0
    assert base.for_case(patterns.STREAM, 64) == 40e9
    assert base.figures[("memcpy", "stream", "bytes_per_s")] == 10e9  # the 64 MiB row
    case = Case("fake", "ideal", "pingpong", 64, 1, "fork", "same-core")
    row = base_row(case, meta, "ok", verified=True, messages=1, median_ns=1.0, p50_ns=16_000.0)
    assert efficiency(row, base) == pytest.approx(0.5)
    with pytest.raises(KeyError):
        Baselines.from_rows(rows[:2])  # no round trip: a pattern's anchor is missing


def test_efficiency_needs_the_copy_at_the_case_size(meta):
    base = Baselines({("memcpy", "stream", "bytes_per_s"): 10e9,
                      ("os-pipe", "pingpong", "p50_ns"): 10_000,
                      ("lock", "counter", "msgs_per_s"): 2e6},
                     {("memcpy", "stream", "bytes_per_s", 4096): 40e9})
    row = base_row(Case("fake", "ideal", "stream", 4096, 1, "fork"), meta, "ok", verified=True,
                   messages=1, median_ns=1.0, bytes_per_s=20e9)
    # Against the 64 MiB copy this row would read 2.0: a cache-resident copy is faster.
    assert efficiency(row, base) == pytest.approx(0.5)
    with pytest.raises(KeyError):
        efficiency(replace(row, size_bytes=64), base)


# -- placement, CPU cost, order -------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.skipif(len(allowed_cpus()) < 2, reason="needs two CPUs")
@pytest.mark.parametrize("pattern", ["pingpong", "stream"])
def test_placement_is_applied_in_the_peers(pattern):
    cpus = allowed_cpus()
    for placement in ("same-core", "cross-core", "unpinned"):
        case = Case("pipe", "bytes", pattern, 64, 2, "fork", placement)
        with CaseSession(case, derive_workload(case, 10, None)) as session:
            seen = session.peer_cpus
        assert len(seen) == case.peer_count
        if placement == "same-core":
            assert set(seen) == {(cpus[0],)}
        elif placement == "cross-core":
            assert all(len(s) == 1 for s in seen)
            assert seen[0] != seen[1]  # a pair / producer and its neighbour apart
            assert {s[0] for s in seen} == set(cpus[: len(seen)])
        else:
            assert set(seen) == {tuple(cpus)}


def test_unavailable_placement_is_skipped_with_a_reason():
    planned = expand(["pipe"], ["pingpong"], [64], [1], ["fork"], placements=["cross-core"],
                     cpus=[0])
    assert all("cross-core needs at least 2" in p.skip_reason for p in planned)


@pytest.mark.integration
def test_cpu_cost_accounts_for_known_work(meta):
    case = Case("pipe", "bytes", "stream", 64, 1, "fork", "same-core")
    settings = Settings(sessions=1, repeats=2, warmup=0, max_messages=10,
                        fault=Fault("burn", "producer"))
    row = run_case(case, settings, meta)
    assert row.status == "ok", row.reason
    cpu_per_repeat_s = row.cpu_s_per_msg * row.messages / row.repeats
    # The producer burned BURN_CPU_S per repeat; ten 64 B messages cost far less than 0.1 s.
    assert BURN_CPU_S * 0.9 <= cpu_per_repeat_s <= BURN_CPU_S + 0.1
    assert row.ctx_switches_per_msg >= 0


def test_shuffled_order_is_seeded_and_recorded(meta):
    planned = expand(["fake"], ["pingpong", "stream"], [64, 128, 256], [1, 2], ["fork"])
    orders = []
    for _ in range(2):
        rows = []
        seeded = replace(meta, order_seed=7)
        run_planned(planned, Settings(repeats=1, warmup=0, max_messages=2), seeded, rows.append)
        orders.append([(r.pattern, r.size_bytes, r.procs) for r in rows])
        assert {r.order_seed for r in rows} == {7}
    assert orders[0] == orders[1]
    assert orders[0] != [(p.case.pattern, p.case.size_bytes, p.case.procs) for p in planned]
    assert sorted(orders[0]) == sorted((p.case.pattern, p.case.size_bytes, p.case.procs)
                                       for p in planned)


def test_default_meta_is_not_shuffled():
    assert RunMeta("m").order_seed == -1


@pytest.mark.integration
def test_selfcheck_compares_the_harness_with_hand_written_loops():
    from ipcbench.harness.selfcheck import run_selfcheck

    comparisons = run_selfcheck(rounds=1, placement="same-core")
    assert [c.unit for c in comparisons] == ["ns", "B/s"]
    for item in comparisons:
        assert item.harness > 0 and item.hand > 0 and math.isfinite(item.ratio)


@pytest.mark.integration
def test_a_baseline_child_that_dies_ends_the_baseline_instead_of_hanging(monkeypatch):
    """The harness holds no copy of the child's pipe ends: a dead echo child gives EOF
    (or a dead sink EPIPE) at once, never a read or write that waits forever."""
    import os as os_module

    from ipcbench.harness import baselines

    def dies(*args):
        os_module._exit(9)

    for target, measure in (("_echo", lambda: baselines.pipe_rtt_samples_ns("same-core")),
                            ("_sink", lambda: baselines.pipe_stream_samples_ns("same-core"))):
        monkeypatch.setattr(baselines, target, dies)
        with pytest.raises((RuntimeError, OSError)):
            measure()


@pytest.mark.integration
def test_an_echo_returns_exactly_its_timed_round_trips_after_its_warm_up():
    # The probe's warm-up is shorter than its timed part: the samples are the timed ones.
    from ipcbench.harness import baselines

    assert baselines.pipe_rtt_samples_ns("same-core", 10, repeats=2, warmup=5).size == 20
    assert baselines.pipe_rtt_samples_ns("same-core", 10, repeats=2).size == 20
    assert baselines.pipe_rtt_samples_ns("same-core", 10, repeats=1, warmup=0).size == 10


@pytest.mark.integration
def test_the_probe_is_a_positive_round_trip_and_blocks_keep_it(meta):
    from ipcbench.harness.baselines import probe_ns
    from ipcbench.harness.plan import expand
    from ipcbench.harness.runner import run_planned

    assert 0 < probe_ns("same-core") < 1e9
    planned = expand(["fake"], ["pingpong"], [64], [1], ["fork"])
    sessions, rows = [], []
    run_planned(planned, Settings(sessions=3, repeats=1, max_messages=8), meta, rows.append,
                on_session=lambda case, result: sessions.append(result),
                probe=lambda placement: 250.0)
    assert [s.probe_ns for s in sessions] == [250.0] * 3
    assert rows[0].probe_ratio == pytest.approx(rows[0].median_ns / 250.0)
    # A probe that fails leaves the block without one; the run goes on.
    rows = []

    def broken(placement):
        raise OSError("fork failed")

    run_planned(planned, Settings(sessions=3, repeats=1, max_messages=8), meta, rows.append,
                probe=broken)
    assert rows[0].status == "ok" and math.isnan(rows[0].probe_ratio)


@pytest.mark.integration
@pytest.mark.parametrize("target", ["_echo", "_sink"])
def test_a_stopped_baseline_child_becomes_a_failed_baseline_row(monkeypatch, meta, target):
    """A SIGSTOPped echo or sink child: the baseline's deadline kills it, the baseline
    is a failed row naming why, and nothing is left running."""
    import multiprocessing
    import os as os_module
    import signal

    from ipcbench.harness import baselines
    from ipcbench.system import affinity

    def stops(*args):
        os_module.kill(os_module.getpid(), signal.SIGSTOP)

    real = affinity.with_child
    monkeypatch.setattr(baselines, "with_child",
                        lambda *a, **k: real(*a, **{**k, "deadline_s": 1.0}))
    monkeypatch.setattr(baselines, target, stops)
    rows, before = [], set(multiprocessing.active_children())
    assert baselines.BaselineCache(meta, rows.append).get("same-core", "fork") is None
    assert [r.status for r in rows] == ["failed"]
    assert "no progress within 1 s" in rows[0].reason, rows[0].reason
    assert set(multiprocessing.active_children()) <= before


@pytest.mark.integration
def test_an_interrupted_baseline_kills_its_child_at_once():
    """A signal while a baseline runs (the first seconds of every run, and the probe
    before every block): the child that waits for data is killed, not joined for 10 s."""
    import multiprocessing
    import os as os_module
    import time

    from ipcbench.cli.signals import Interrupted
    from ipcbench.system.affinity import with_child

    rfd, wfd = os_module.pipe()
    before = set(multiprocessing.active_children())

    def interrupted():
        raise Interrupted(2)

    started = time.monotonic()
    try:
        with pytest.raises(Interrupted):
            with_child(multiprocessing.get_context("fork"), os_module.read, (rfd, 1), (),
                       interrupted)
    finally:
        os_module.close(rfd)
        os_module.close(wfd)
    assert time.monotonic() - started < 5.0  # the child's join bound is 10 s
    assert set(multiprocessing.active_children()) <= before


def test_the_start_deadline_grows_with_the_message_and_follows_a_given_deadline():
    """Peers build their message before they report ready: a 1 GiB case got a fixed
    12 s to start, which --deadline did not change."""
    small = Case("pipe", "bytes", "pingpong", 64, 1, "fork")
    huge = replace(small, size_bytes=1 << 30)
    assert derive_workload(small, 10, None).start_deadline_s == pytest.approx(12.0, abs=0.01)
    assert derive_workload(huge, 10, None).start_deadline_s > 60.0  # 2 peers x 1 GiB
    given = derive_workload(small, 10, 90.0)
    assert (given.repeat_deadline_s, given.start_deadline_s) == (90.0, 90.0)
    # A short --deadline bounds the repeats; the start keeps what the peers need.
    assert derive_workload(huge, 10, 1.0).start_deadline_s > 60.0

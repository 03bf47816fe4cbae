"""The runner's bookkeeping, with the in-process fake and an injected clock: every
sample is exactly one clock step, so counts, statistics and rates are known exactly."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from fake_mechanism import FakeClock, FakeSession

from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case, run_planned
from ipcbench.mechanisms.base import Workload

STEP_NS = 1000
SETTINGS = Settings(repeats=3, warmup=2, target_bytes=64 << 10, min_messages=4,
                    max_messages=50, increments=40)


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch):
    """The fake sessions' exact orders and counts must not depend on the machine's load:
    /proc/stat reads the same before and after every session, so no session is ever seen
    as disturbed and measured again (a noisy neighbour made one here). The tests of
    re-measuring patch heavy_interference themselves."""
    from ipcbench.harness import runner
    from ipcbench.system.disturbance import read_cpu_times

    frozen = read_cpu_times()
    monkeypatch.setattr(runner, "read_cpu_times", lambda: frozen)


def fake_factory(corrupt: bool = False, step_ns: int = STEP_NS):
    """A make_session for run_case: a FakeSession with a fresh FakeClock per case."""
    sessions = []

    def make(case: Case, settings: Settings) -> FakeSession:
        workload = Workload(settings.messages_for(case), repeat_deadline_s=5.0,
                            start_deadline_s=5.0)
        session = FakeSession(case, workload, clock=FakeClock(step_ns), corrupt=corrupt)
        sessions.append(session)
        return session

    make.sessions = sessions
    return make


@pytest.mark.parametrize(
    ("pattern", "size_bytes", "procs"),
    [("pingpong", 64, 1), ("pingpong", 4096, 1), ("stream", 64, 1), ("stream", 4096, 3),
     ("counter", 8, 1), ("counter", 8, 2)],
)
def test_fake_case_has_exact_counts_stats_and_rates(meta, pattern, size_bytes, procs):
    case = Case("fake", "ideal", pattern, size_bytes, procs, "fork")
    make = fake_factory()
    row = run_case(case, SETTINGS, meta, make_session=make)

    assert row.status == "ok", row.reason
    assert row.verified is True
    per_repeat = SETTINGS.messages_for(case) * (1 if pattern == "pingpong" else procs)
    assert row.messages == per_repeat * SETTINGS.repeats * SETTINGS.sessions
    assert row.repeats == SETTINGS.repeats * SETTINGS.sessions
    assert row.sessions == SETTINGS.sessions
    assert row.warmup == SETTINGS.warmup
    assert row.duration_ns == row.messages * STEP_NS
    for name in ("median_ns", "mean_ns", "min_ns", "max_ns", "p50_ns", "p90_ns", "p99_ns",
                 "p999_ns"):
        assert getattr(row, name) == STEP_NS, name
    assert row.stdev_ns == 0.0
    assert row.cv == 0.0
    assert row.msgs_per_s == 1e9 / STEP_NS
    if pattern == "pingpong":
        assert row.bytes_per_s == 2 * size_bytes * 1e9 / STEP_NS  # there and back
    elif pattern == "stream":
        assert row.bytes_per_s == size_bytes * 1e9 / STEP_NS
    else:
        assert math.isnan(row.bytes_per_s)
    # Identity comes from the case and the run.
    assert (row.mechanism, row.pattern, row.size_bytes, row.procs) == (
        "fake", pattern, size_bytes, procs)
    assert (row.run_id, row.machine_id) == (meta.run_id, meta.machine_id)
    assert len(make.sessions) == SETTINGS.sessions  # fresh peers for every session
    assert all(session.started and session.closed for session in make.sessions)


def test_messages_for_scales_with_size_within_bounds():
    settings = Settings(target_bytes=1 << 20, min_messages=4, max_messages=100, increments=77)
    assert settings.messages_for(Case("pipe", "bytes", "pingpong", 64, 1, "fork")) == 100
    assert settings.messages_for(Case("pipe", "bytes", "pingpong", 16 << 10, 1, "fork")) == 32
    assert settings.messages_for(Case("pipe", "bytes", "stream", 16 << 10, 2, "fork")) == 32
    assert settings.messages_for(Case("pipe", "bytes", "stream", 1 << 20, 1, "fork")) == 4
    assert settings.messages_for(Case("value", "locked", "counter", 8, 4, "fork")) == 77


def test_corrupt_fake_gives_failed_row_naming_the_mismatch(meta):
    case = Case("fake", "ideal", "stream", 256, 1, "fork")
    row = run_case(case, SETTINGS, meta, make_session=fake_factory(corrupt=True))
    assert row.status == "failed"
    assert "PayloadMismatch" in row.reason
    assert "checksum" in row.reason
    assert row.verified is False
    assert math.isnan(row.median_ns)


def test_run_planned_emits_skipped_rows_first_then_every_case_once(meta):
    planned = expand(["pipe"], ["pingpong", "counter", "stream"], [64], [1, 2], ["fork"])
    rows = []
    run_planned(planned, SETTINGS, meta, rows.append, make_session=fake_factory())

    key = lambda r: (r.variant, r.pattern, r.procs)  # noqa: E731
    skipped = [p for p in planned if p.skip_reason]
    runnable = [p for p in planned if not p.skip_reason]
    assert [key(r) for r in rows] == [key(p.case) for p in skipped + runnable]
    by_status = [(r.pattern, r.status) for r in rows]
    assert by_status.count(("counter", "skipped")) == 2
    assert all(status == "ok" for pattern, status in by_status if pattern != "counter")
    for row in rows:
        if row.status == "skipped":
            assert "does not support the counter pattern" in row.reason
            assert row.messages == 0


def test_run_planned_interleaves_sessions_in_rounds(meta):
    planned = expand(["fake"], ["pingpong", "stream"], [64], [1], ["fork"])
    events = []
    run_planned(planned, SETTINGS, meta, lambda row: events.append(("row", row.pattern)),
                make_session=fake_factory(),
                before_session=lambda case, index: events.append((case.pattern, index)))
    # One session of every case per round; a row as soon as its case's last session ends.
    assert events == [("pingpong", 0), ("stream", 0), ("pingpong", 1), ("stream", 1),
                      ("pingpong", 2), ("row", "pingpong"), ("stream", 2), ("row", "stream")]


def test_a_mechanism_that_keeps_a_runtime_runs_after_every_other_case(meta, monkeypatch):
    """Ray's driver stays in the harness once started (~400 MB whose page tables every
    later fork copies): its cases come last, interleaved among themselves."""
    from ipcbench.harness import runner
    from ipcbench.mechanisms import runs_last

    assert runs_last("ray") and not runs_last("pipe") and not runs_last("fake")
    planned = expand(["fake"], ["pingpong", "stream"], [64], [1], ["fork"])
    flags = iter([False, True])  # asked once per case, in plan order: stream stands for Ray
    monkeypatch.setattr(runner, "runs_last", lambda name: next(flags))
    events = []
    run_planned(planned, SETTINGS, meta, lambda row: events.append(("row", row.pattern)),
                make_session=fake_factory(),
                before_session=lambda case, index: events.append((case.pattern, index)))
    assert events == [("pingpong", 0), ("pingpong", 1), ("pingpong", 2), ("row", "pingpong"),
                      ("stream", 0), ("stream", 1), ("stream", 2), ("row", "stream")]


def test_default_session_for_fake_runs_without_processes(meta):
    # session_for picks FakeSession for the hidden mechanism (real clock: check structure).
    case = Case("fake", "ideal", "stream", 64, 2, "fork")
    row = run_case(case, SETTINGS, meta)
    assert row.status == "ok"
    assert row.messages == (SETTINGS.messages_for(case) * case.procs * SETTINGS.repeats
                            * SETTINGS.sessions)


def test_a_custom_driver_times_the_first_session_and_every_session_counts(meta):
    calls = []

    def drive(repeat, count):
        calls.append(count)
        repeat()  # e.g. pytest --benchmark-disable runs once

    case = Case("fake", "ideal", "pingpong", 64, 1, "fork")
    row = run_case(case, SETTINGS, meta, make_session=fake_factory(), drive=drive)
    assert calls == [SETTINGS.repeats]  # pedantic can run once per test: the first session
    # The driver ran one repeat of the first session; the others ran all of theirs.
    assert row.sessions == SETTINGS.sessions
    assert row.repeats == 1 + SETTINGS.repeats * (SETTINGS.sessions - 1)
    assert row.messages == SETTINGS.messages_for(case) * row.repeats


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"repeats": 0}, "invalid repeats 0"), ({"warmup": -1}, "invalid warmup -1"),
     ({"deadline_s": 0}, "invalid deadline 0")],
)
def test_settings_validation(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        Settings(**kwargs)


# -- paired blocks ---------------------------------------------------------------------
def _two_channels(procs=1):
    """One workload, two channels: 'ideal' at 1 us a message, 'slow' at 2 us."""
    from ipcbench.harness.plan import PlannedCase

    cases = [Case("fake", v, "pingpong", 64, procs, "fork") for v in ("ideal", "slow")]
    return [PlannedCase(c, "") for c in cases]


def _by_variant():
    def make(case: Case, settings: Settings) -> FakeSession:
        workload = Workload(settings.messages_for(case), 5.0, 5.0)
        step = 2 * STEP_NS if case.variant == "slow" else STEP_NS
        return FakeSession(case, workload, clock=FakeClock(step))
    return make


def test_a_workloads_channels_are_measured_in_blocks_with_paired_ratios(meta):
    planned = _two_channels() + [p for p in expand(["fake"], ["stream"], [64], [1], ["fork"])]
    started, rows = [], []
    run_planned(planned, SETTINGS, meta, rows.append, make_session=_by_variant(),
                before_session=lambda case, index: started.append((case.variant,
                                                                    case.pattern, index)))
    # Every round: one session of each channel of the pingpong workload, back to back.
    pingpong = [s for s in started if s[1] == "pingpong"]
    for block in range(SETTINGS.sessions):
        assert sorted(pingpong[2 * block: 2 * block + 2]) == [("ideal", "pingpong", block),
                                                              ("slow", "pingpong", block)]
    ratios = {r.variant: r for r in rows if r.pattern == "pingpong"}
    assert ratios["ideal"].ratio == pytest.approx(1 / math.sqrt(2))
    assert ratios["slow"].ratio == pytest.approx(math.sqrt(2))
    assert ratios["ideal"].ratio_ci_high < ratios["slow"].ratio_ci_low
    assert all(r.target_met and not r.noisy for r in ratios.values())
    alone = next(r for r in rows if r.pattern == "stream")
    assert math.isnan(alone.ratio)  # no rival: no paired ratio


def test_probes_bracket_every_session_and_each_one_is_shared_by_two(meta):
    """A block of two channels takes three probes: before the first session, between
    the two, after the second; each session keeps the geometric mean of its two."""
    values = iter(float(v) for v in range(100, 100 + 100 * 64, 100))
    taken, sessions = [], []

    def probe(placement):
        taken.append(next(values))
        return taken[-1]

    run_planned(_two_channels(), replace(SETTINGS, max_sessions=SETTINGS.sessions), meta,
                lambda row: None, make_session=_by_variant(), probe=probe,
                on_session=lambda case, result: sessions.append(result))
    assert len(sessions) == 2 * SETTINGS.sessions
    assert len(taken) == 3 * SETTINGS.sessions
    for block in range(SETTINGS.sessions):
        p0, p1, p2 = taken[3 * block: 3 * block + 3]
        first, second = sessions[2 * block: 2 * block + 2]
        assert first.probe_ns == pytest.approx(math.sqrt(p0 * p1))
        assert second.probe_ns == pytest.approx(math.sqrt(p1 * p2))


def _two_state_host(pingpong_cases: int = 1):
    """A host that runs every other session twice as slow, and a probe that sees it: the
    probes either side of session k read 100 ns in the fast state, 200 in the slow (a
    workload of one channel takes two probes a session)."""
    made, probed = [], []

    def make(case: Case, settings: Settings) -> FakeSession:
        made.append(case)
        step = STEP_NS * (1 + (len(made) - 1) % 2)
        return FakeSession(case, Workload(settings.messages_for(case), 5.0, 5.0),
                           clock=FakeClock(step))

    def probe(placement):
        probed.append(placement)
        return 100.0 * (1 + ((len(probed) - 1) // 2) % 2)

    return make, probe


def test_rows_give_their_times_at_the_host_s_reference_state(meta):
    """Sessions at 1 and 2 us in step with their probes (100 and 200 ns): scaled by the
    fast end of the run's probes (100 ns) over each one's own, every session reads 1 us,
    so the row does too, with no spread; its rate is that state's, the counts as
    measured."""
    from ipcbench.harness.plan import PlannedCase

    case = Case("fake", "ideal", "pingpong", 64, 1, "fork")
    make, probe = _two_state_host()
    settings = replace(SETTINGS, sessions=4, max_sessions=4)
    rows, sessions = [], []
    run_planned([PlannedCase(case, "")], settings, meta, rows.append, make_session=make,
                probe=probe, on_session=lambda c, result: sessions.append(result))
    (row,) = rows
    assert [s.probe_ns for s in sessions] == [100.0, 200.0, 100.0, 200.0]
    assert [s.p50_ns for s in sessions] == [STEP_NS, 2 * STEP_NS] * 2  # logged as measured
    assert row.probe_ref_ns == 100.0
    assert row.median_ns == row.p50_ns == row.min_ns == row.max_ns == STEP_NS
    assert row.middle_spread == 0.0 and not row.noisy
    assert row.msgs_per_s == pytest.approx(1e9 / STEP_NS)
    assert row.probe_ratio == pytest.approx(STEP_NS / 100.0)
    assert row.duration_ns == row.messages / 4 * (1 + 2 + 1 + 2) * STEP_NS  # as measured


def test_without_a_probe_rows_keep_their_times_as_measured(meta):
    from ipcbench.harness.plan import PlannedCase

    case = Case("fake", "ideal", "pingpong", 64, 1, "fork")
    make, _ = _two_state_host()
    rows = []
    run_planned([PlannedCase(case, "")], replace(SETTINGS, sessions=4, max_sessions=4),
                meta, rows.append, make_session=make)
    (row,) = rows
    assert row.probe_ref_ns == 0.0
    assert (row.min_ns, row.max_ns) == (STEP_NS, 2 * STEP_NS)
    assert row.middle_spread > 0


@pytest.mark.parametrize(("before", "after", "kept"),
                         [(100.0, 400.0, 200.0), (0.0, 400.0, 400.0), (100.0, 0.0, 100.0),
                          (0.0, 0.0, 0.0)])
def test_a_session_keeps_the_probe_that_worked_when_the_other_failed(before, after, kept):
    from ipcbench.core.session_stats import bracket_ns

    assert bracket_ns(before, after) == pytest.approx(kept)


def test_past_the_run_budget_workloads_stop_at_the_floor(meta):
    """A clock already past the budget: the budget bounds the minimum too, so every case
    gets the floor (3 sessions, or `sessions` when fewer were asked), although noisy
    ones would want more; without a budget, up to max_sessions."""
    ticks = iter(range(0, 10**6, 100))
    settings = SETTINGS.with_changes(sessions=2, max_sessions=9, run_budget_s=1.0,
                                     target_ci=0.01)

    def noisy(case: Case, s: Settings) -> FakeSession:
        noisy.count = getattr(noisy, "count", 0) + 1
        step = STEP_NS * (1 + noisy.count % 3)  # sessions 1x, 2x, 3x apart
        return FakeSession(case, Workload(s.messages_for(case), 5.0, 5.0),
                           clock=FakeClock(step))

    rows = []
    run_planned(_two_channels(), settings, meta, rows.append, make_session=noisy,
                clock=lambda: float(next(ticks)))
    assert [r.sessions for r in rows] == [2, 2] and all(r.noisy for r in rows)
    rows = []
    ticks = iter(range(0, 10**6, 100))
    run_planned(_two_channels(), settings.with_changes(sessions=6), meta, rows.append,
                make_session=noisy, clock=lambda: float(next(ticks)))
    assert [r.sessions for r in rows] == [3, 3]  # cut below its 6, to the floor
    rows = []
    run_planned(_two_channels(), settings.with_changes(run_budget_s=0.0), meta,
                rows.append, make_session=noisy)
    assert [r.sessions for r in rows] == [9, 9]  # no budget: up to max_sessions


def test_a_budget_ending_mid_matrix_leaves_every_case_within_one_block(meta):
    """Rounds give each workload one block in turn: a budget that ends while the minimum
    is still being measured leaves cases with k or k+1 sessions, none unmeasured, none
    below the floor."""
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # every question to the clock: a second later
        return now[0]

    from ipcbench.harness.plan import PlannedCase

    planned = [PlannedCase(Case("fake", "ideal", "stream", size, 1, "fork"), "")
               for size in (64, 128, 256, 512, 1024, 2048)]
    settings = SETTINGS.with_changes(sessions=8, max_sessions=8, run_budget_s=30.0)
    rows = []
    run_planned(planned, settings, meta, rows.append, make_session=_by_variant(),
                clock=clock)
    counts = sorted(r.sessions for r in rows)
    assert len(rows) == 6 and counts[-1] - counts[0] <= 1
    assert 3 <= counts[0] < 8


def test_no_block_starts_once_the_budget_is_spent(meta):
    """The clock moves one second a session started; the budget ends at 20 s, after
    every case has its floor. No session may start past it (one block a workload of one
    channel = one session), although each noisy case would want up to 8."""
    from ipcbench.harness.plan import PlannedCase

    now, late = [0.0], []

    def started(case: Case, index: int) -> None:
        now[0] += 1.0
        if now[0] > 20.0:
            late.append((case.size_bytes, index))

    def noisy(case: Case, s: Settings) -> FakeSession:
        noisy.count = getattr(noisy, "count", 0) + 1
        step = STEP_NS * (1 + noisy.count % 4)  # 6 cases a round: each varies
        return FakeSession(case, Workload(s.messages_for(case), 5.0, 5.0),
                           clock=FakeClock(step))

    planned = [PlannedCase(Case("fake", "ideal", "stream", size, 1, "fork"), "")
               for size in (64, 128, 256, 512, 1024, 2048)]
    settings = SETTINGS.with_changes(sessions=3, max_sessions=8, run_budget_s=20.0,
                                     target_ci=0.01, budget_s=1e9)
    rows = []
    run_planned(planned, settings, meta, rows.append, make_session=noisy,
                before_session=started, clock=lambda: now[0])
    assert late == [] and len(rows) == 6
    assert sum(r.sessions for r in rows) == 20 and min(r.sessions for r in rows) >= 3


def test_a_session_under_heavy_interference_is_measured_again_once(meta, monkeypatch):
    from ipcbench.harness import runner

    calls = []
    monkeypatch.setattr(runner, "heavy_interference",
                        lambda history, result: calls.append(result.index) or True)
    settings = SETTINGS.with_changes(sessions=3, max_sessions=4)
    rows, started = [], []
    run_planned(_two_channels()[:1], settings, meta, rows.append, make_session=_by_variant(),
                before_session=lambda case, index: started.append(index))
    # Each session measured twice (the retry is kept whatever it saw), within the bound
    # of half of max_sessions: 2 retries, then sessions are kept as they are.
    assert started == [0, 0, 1, 1, 2] and rows[0].remeasured == 2 and rows[0].sessions == 3


def test_heavy_interference_reads_machine_load_and_run_delay():
    from ipcbench.core.session_stats import summarize_session
    from ipcbench.harness.runner import heavy_interference
    from ipcbench.system.disturbance import Disturbance

    def session(foreign_s=0.0, run_delay_ns=0.0):
        import numpy as np
        return summarize_session(0, [np.array([100.0])], 100, 1e6, 0.0, 0, 0.05,
                                 Disturbance(0.1, foreign_s, 0.0), run_delay_ns=run_delay_ns)

    quiet = [session(run_delay_ns=1e5), session(run_delay_ns=1e5)]  # 10% of the span
    assert not heavy_interference(quiet, session(foreign_s=0.02, run_delay_ns=1e5))
    assert heavy_interference(quiet, session(foreign_s=0.03))  # 30% of the machine
    assert heavy_interference(quiet, session(run_delay_ns=3e5))  # 30% > 1.5 x 10% + 5%
    assert not heavy_interference(quiet[:1], session(run_delay_ns=9e5))  # no history yet


def test_a_disturbed_session_is_measured_again_after_the_rest_of_its_block(meta, monkeypatch):
    """The retry waits for the block's other channels (a burst of other work outlasts
    one session), keeps its block index, and the block stays aligned."""
    from ipcbench.harness import runner

    monkeypatch.setattr(runner, "heavy_interference",
                        lambda history, result: not history and result.p50_ns < 1500)
    settings = SETTINGS.with_changes(sessions=2, max_sessions=2, seed=0)
    rows, started = [], []
    run_planned(_two_channels(), settings, meta, rows.append, make_session=_by_variant(),
                before_session=lambda case, index: started.append((case.variant, index)))
    # Block 0: ideal (disturbed), slow, then ideal again; block 1 as planned.
    assert started == [("ideal", 0), ("slow", 0), ("ideal", 0), ("ideal", 1), ("slow", 1)]
    by_variant = {r.variant: r for r in rows}
    assert by_variant["ideal"].remeasured == 1 and by_variant["slow"].remeasured == 0
    assert [r.sessions for r in rows] == [2, 2]


def test_heavy_interference_reads_a_drop_in_the_peers_cpu_share():
    """Peers that got far less CPU per timed second than in the case's earlier sessions
    lost their CPU to other work."""
    import numpy as np

    from ipcbench.core.session_stats import summarize_session
    from ipcbench.harness.runner import heavy_interference

    def session(cpu_s):
        return summarize_session(0, [np.array([100.0])], 100, 1e7, cpu_s, 0, 0.05)

    history = [session(0.0055), session(0.010)]  # one CPU busy throughout 10 ms, once
    assert history[1].cpu_per_wall == pytest.approx(1.0)
    assert not heavy_interference(history, session(0.0085))  # within 20% of the best
    assert heavy_interference(history, session(0.0055))  # a neighbour took half the CPU
    assert heavy_interference(history[1:], session(0.0055))  # one session is enough
    assert not heavy_interference([], session(0.001))  # no history yet


def test_of_two_disturbed_attempts_the_one_given_more_cpu_is_kept(meta, monkeypatch):
    from ipcbench.harness import runner
    from ipcbench.harness.interference import less_disturbed

    first, again = (replace_cpu(s) for s in (0.004, 0.007))
    assert less_disturbed(first, again) is again and less_disturbed(again, first) is again
    tie = replace_cpu(0.004)
    assert less_disturbed(first, tie) is tie  # a tie keeps the retry
    # In a run: every session looks disturbed, so each is measured twice and the
    # attempt whose peers got more CPU is kept (the fake's second attempt here).
    attempts = iter([0.004, 0.007] * 10)

    def make(case, settings):
        session = _by_variant()(case, settings)
        session.cpu_s_per_repeat = next(attempts)
        return session

    monkeypatch.setattr(runner, "heavy_interference", lambda history, result: True)
    rows, logged = [], []
    run_planned(_two_channels()[:1], SETTINGS.with_changes(sessions=2, max_sessions=2), meta,
                rows.append, make_session=make,
                on_session=lambda case, result: logged.append(result.cpu_s))
    assert rows[0].remeasured == 1 and rows[0].sessions == 2
    assert logged[0] == pytest.approx(0.007 * SETTINGS.repeats)


def replace_cpu(cpu_s):
    import numpy as np

    from ipcbench.core.session_stats import summarize_session
    return summarize_session(0, [np.array([100.0])], 100, 1e7, cpu_s, 0, 0.05)

"""The run's resolution: twice the typical CI half-widths, and never below the drift."""

import math
from dataclasses import replace

from synthetic_runs import ok_row

from ipcbench.core.resolution import run_resolution


def _row(mechanism, half, ratio_half, met):
    row = ok_row(mechanism, "v", "pingpong", 64, 1, 100.0)
    return replace(row, ci_low_ns=100.0 * (1 - half), ci_high_ns=100.0 * (1 + half),
                   ratio=1.0, ratio_ci_low=1 - ratio_half, ratio_ci_high=1 + ratio_half,
                   target_met=met)


def test_resolution_is_twice_the_median_half_widths():
    rows = [_row("a", 0.02, 0.01, True), _row("b", 0.04, 0.03, True),
            _row("c", 0.10, 0.05, False)]
    res = run_resolution(rows)
    assert math.isclose(res.absolute, 0.08) and math.isclose(res.paired, 0.06)
    assert math.isclose(res.target_met, 2 / 3) and res.rows == 3
    assert "channels 6% apart, runs 8%" in res.line()


def test_a_drifting_host_widens_what_runs_can_tell_apart():
    rows = [_row("a", 0.02, 0.01, True)]
    assert math.isclose(run_resolution(rows, drift=0.15).absolute, 0.30)
    assert math.isclose(run_resolution(rows, drift=0.01).absolute, 0.04)
    assert math.isnan(run_resolution([]).absolute) and run_resolution([]).rows == 0


def test_the_printed_resolution_fits_80_columns():
    # The widest figures a run can print: --sessions is at most 1000.
    rows = [replace(_row("a", 0.333, 0.444, False), sessions=998)]
    text = run_resolution(rows * 1000, drift=0.555, minimum_sessions=1000).line()
    assert all(len(line) <= 80 for line in text.splitlines()) and len(text.splitlines()) == 5


def test_most_cases_off_their_target_are_told_what_tightens_them():
    rows = [replace(_row(m, 0.10, 0.05, met), sessions=n)
            for m, met, n in (("a", False, 5), ("b", False, 6), ("c", True, 9))]
    res = run_resolution(rows)
    assert res.sessions == 6  # the median case's
    hint = res.line().splitlines()[2:]
    assert hint == ["  tighter figures need more than 6 sessions a case: fewer cases (-m, -s)",
                    "  or a longer --budget"]
    # Half or more on target, or no rows: nothing to add.
    met = [replace(r, target_met=True) for r in rows[:2]] + rows[2:]
    assert len(run_resolution(met).line().splitlines()) == 2
    assert run_resolution([]).sessions == 0
    assert len(run_resolution([]).line().splitlines()) == 2


def test_cases_the_budget_cut_short_are_counted_and_said():
    rows = [replace(_row(m, 0.02, 0.01, True), sessions=n)
            for m, n in (("a", 5), ("b", 4), ("c", 3), ("d", 7))]
    res = run_resolution(rows, minimum_sessions=5)
    assert (res.short, res.fewest, res.minimum) == (2, 3, 5)
    last = res.line().splitlines()[-1]
    assert "2 cases have 3-4 of 5 sessions" in last and len(last) <= 80
    one_short = run_resolution(rows[:2], minimum_sessions=5).line()
    assert "1 case has 4 of 5 sessions" in one_short
    assert run_resolution(rows, minimum_sessions=3).short == 0
    assert len(run_resolution(rows, minimum_sessions=3).line().splitlines()) == 2
    assert "the budget ran out: 2 cases" in last

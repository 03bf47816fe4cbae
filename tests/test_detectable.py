"""What change a comparison can call (analysis/detectable.py): pure, on the verdict."""

from __future__ import annotations

import math

import pytest
from synthetic_runs import SMALL, write_model_run

from ipcbench.analysis.compare import compare_runs
from ipcbench.analysis.detectable import (
    MAX_FACTOR,
    detectable,
    detectable_factor,
    moved,
)
from ipcbench.analysis.runs import load_run
from ipcbench.analysis.verdict import SAME, SLOWER, Verdict, case_verdict
from ipcbench.render.markdown import comparison_markdown
from ipcbench.render.terminal import compare_lines


def _row(median_ns: float, half_width: float, sessions: int = 5, probe: float = 0.0) -> dict:
    """A session-level row (schema >= 4): its CI `half_width` either side, relative."""
    row = {"status": "ok", "median_ns": median_ns, "mean_ns": median_ns,
           "stdev_ns": median_ns * half_width / 2, "repeats": sessions,
           "sessions": sessions, "cv": half_width / 2,
           "ci_low_ns": median_ns * (1 - half_width), "ci_high_ns": median_ns * (1 + half_width)}
    if probe:
        row.update(probe_ratio=probe, probe_ratio_ci_low=probe * (1 - half_width),
                   probe_ratio_ci_high=probe * (1 + half_width))
    return row


def _ratio_judge(threshold: float):
    """A judge calling B slower from `threshold` times A's median on."""
    def judge(a, b) -> Verdict:
        ratio = b["median_ns"] / a["median_ns"]
        return Verdict(SLOWER if ratio >= threshold else SAME, ratio)
    return judge


def test_moved_puts_b_on_a_s_figure_times_k_and_keeps_its_spread():
    a, b = _row(1000.0, 0.1, probe=2.0), _row(3000.0, 0.2, probe=5.0)
    row = moved(a, b, 1.5)
    assert row["median_ns"] == pytest.approx(1500.0)
    assert (row["ci_low_ns"], row["ci_high_ns"]) == pytest.approx((1200.0, 1800.0))
    assert row["probe_ratio"] == pytest.approx(3.0)
    assert (row["probe_ratio_ci_low"], row["probe_ratio_ci_high"]) == pytest.approx((2.4, 3.6))
    assert b["median_ns"] == 3000.0  # the input is left as it was
    # A side without probes: the probe columns are not invented.
    assert "probe_ratio" not in moved(_row(1000.0, 0.1), _row(900.0, 0.1), 2.0)


def test_the_factor_is_where_the_judge_starts_calling_slower():
    a, b = _row(1000.0, 0.1), _row(800.0, 0.1)
    assert detectable_factor(_ratio_judge(1.3), a, b) == pytest.approx(1.3, rel=1e-3)
    assert detectable_factor(_ratio_judge(MAX_FACTOR * 2), a, b) == math.inf


def test_on_the_real_verdict_wide_sessions_need_their_cis_apart():
    # +/-30% CIs: B moved by k is called only once k * 0.7 clears 1.3 (CIs disjoint).
    wide = detectable_factor(case_verdict, _row(1000.0, 0.3), _row(1000.0, 0.3))
    assert wide >= 1.3 / 0.7
    # +/-1% CIs over 20 sessions: the verdict's 10% minimum effect is what binds.
    tight = detectable_factor(case_verdict, _row(1000.0, 0.01, 20), _row(1000.0, 0.01, 20))
    assert tight == pytest.approx(1.10, abs=0.002)
    assert case_verdict(_row(1000.0, 0.01, 20), moved(_row(1000.0, 0.01, 20),
                                                     _row(1.0, 0.01, 20), tight)).label == SLOWER


def test_the_summary_is_the_median_case_and_the_share_a_20_percent_change_finds():
    pairs = [(_row(1000.0, 0.01, 20), _row(1000.0, 0.01, 20))] + \
        [(_row(1000.0, 0.3), _row(1000.0, 0.3))] * 2
    summary = detectable(case_verdict, pairs)
    assert summary.cases == 3 and summary.shown_found == pytest.approx(1 / 3)
    assert summary.median_change >= 1.3 / 0.7 - 1
    assert "half the cases, one of 20% on 33%" in summary.line("B")
    assert len(summary.line("B")) <= 80
    hopeless = detectable(_ratio_judge(MAX_FACTOR * 2), [(_row(1.0, 0.1), _row(1.0, 0.1))])
    assert hopeless.median_change == math.inf and "no slowdown up to 16x" in hopeless.line()
    nothing = detectable(case_verdict, [])
    assert nothing.cases == 0 and nothing.line() == ""


def test_compare_reports_what_each_pairing_can_call(tmp_path):
    a = load_run(write_model_run(tmp_path / "a", **SMALL))
    b = load_run(write_model_run(tmp_path / "b", scale=1.05, **SMALL))
    comparison = compare_runs([a, b])
    (found,) = comparison.detectables
    ok = [t for t in comparison.tables[0].itertuples()
          if t.both_ok and t.mechanism != "baseline"]
    assert found.cases == len(ok) > 0
    assert 0 < found.median_change < MAX_FACTOR
    line = found.line("B")
    assert line in compare_lines(comparison)
    assert line.strip() in comparison_markdown(comparison)
    # Efficiency is judged on other figures: no slowdown line for it.
    assert compare_runs([a, b], metric="efficiency").detectables == ()

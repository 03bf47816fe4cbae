"""The A/A agreement compare prints: exact shares on synthetic runs."""

from dataclasses import replace

import pandas as pd
from synthetic_runs import ok_row

from ipcbench.analysis.agreement import agreement
from ipcbench.core.schema import CASE_KEYS


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame([r.as_dict() for r in rows])


def _rows(times, ratios, noisy=()):
    rows = []
    for (mechanism, time_ns), (low, high) in zip(times.items(), ratios, strict=True):
        row = ok_row(mechanism, "v", "pingpong", 64, 1, time_ns, noisy=mechanism in noisy)
        rows.append(replace(row, ratio=(low + high) / 2, ratio_ci_low=low, ratio_ci_high=high))
    return rows


def test_agreement_counts_cases_flags_ratios_and_winners():
    a = _rows({"pipe": 100.0, "queue": 200.0, "shm": 400.0},
              [(0.45, 0.55), (0.9, 1.1), (1.8, 2.2)], noisy=("shm",))
    # B: the host ran 20% slower on everything; the ratios did not move.
    b = _rows({"pipe": 120.0, "queue": 240.0, "shm": 420.0},
              [(0.45, 0.55), (0.9, 1.1), (1.8, 2.2)])
    result = agreement(_frame(a), _frame(b), list(CASE_KEYS))
    assert result.cases == 3 and result.within == 1 / 3  # only shm within 10%
    assert result.flagged_a == 1 / 3 and result.flagged_b == 0
    assert result.unflagged == 2 and result.unflagged_within == 0
    assert result.paired == 3 and result.paired_within == 1.0
    assert (result.winners, result.winners_kept) == (1, 1)
    assert "within 10% on 33% of 3 cases" in result.line()
    assert all(len(line) <= 80 for line in result.line().splitlines())


def test_a_tie_is_no_confident_winner():
    a = _rows({"pipe": 100.0, "queue": 105.0}, [(0.9, 1.05), (0.95, 1.1)])
    result = agreement(_frame(a), _frame(a), list(CASE_KEYS))
    assert (result.winners, result.winners_kept) == (0, 0)

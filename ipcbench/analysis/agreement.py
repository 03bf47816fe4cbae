"""Pure: how far two result sets agree, case by case, as an A/A test reads it.

Run the same matrix twice back to back and compare: the share of cases whose figures
agree within 10% is what a reader can expect of any one figure; the share among the
cases flagged in neither run says whether the noise flag predicts; the paired ratios
(each channel over its workload's reference, core/paired.py) say whether "X is k times
Y" reproduces; and the winners say whether the best-channel map would name the same
channel again. compare prints this for every pairing; for two runs of one matrix on one
machine it is the A/A test docs/noise.md asks for before trusting a change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ipcbench.core.paired import WORKLOAD_KEYS, clearly_ahead
from ipcbench.core.schema import BASELINE_MECHANISM

WITHIN = 0.10  # "agree": figures within 10% of each other


@dataclass(frozen=True)
class Agreement:
    cases: int  # ok in both runs, baselines left out
    within: float  # share of them within 10%
    flagged_a: float
    flagged_b: float
    unflagged: int  # cases flagged in neither run
    unflagged_within: float  # share of those within 10%
    paired: int  # cases in a workload with rivals in both runs
    paired_within: float  # share whose paired ratio moved less than 10%
    winners: int  # workloads with a winner named with confidence in A
    winners_kept: int  # ... that B names again
    probed: int = 0  # cases with figures over the blocks' probes in both runs
    probed_within: float = math.nan  # share of those within 10%

    def line(self, tag: str = "B") -> str:
        """What an A/A test reports, in two lines of at most 80 columns."""
        def pct(value: float) -> str:
            return "n/a" if math.isnan(value) else f"{value:.0%}"
        probed = (f"over the probe on {pct(self.probed_within)}; " if self.probed else "")
        return (f"{tag} agrees with A within {WITHIN:.0%} on {pct(self.within)} of "
                f"{self.cases} cases ({pct(self.unflagged_within)} of the {self.unflagged} "
                f"flagged in neither)\n  {probed}paired ratios on "
                f"{pct(self.paired_within)}; confident winners kept {self.winners_kept} of "
                f"{self.winners}")


def _ok_cases(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rows = frame[(frame["status"] == "ok") & (frame["mechanism"] != BASELINE_MECHANISM)]
    rows = rows[pd.to_numeric(rows["median_ns"], errors="coerce") > 0]
    return rows.drop_duplicates(keys, keep="last").set_index(keys)


def _flagged(rows: pd.DataFrame) -> pd.Series:
    return rows["noisy"].astype(str).str.lower() == "true"


def _paired_logs(rows: pd.DataFrame, workload: list[str]) -> pd.Series:
    """log of each case's paired ratio: the run's own where it has one, else its median
    over the geometric mean of the workload's channels (rows of older schemas)."""
    logs = np.log(pd.to_numeric(rows["median_ns"], errors="coerce"))
    computed = logs - logs.groupby(level=workload).transform("mean")
    if "ratio" in rows:
        own = np.log(pd.to_numeric(rows["ratio"], errors="coerce").where(lambda r: r > 0))
        return own.fillna(computed)
    return computed


def confident_winner(rows: pd.DataFrame) -> object | None:
    """The index of the workload's clear winner (lowest time per message) or None: it is
    clearly ahead (core/paired.py) of every rival by its paired CI, or for rows without
    paired ratios of the runner-up by the old map's margin."""
    if len(rows) < 2:
        return None
    if "ratio_ci_high" in rows and rows["ratio"].notna().all():
        ordered = rows.sort_values("ratio")
        best = ordered.iloc[0]
        clear = all(clearly_ahead(best, rival, math.nan)
                    for _, rival in ordered.iloc[1:].iterrows())
        return ordered.index[0] if clear else None
    ordered = rows.sort_values("median_ns")
    lead = ordered["median_ns"].iloc[1] / ordered["median_ns"].iloc[0] - 1
    return ordered.index[0] if clearly_ahead(ordered.iloc[0], ordered.iloc[1], lead) else None


def agreement(base: pd.DataFrame, other: pd.DataFrame, keys: list[str]) -> Agreement:
    """Pure: the agreement of two result frames over the cases both measured ok."""
    workload = [k for k in keys if k in WORKLOAD_KEYS]
    a, b = _ok_cases(base, keys), _ok_cases(other, keys)
    common = a.index.intersection(b.index)
    a, b = a.loc[common], b.loc[common]
    ratio = pd.to_numeric(b["median_ns"]) / pd.to_numeric(a["median_ns"])
    within = (ratio - 1).abs() < WITHIN
    flagged_a, flagged_b = _flagged(a), _flagged(b)
    unflagged = ~flagged_a & ~flagged_b
    rivals = a.groupby(level=workload)["median_ns"].transform("size") > 1 if len(a) else within
    moved = (_paired_logs(b, workload) - _paired_logs(a, workload)).abs()
    paired_within = (np.exp(moved) - 1 < WITHIN)[rivals]
    winners = kept = 0
    for _, rows_a in a.groupby(level=workload):
        best = confident_winner(rows_a)
        if best is None:
            continue
        winners += 1
        rows_b = b.loc[rows_a.index]
        paired = "ratio" in rows_b and rows_b["ratio"].notna().all()
        column = "ratio" if paired else "median_ns"
        kept += rows_b[column].idxmin() == best

    def share(mask: pd.Series) -> float:
        return float(mask.mean()) if len(mask) else math.nan

    probed = pd.Series(dtype=bool)
    if "probe_ratio" in a and "probe_ratio" in b:
        over = (pd.to_numeric(b["probe_ratio"], errors="coerce")
                / pd.to_numeric(a["probe_ratio"], errors="coerce"))
        probed = ((over - 1).abs() < WITHIN)[np.isfinite(over)]
    return Agreement(len(common), share(within), share(flagged_a), share(flagged_b),
                     int(unflagged.sum()), share(within[unflagged]), int(rivals.sum()),
                     share(paired_within), winners, kept, len(probed), share(probed))

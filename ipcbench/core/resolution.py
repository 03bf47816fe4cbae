"""Pure: what difference a finished run can resolve, from its own rows.

A run's figures carry 95% CIs: of each case's median over sessions (absolute) and of its
paired ratio to the rivals measured in the same blocks (core/paired.py). Their typical
half-widths say what the run can tell apart on this machine at its budget: two channels
of one workload whose paired ratios differ by more than twice the paired half-width, and
two runs whose figures differ by more than twice the absolute one, or than twice the
host's drift during the run (core/drift.py), whichever is larger; on figures over the
blocks' probes (probe_ratio), twice their typical half-width. `run` prints it and
records it in machine.json; compare judges absolute figures with its minimum effect
raised to twice either run's drift (figures over the probe: by their CIs alone).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from statistics import median

from ipcbench.core.results import ResultRow
from ipcbench.core.schema import BASELINE_MECHANISM


@dataclass(frozen=True)
class Resolution:
    absolute: float  # resolvable difference between runs (2 x median CI half-width)
    paired: float  # between channels of one workload (2 x median paired half-width)
    target_met: float  # share of the rows that met the precision target
    rows: int  # ok rows of channels the figures come from
    drift: float = math.nan  # how far the host moved during the run (core/drift.py)
    probe: float = math.nan  # between runs, on figures over the blocks' probes
    short: int = 0  # ok rows the run's budget left below the minimum sessions asked
    fewest: int = 0  # the fewest sessions among them
    minimum: int = 0  # the minimum sessions asked (settings.sessions)
    sessions: int = 0  # a case's sessions: the median over the ok rows, rounded

    def line(self) -> str:
        """What `run` prints at its end: two lines, then what the budget cut short and,
        when most cases missed the precision target, what would tighten them."""
        def pct(value: float) -> str:
            return "n/a" if math.isnan(value) else f"{value:.0%}"
        runs = pct(self.absolute) + (f" ({pct(self.probe)} over the probe)"
                                     if math.isfinite(self.probe) else "")
        # Two lines, each within 80 columns.
        text = (f"resolution: channels {pct(self.paired)} apart, runs {runs}\n"
                f"  host drift ±{pct(self.drift)}; {pct(self.target_met)} of {self.rows} "
                "cases met the precision target")
        if self.short:
            have = (f"{self.fewest}" if self.fewest == self.minimum - 1
                    else f"{self.fewest}-{self.minimum - 1}")
            cases = "1 case has" if self.short == 1 else f"{self.short} cases have"
            text += (f"\n  the budget ran out: {cases} "
                     f"{have} of {self.minimum} sessions (--budget MIN)")
        if self.sessions and self.target_met < 0.5:
            # What to do about it: a CI narrows with more sessions a case, and a run's
            # time is its cases times their sessions (docs/noise.md).
            text += (f"\n  tighter figures need more than {self.sessions} sessions a case: "
                     "fewer cases (-m, -s)\n  or a longer --budget")
        return text

    def as_dict(self) -> dict:
        return asdict(self)


def _half_width(low: float, mid: float, high: float) -> float:
    return (high - low) / 2.0 / mid if mid > 0 and math.isfinite(high - low) else math.nan


def run_resolution(rows: Iterable[ResultRow], drift: float = math.nan,
                   minimum_sessions: int = 0) -> Resolution:
    """What the run's rows resolve; runs apart by no less than twice the host's drift.
    `minimum_sessions`: the run's --sessions, to count the cases its budget cut short."""
    ok = [r for r in rows if r.status == "ok" and r.mechanism != BASELINE_MECHANISM]
    short = [r.sessions for r in ok if r.sessions < minimum_sessions]
    absolute = [_half_width(r.ci_low_ns, r.median_ns, r.ci_high_ns) for r in ok]
    paired = [_half_width(r.ratio_ci_low, r.ratio, r.ratio_ci_high) for r in ok]
    probed = [_half_width(r.probe_ratio_ci_low, r.probe_ratio, r.probe_ratio_ci_high)
              for r in ok]
    probed = [h for h in probed if math.isfinite(h)]
    absolute = [h for h in absolute if math.isfinite(h)]
    paired = [h for h in paired if math.isfinite(h)]
    absolute_res = 2 * median(absolute) if absolute else math.nan
    if absolute and math.isfinite(drift):
        absolute_res = max(absolute_res, 2 * drift)
    return Resolution(
        absolute=absolute_res,
        paired=2 * median(paired) if paired else math.nan,
        target_met=sum(r.target_met for r in ok) / len(ok) if ok else math.nan,
        rows=len(ok),
        drift=drift,
        probe=2 * median(probed) if probed else math.nan,
        short=len(short),
        fewest=min(short, default=0),
        minimum=minimum_sessions,
        sessions=round(median([r.sessions for r in ok])) if ok else 0,
    )

"""Pure: per-message samples -> one session's summary -> a case's figures and noise.

A case is measured in several sessions (fresh peers, fresh channel, interleaved with the
other cases of the run). Repeats inside one session share memory layout, page placement
and cache state, so their agreement says little about whether the figure reproduces;
sessions do. Hence:
- a session's value is the median of its per-message samples (its p50);
- the case's figure (median_ns = p50_ns) is the median of its session values, and its
  CI (ci_low_ns, ci_high_ns) the distribution-free 95% CI of that median over sessions
  (from order statistics). Not the fastest session (schema 8 tried that "floor"): on an
  Intel Xeon VM the host itself switches between two speeds (a raw pipe round trip 40%
  apart, a case 10-35%) for 3-54% of the sessions of a run, and the floor was whichever
  session drew the fast state; two quiet runs agreed within 10% on 47-48% of cases by
  their floors and on 85-94% by their medians (docs/noise.md). `floor_ns` keeps the
  fastest session's value;
- where the run probed the host beside every session, each session's times are first
  taken at the host's reference state: scaled by the fast end of the run's probes
  (reference_probe_ns) over the session's own (standardized(); schema 10). Spread, CI
  and flag are of those values;
- `middle_spread` is how wide the middle half of the sessions lies around the median:
  half their interquartile range over the median (0.04 = the middle half within about
  +/-4%). The runner adds sessions while it is wider than the precision target
  (`target_met`, which also asks the CI of the paired ratio to the rivals of its
  workload, core/paired.py, to be within it), and the row is `noisy` (may not reproduce
  within 10%) while it is wider than MIDDLE_SPREAD_LIMIT; `noise` says whether the
  sessions disagree or a session's own repeats already do. The flag is a prediction,
  calibrated on A/A pairs (docs/noise.md), not the target. A wide paired CI and the
  host's drift during the run (core/drift.py) flagged rows until schema 8; in A/A pairs
  on an Intel Xeon VM the rows they alone flagged agreed between runs as often as the
  rest (the drift flag fired on 91-99% of a run's rows, of which 66-89% agreed);
- the percentiles (p90 ..) are the median over sessions of each session's percentile
  (a typical session's tail), min/max the extremes.
The machine-wide steal and foreign CPU are kept in the row but flag nothing: they tick
in 10 ms jiffies, and on a cloud VM they did not predict which cases reproduce
(docs/noise.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from statistics import median

import numpy as np

from ipcbench.core.stats import median_ci, per_second, summarize
from ipcbench.system.disturbance import Disturbance

# Kinds of noise, as written in the `noise` column (joined with "+").
BETWEEN = "between-sessions"  # each session is steady, but sessions land apart
WITHIN = "within-session"  # the repeats of a session already disagree
PAIRED = "paired"  # the ratio to the workload's other channels is not pinned down

# "Reproduces": a rerun's figure within 10%, the A/A test's own agreement.
REPRODUCE = 0.10
# A row is flagged `noisy` when the middle half of its sessions spreads wider than this
# around their median. Calibrated on two quiet pairs of back-to-back quick runs (4-7
# sessions a case, Intel Xeon 2-vCPU VM): the cases within it in both runs agreed within
# 10% in 95-100% of cases, and it flagged 17-36% of them (at 5%: 97-100% and 30-52%;
# at 10%: 90-97% and 8-22%). Beside a noisy neighbour nothing in a run predicted the
# next run: there the host's fast state took 10-54% of a run's sessions, moving whole
# runs.
MIDDLE_SPREAD_LIMIT = 0.07


@dataclass(frozen=True)
class SessionResult:
    """One session of a case, reduced to what the row and a resumed run need."""

    index: int
    samples: int
    p50_ns: float
    p90_ns: float
    p99_ns: float
    p999_ns: float
    min_ns: float
    max_ns: float
    mean_ns: float
    stdev_ns: float
    repeats: int
    messages: int
    duration_ns: float
    cpu_s: float
    ctx_switches: int
    repeat_spread: float  # half the relative range of the repeats' values
    wall_s: float  # the whole session, start-up included (what the budget counts)
    disturbance: Disturbance = field(default_factory=Disturbance)
    # One-way latency of the session's messages (stream, fanout); all 0 where there is
    # none (0, not NaN: a logged session must compare equal to itself read back).
    lat_samples: int = 0
    lat_p50_ns: float = 0.0
    lat_p90_ns: float = 0.0
    lat_p99_ns: float = 0.0
    lat_p999_ns: float = 0.0
    lat_max_ns: float = 0.0
    # How long the peers waited for a CPU while runnable during the timed repeats,
    # summed over peers (system/schedstat.py); 0 where the session has no peer processes.
    run_delay_ns: float = 0.0
    # The session's probe (a raw os.pipe round trip measured just before and just after
    # the session, their geometric mean; harness/baselines.py), in ns; 0 where none was.
    probe_ns: float = 0.0
    # The raw latencies, for --samples; never logged, never compared.
    latencies_ns: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def value_ns(self) -> float:
        return self.p50_ns

    @property
    def msgs_per_s(self) -> float:
        return per_second(self.messages, self.duration_ns)

    @property
    def cpu_per_wall(self) -> float:
        """CPU seconds the peers used per second of the timed span (1.0 = one CPU busy
        throughout; 0 when nothing was timed)."""
        return self.cpu_s / (self.duration_ns / 1e9) if self.duration_ns > 0 else 0.0

    @property
    def run_delay_frac(self) -> float:
        """The peers' run delay as a share of the timed span (0 when nothing was timed)."""
        return self.run_delay_ns / self.duration_ns if self.duration_ns > 0 else 0.0


def summarize_session(
    index: int,
    samples_per_repeat: list[np.ndarray],
    messages: int,
    duration_ns: float,
    cpu_s: float,
    ctx_switches: int,
    wall_s: float,
    disturbance: Disturbance | None = None,
    latencies_ns: np.ndarray | None = None,
    run_delay_ns: float = 0.0,
) -> SessionResult:
    """Pure: one session's timed repeats (their per-message samples, and the one-way
    latencies of every message where the pattern has them) -> its summary."""
    summary = summarize(np.concatenate(samples_per_repeat))
    repeat_values = [float(np.median(s)) for s in samples_per_repeat]
    latency = {}
    if latencies_ns is not None and len(latencies_ns):
        one_way = summarize(latencies_ns)
        latency = {"lat_samples": one_way.count, "lat_p50_ns": one_way.p50_ns,
                   "lat_p90_ns": one_way.p90_ns, "lat_p99_ns": one_way.p99_ns,
                   "lat_p999_ns": one_way.p999_ns, "lat_max_ns": one_way.max_ns,
                   "latencies_ns": np.asarray(latencies_ns)}
    return SessionResult(
        index=index,
        samples=summary.count,
        p50_ns=summary.p50_ns,
        p90_ns=summary.p90_ns,
        p99_ns=summary.p99_ns,
        p999_ns=summary.p999_ns,
        min_ns=summary.min_ns,
        max_ns=summary.max_ns,
        mean_ns=summary.mean_ns,
        stdev_ns=summary.stdev_ns,
        repeats=len(samples_per_repeat),
        messages=messages,
        duration_ns=float(duration_ns),
        cpu_s=cpu_s,
        ctx_switches=ctx_switches,
        repeat_spread=relative_spread(repeat_values),
        wall_s=wall_s,
        disturbance=disturbance or Disturbance(),
        run_delay_ns=run_delay_ns,
        **latency,
    )


def relative_spread(values: list[float]) -> float:
    """Half the range relative to the median (0 for a single value)."""
    if len(values) < 2:
        return 0.0
    mid = median(values)
    return (max(values) - min(values)) / 2.0 / mid if mid else math.inf


def pooled_stdev(sessions: list[SessionResult]) -> float:
    """Exact standard deviation of all samples, from each session's count/mean/stdev."""
    total = sum(s.samples for s in sessions)
    if total < 2:
        return 0.0
    mean = sum(s.mean_ns * s.samples for s in sessions) / total
    squares = sum((s.samples - 1) * s.stdev_ns**2 + s.samples * (s.mean_ns - mean) ** 2
                  for s in sessions)
    return math.sqrt(squares / (total - 1))


def middle_spread(values: list[float]) -> float:
    """Pure: half the interquartile range of `values` over their median, as a fraction
    (NaN for fewer than two values, inf when the median is not positive)."""
    if len(values) < 2:
        return math.nan
    low, mid, high = np.percentile(values, [25, 50, 75])
    return float((high - low) / 2 / mid) if mid > 0 else math.inf


def noise_kind(sessions: list[SessionResult], target: float,
               paired_half_width: float = 0.0, spread_limit: float | None = None) -> str:
    """Which kind of noise puts this case beyond its limits ("" = none): the middle half
    of its sessions wider than +/-`spread_limit` (default: `target`), or the 95% CI of
    the paired ratio wider than +/-target. Asked with the precision target and the
    paired CI (target_met), and with MIDDLE_SPREAD_LIMIT alone (the noisy flag)."""
    spread_limit = target if spread_limit is None else spread_limit
    kinds = []
    within = median([s.repeat_spread for s in sessions]) > target
    if len(sessions) >= 2:
        if middle_spread([s.value_ns for s in sessions]) > spread_limit:
            kinds.append(WITHIN if within else BETWEEN)
    elif within:  # one session: its repeats are all there is to judge by
        kinds.append(WITHIN)
    if paired_half_width > target:
        kinds.append(PAIRED)
    return "+".join(kinds)


def total_disturbance(sessions: list[SessionResult]) -> Disturbance:
    total = Disturbance()
    for session in sessions:
        total = total + session.disturbance
    return total


def case_figures(sessions: list[SessionResult], target: float,
                 paired_half_width: float = 0.0,
                 spread_limit: float = MIDDLE_SPREAD_LIMIT,
                 reference_ns: float = 0.0) -> dict[str, object]:
    """Pure: the sessions of one case -> the figure columns of its row (see module doc).
    `target` is the precision aimed for (target_met, with the paired CI's half-width),
    `spread_limit` the middle spread above which the row is flagged noisy (inf: never,
    as for the in-run baselines), `reference_ns` the run's reference probe under the
    case's placement: every figure is then at that state of the host (standardized();
    0 = as measured)."""
    if not sessions:
        raise ValueError("a case needs at least one session")
    measured = sessions
    sessions, scales = standardized(sessions, reference_ns)
    values = [s.value_ns for s in sessions]
    figure_ns = median(values)
    ci_low_ns, ci_high_ns = median_ci(values)
    messages = sum(s.messages for s in sessions)
    mean_ns = sum(s.mean_ns * s.samples for s in sessions) / sum(s.samples for s in sessions)
    stdev_ns = pooled_stdev(sessions)
    noise = noise_kind(sessions, REPRODUCE, spread_limit=spread_limit)
    disturbance = total_disturbance(sessions)
    return {
        "sessions": len(sessions),
        "repeats": sum(s.repeats for s in sessions),
        "messages": messages,
        "duration_ns": float(sum(s.duration_ns for s in sessions)),
        "median_ns": figure_ns,
        "p50_ns": figure_ns,
        "p90_ns": median([s.p90_ns for s in sessions]),
        "p99_ns": median([s.p99_ns for s in sessions]),
        "p999_ns": median([s.p999_ns for s in sessions]),
        "min_ns": min(s.min_ns for s in sessions),
        "max_ns": max(s.max_ns for s in sessions),
        "mean_ns": mean_ns,
        "stdev_ns": stdev_ns,
        "cv": stdev_ns / mean_ns if mean_ns else math.nan,
        # A session's rate at the reference state: its times were scaled by `scale`.
        "msgs_per_s": median([s.msgs_per_s / scale
                              for s, scale in zip(measured, scales, strict=True)]),
        "ci_low_ns": ci_low_ns,
        "ci_high_ns": ci_high_ns,
        "floor_ns": min(values),
        "middle_spread": middle_spread(values),
        "noisy": bool(noise),
        "noise": noise,
        # The precision reached, whatever the host did: the spread and paired CI alone.
        "target_met": not noise_kind(sessions, target, paired_half_width),
        "run_delay_frac": median([s.run_delay_frac for s in sessions]),
        **probe_figures(sessions),
        "probe_ref_ns": reference_ns if can_standardize(measured, reference_ns) else 0.0,
        "cpu_s_per_msg": sum(s.cpu_s for s in sessions) / messages,
        "ctx_switches_per_msg": sum(s.ctx_switches for s in sessions) / messages,
        "foreign_cpu_frac": disturbance.foreign_frac,
        "steal_frac": disturbance.steal_frac,
        **latency_figures(sessions),
    }


# The times of a session that scale with the host's state (per message, and the one-way
# latencies); its counts, its timed span and its CPU are what was measured.
_SCALED_FIELDS = ("p50_ns", "p90_ns", "p99_ns", "p999_ns", "min_ns", "max_ns", "mean_ns",
                  "stdev_ns", "lat_p50_ns", "lat_p90_ns", "lat_p99_ns", "lat_p999_ns",
                  "lat_max_ns")


def standardized(sessions: list[SessionResult], reference_ns: float
                 ) -> tuple[list[SessionResult], list[float]]:
    """Pure: the sessions with their times at the host's reference state, and the factor
    each was scaled by. A session's times are scaled by `reference_ns` over its own
    probe (taken either side of it), and its probe becomes the reference.

    Why: on a cloud VM the host runs in a few speed states for 0.3 s to a few seconds
    each (a raw pipe round trip at 9, 11 or 14 us on an AMD EPYC VM), and the share of
    a run's sessions each state gets moves from run to run. A case's five or six
    sessions land in whichever states came up, and the median over them moved with
    that draw: between two back-to-back quick runs, 35-60% of the cases agreed within
    10% quiet and 34-42% beside a noisy neighbour. Each session over its own probe,
    times the run's median probe, agreed for 53-74% and 49-59%: 12-27 points more in
    each of nine pairs (docs/noise.md); which reference state: REFERENCE_QUANTILE.

    Unchanged (factors 1) with no reference (0: the run had no probe, as the pytest
    front end), or when any session went without a probe: a case is standardized
    whole or not at all."""
    if not can_standardize(sessions, reference_ns):
        return list(sessions), [1.0] * len(sessions)
    scales = [reference_ns / s.probe_ns for s in sessions]
    return ([replace(s, probe_ns=reference_ns,
                     **{name: getattr(s, name) * scale for name in _SCALED_FIELDS})
             for s, scale in zip(sessions, scales, strict=True)], scales)


# The host's reference state is the fast end of the run's probes, not their median: other
# tenants only ever add time, so the fastest state recurs from run to run, while the
# share each slower state takes (and with it the median) moved by 4-9% between two
# back-to-back quick runs. Replayed on eleven A/A pairs of quick runs (AMD EPYC, quiet
# and beside a noisy neighbour), rows at the 2nd percentile probe agreed within 10% on
# 65% of cases on average against 61% at the median: 14-18 points more in three pairs,
# 2-3 fewer in two, within a point in the other six; the 1st-10th percentiles did
# alike, and the minimum lost 14 points in one pair to a single fast probe. The 2nd
# percentile still finds a fast state that took only 3% of a run's sessions (seen on an
# Intel Xeon host, docs/noise.md).
REFERENCE_QUANTILE = 0.02


def reference_probe_ns(probes_ns: list[float]) -> float:
    """Pure: the host's reference state from a run's probes (REFERENCE_QUANTILE of them;
    0 when there are none)."""
    probes = [p for p in probes_ns if p > 0]
    return float(np.quantile(probes, REFERENCE_QUANTILE)) if probes else 0.0


def bracket_ns(before_ns: float, after_ns: float) -> float:
    """Pure: the probe of what was measured between two probes (a session, a baseline):
    their geometric mean, the one that worked when the other failed (0), 0 when neither
    did."""
    if before_ns > 0 and after_ns > 0:
        return math.sqrt(before_ns * after_ns)
    return max(before_ns, after_ns, 0.0)


def can_standardize(sessions: list[SessionResult], reference_ns: float) -> bool:
    """Whether standardized() scales these sessions: a reference, and a probe for each."""
    return reference_ns > 0 and all(s.probe_ns > 0 for s in sessions)


def probe_figures(sessions: list[SessionResult]) -> dict[str, float]:
    """The probe_ratio columns: each session's value over its own probe, median over
    sessions and its 95% CI (none when no session had a probe). A drift of the host
    between runs moves the value and the probe alike, so compare reads these first."""
    ratios = [s.value_ns / s.probe_ns for s in sessions if s.probe_ns > 0]
    if not ratios:
        return {}
    low, high = median_ci(ratios)
    return {"probe_ratio": median(ratios), "probe_ratio_ci_low": low,
            "probe_ratio_ci_high": high}


def latency_figures(sessions: list[SessionResult]) -> dict[str, object]:
    """The lat_* columns: each percentile the median over sessions of the session's
    percentile (like the round-trip figures), the max the largest of all."""
    timed = [s for s in sessions if s.lat_samples > 0]
    if not timed:
        return {}
    return {
        "lat_samples": sum(s.lat_samples for s in timed),
        "lat_p50_ns": median([s.lat_p50_ns for s in timed]),
        "lat_p90_ns": median([s.lat_p90_ns for s in timed]),
        "lat_p99_ns": median([s.lat_p99_ns for s in timed]),
        "lat_p999_ns": median([s.lat_p999_ns for s in timed]),
        "lat_max_ns": max(s.lat_max_ns for s in timed),
    }

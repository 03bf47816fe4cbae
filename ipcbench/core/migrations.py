"""Upgrades of older results files, one schema version at a time.

What each version changed (results.SCHEMA_VERSION is the newest; readers refuse newer):
  1  identity, case keys, status/reason, per-message stats in ns, bytes_per_s,
     msgs_per_s, verified.
  2  placement (a case key), order_seed, ci_low_ns/ci_high_ns, noisy, cpu_s_per_msg,
     ctx_switches_per_msg, efficiency. v1 loads as placement=unpinned, order_seed=-1.
  3  payload (a case key). v2 loads as payload=bytes.
  4  figures from several sessions: sessions, noise, foreign_cpu_frac, steal_frac. v3
     loads as sessions=1 and noise="within-session" where noisy. Same columns, new
     meanings: `numpy-shm` rows load as `numpy-shm-v3` (schema.RENAMED_PAYLOADS; its
     figure moved no payload), stream efficiency is against memcpy at the row's size.
  5  one-way latency and load: rate_per_s (a case key), achieved_per_s, saturated,
     lat_samples, lat_p50_ns .. lat_max_ns, samples_file. v4 loads as rate_per_s=0.
     Same columns, new payload values since: msgpack, dataframe, arrow.
  6  paired blocks and a precision target: run_delay_frac, remeasured, target_met,
     ratio, ratio_ci_low, ratio_ci_high, probe_ratio, probe_ratio_ci_low,
     probe_ratio_ci_high. v5 loads with no ratio (NaN), remeasured=0
     and target_met = not noisy. Same columns, new meaning: `noisy` is the 95% CI (of
     the median, or of the paired ratio) wider than the target; machine load alone no
     longer flags a row.
  7  channel depth and bursts: depth (a case key; messages the channel may hold in
     flight, 0 = the channel's default), burst (a case key; messages per tick of an
     open-loop schedule). v6 loads as depth=0, burst=1. New meanings: a repeat of stream,
     fanout, workqueue and counter is timed from the moment the first peer left the
     start barrier (before, from the timing peer's own start: on a shared core a peer the
     scheduler ran first had done part of the work off the clock, and figures of v6 and
     older can be up to 2x fast there); `noisy` is a CI or the drift beyond +/-10% (may
     not reproduce within 10%), no longer beyond the precision target, which
     `target_met` alone reports.
     The run's Python and the peers' kind: gil_enabled, free_threaded, peer_kind
     (processes, threads, interpreters). v6 loads as gil_enabled=True,
     free_threaded=False, peer_kind=processes (every v6 mechanism ran peer processes).
  8  the floor: median_ns = p50_ns is the median message of the case's fastest session
     (was: the median over sessions), msgs_per_s and bytes_per_s that session's rate,
     ci_low_ns the floor; typical_ns (the median over sessions) and floor_spread (the
     next-fastest session over the floor, minus 1). `noisy` and `target_met` judge the
     floor's spread instead of the CI of the median. v7 loads as typical_ns = median_ns
     and floor_spread = NaN; its figures keep their meaning.
  9  the median again: median_ns = p50_ns is the median over sessions, msgs_per_s the
     median session's rate, ci_low_ns/ci_high_ns the median's 95% CI; typical_ns and
     floor_spread become floor_ns (the fastest session's value) and middle_spread (half
     the sessions' interquartile range over their median); `noisy` and `target_met`
     judge that spread. Ping-pong `efficiency` is the raw os.pipe round trip's p50 over
     the row's p50 again: versions 7 and 8 divided by the baseline row's round trips per
     second (request-reply's anchor), so a 64 B ping-pong read 2000% and more. v8 loads
     with median_ns = its typical_ns, its rates scaled by floor / typical, floor_ns = its
     median_ns (NaN for rows upgraded from v7 with more than one session),
     middle_spread = NaN, ci_low_ns its floor (below the median's CI: wider), and every
     case's efficiency recomputed from the file's own baseline rows (same placement,
     and size for memcpy; rows without one scaled by floor / typical). Same column, new
     meaning: the `lock` baseline row times a shared int64 under one plain lock (it
     timed a synchronized Value, three lock operations an increment, which a channel
     with one lock beat by 1.3-1.5x); counter efficiencies of older files keep theirs.
  10 times at the host's reference state: probe_ref_ns (the run's 2nd percentile probe
     under the row's placement when the row was written). Where it is above 0, every
     time of the row (and its rates) is at that state: each session's times scaled by it
     over the session's own probe (session_stats.standardized); 0 = as measured. v9
     loads with probe_ref_ns = 0, its figures as they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported by the reader, never while measuring
    import pandas as pd


def _v1_to_v2(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(frame.columns.get_loc("start_method") + 1, "placement", "unpinned")
    frame["order_seed"] = -1
    frame["noisy"] = False
    for column in (
        "ci_low_ns",
        "ci_high_ns",
        "cpu_s_per_msg",
        "ctx_switches_per_msg",
        "efficiency",
    ):
        frame[column] = math.nan
    return frame


def _v2_to_v3(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(frame.columns.get_loc("placement") + 1, "payload", "bytes")
    return frame


def _v3_to_v4(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    at = frame.columns.get_loc("order_seed") + 1
    noisy = frame["noisy"].astype(str).str.lower() == "true"
    frame.insert(at, "sessions", (frame["status"] == "ok").astype(int))
    frame.insert(at + 1, "noise", noisy.map({True: "within-session", False: ""}))
    frame.insert(at + 2, "foreign_cpu_frac", math.nan)
    frame.insert(at + 3, "steal_frac", math.nan)
    return frame


def _v4_to_v5(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(frame.columns.get_loc("payload") + 1, "rate_per_s", 0)
    at = frame.columns.get_loc("steal_frac") + 1
    added = {"achieved_per_s": math.nan, "saturated": False, "lat_samples": 0,
             "lat_p50_ns": math.nan, "lat_p90_ns": math.nan, "lat_p99_ns": math.nan,
             "lat_p999_ns": math.nan, "lat_max_ns": math.nan, "samples_file": ""}
    for offset, (column, value) in enumerate(added.items()):
        frame.insert(at + offset, column, value)
    return frame


def _v5_to_v6(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    at = frame.columns.get_loc("steal_frac") + 1
    noisy = frame["noisy"].astype(str).str.lower() == "true"
    added = {"run_delay_frac": math.nan, "remeasured": 0, "target_met": ~noisy,
             "ratio": math.nan, "ratio_ci_low": math.nan, "ratio_ci_high": math.nan,
             "probe_ratio": math.nan, "probe_ratio_ci_low": math.nan,
             "probe_ratio_ci_high": math.nan}
    for offset, (column, value) in enumerate(added.items()):
        frame.insert(at + offset, column, value)
    return frame


def _v6_to_v7(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(frame.columns.get_loc("rate_per_s") + 1, "depth", 0)
    frame.insert(frame.columns.get_loc("depth") + 1, "burst", 1)
    frame["gil_enabled"] = True
    frame["free_threaded"] = False
    frame["peer_kind"] = "processes"
    return frame


def _v7_to_v8(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    at = frame.columns.get_loc("ci_high_ns") + 1
    # A file that names an old version but already has the columns (written by hand,
    # or trimmed from a newer one) keeps its own.
    if "floor_ns" in frame:  # the columns of schema 9 already
        return frame
    for offset, (column, value) in enumerate((("typical_ns", frame["median_ns"]),
                                              ("floor_spread", math.nan))):
        if column not in frame:
            frame.insert(at + offset, column, value)
    return frame


def _efficiencies(frame: pd.DataFrame, cases: pd.Series) -> pd.Series:
    """Each case row's efficiency against the file's own baseline row of its placement
    (and size, for per-size baselines), NaN where there is none."""

    from ipcbench.core import patterns

    anchors = frame[(frame["mechanism"] == "baseline") & (frame["status"] == "ok")]
    by_size = {}  # (variant, pattern, placement, size) -> the baseline row
    largest = {}  # (variant, pattern, placement) -> the largest size's row (memcpy 64 MiB)
    for _, row in anchors.sort_values("size_bytes").iterrows():
        key = (row["variant"], row["pattern"], row["placement"])
        by_size.setdefault((*key, row["size_bytes"]), row)
        largest[key] = row

    def one(row: pd.Series) -> float:
        kind = patterns.PATTERNS.get(row["pattern"])
        if kind is None:
            return math.nan
        ref = kind.baseline
        key = (ref.variant, ref.pattern, row["placement"])
        anchor = by_size.get((*key, row["size_bytes"])) if ref.per_size else largest.get(key)
        if anchor is None:
            return math.nan
        return kind.efficiency(float(row[kind.metric]), float(anchor[ref.column]))

    return frame[cases].apply(one, axis=1).astype(float)


def _v8_to_v9(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    frame = frame.copy()
    if "typical_ns" in frame:  # else it has schema 9's columns already, and keeps them
        frame, factor = _medians_again(frame)
    else:
        factor = pd.Series(1.0, index=frame.index)
    # Efficiency again from the file's own baselines: every figure moved, and ping-pong's
    # was divided by the wrong column (round trips per second) in versions 7 and 8.
    cases = (frame["mechanism"] != "baseline") & (frame["status"] == "ok")
    if cases.any():
        old = pd.to_numeric(frame.loc[cases, "efficiency"], errors="coerce")
        again = _efficiencies(frame, cases)
        frame.loc[cases, "efficiency"] = again.where(again.notna(), old * factor[cases])
    return frame


def _medians_again(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Schema 8's figure columns back to the median over sessions; also the factor
    (floor / median) its rates and efficiencies are scaled by."""
    import pandas as pd

    old_figure = pd.to_numeric(frame["median_ns"], errors="coerce")
    typical = pd.to_numeric(frame["typical_ns"], errors="coerce")
    known = (old_figure > 0) & (typical > 0)
    # The figure goes back to the median over sessions; the rates were the fastest
    # session's, rescaled here to the median session's (a rate goes as 1 / time).
    factor = (old_figure / typical).where(known, 1.0)
    for column in ("median_ns", "p50_ns"):
        frame[column] = typical.where(known, pd.to_numeric(frame[column], errors="coerce"))
    for column in ("msgs_per_s", "bytes_per_s", "achieved_per_s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce") * factor
    # A floor only where v8 measured one: rows upgraded from v7 (no floor_spread, more
    # than one session) never had it.
    sessions = pd.to_numeric(frame["sessions"], errors="coerce")
    measured = pd.to_numeric(frame["floor_spread"], errors="coerce").notna() | (sessions <= 1)
    frame["typical_ns"] = old_figure.where(measured)
    frame["floor_spread"] = math.nan
    frame = frame.rename(columns={"typical_ns": "floor_ns", "floor_spread": "middle_spread"})
    return frame, factor


def _v9_to_v10(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    if "probe_ref_ns" not in frame:
        frame.insert(frame.columns.get_loc("probe_ratio_ci_high") + 1, "probe_ref_ns", 0.0)
    return frame


# version -> the step from that version to the next (asv's way: each step knows only
# two adjacent versions, so an old file is upgraded through every step in turn).
_MIGRATIONS: dict[int, Callable[[pd.DataFrame], pd.DataFrame]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
    5: _v5_to_v6,
    6: _v6_to_v7,
    7: _v7_to_v8,
    8: _v8_to_v9,
    9: _v9_to_v10,
}


def upgrade(frame: pd.DataFrame, version: int) -> pd.DataFrame:
    """`frame`, read from a file of schema `version`, upgraded to the newest version."""
    for step in range(version, max(_MIGRATIONS) + 1):
        frame = _MIGRATIONS[step](frame)
    return frame

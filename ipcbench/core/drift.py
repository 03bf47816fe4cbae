"""Pure: how far the host itself drifted during a run, from every session in run order.

A case's CI over its sessions covers the noise its sessions saw; it cannot cover a host
whose state moves for tens of seconds at a time (a cloud VM's CPU and memory bandwidth:
on the project's VM the rolling median of all sessions moved between 0.73 and 1.17 of
their cases' medians within a 2-minute run, and a second run's own baselines ran 14-50%
slower). Such a drift cancels in paired ratios (core/paired.py) but not in absolute
figures: a rerun samples other states. The tracker measures it: each session's value
over its case's median, in run order, smoothed by a rolling median over WINDOW sessions
(so one session's noise does not count), and the drift is half the 10-90% range of that
smoothed series. `run` prints it on its resolution line and records it in
machine.json, and compare widens its minimum effect to twice it. It flags no row: in
A/A pairs on an Intel Xeon VM the rows it flagged (91-99% of a run's, at a drift of
+/-10-11%) agreed with the next run as often as the rest.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np

WINDOW = 25  # sessions in the rolling median: ~1-3 s of a run
MIN_WINDOWS = 4  # fewer sessions than this many windows: too short to tell


def drift_of(keys: list[Hashable], logs: list[float], window: int = WINDOW) -> float:
    """Pure: half the 10-90% range of the rolling median of each session's log value
    over its case's median log value, as a fraction (0.1 = the host moved by +/-10%)."""
    if len(logs) < MIN_WINDOWS * window:
        return math.nan
    values = np.asarray(logs)
    codes = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    index = np.array([codes[k] for k in keys])
    # Each case's median from one sort by (case, value): the middle one or two of each
    # case's run (a mask per case made this quadratic: 0.1 s a call at the default
    # matrix's 44k sessions, asked after every workload).
    order = np.lexsort((values, index))
    ordered = values[order]
    counts = np.bincount(index, minlength=len(codes))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    centre = (ordered[starts + (counts - 1) // 2] + ordered[starts + counts // 2]) / 2.0
    relative = values - centre[index]
    windows = np.lib.stride_tricks.sliding_window_view(relative, window)
    smooth = np.median(windows, axis=1)
    low, high = np.percentile(smooth, [10, 90])
    return float(math.exp((high - low) / 2.0) - 1.0)

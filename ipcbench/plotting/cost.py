"""What a channel really costs: efficiency against the run's own hardware baselines, and
CPU time per message (so a channel that busy-waits cannot look free)."""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from ipcbench.plotting.data import SIZE_PATTERNS, Run
from ipcbench.plotting.grid import Reference, size_grid
from ipcbench.plotting.style import format_time_ns


def format_efficiency(value: float) -> str:
    """0.25 -> '25%', 0.0031 -> '0.31%', 2.4 -> '240%'."""
    if not math.isfinite(value):
        return "–"
    percent = value * 100
    return f"{percent:.3g}%" if percent < 10 else f"{percent:.0f}%"


def _unity(run: Run, pattern: str, placement: str | None) -> list[Reference]:
    return [Reference("baseline: 100% = the in-run baseline", "100% = baseline", 1.0)]


EFFICIENCY_NOTE = (
    "; efficiency = ping-pong: raw os.pipe round trip ÷ this round trip; stream/fanout: "
    "bytes/s ÷ memcpy bandwidth (same run, same placement)")


def efficiency_figure(run: Run) -> Figure | None:
    """Efficiency vs message size: one row per pattern (and placement / payload kind),
    one panel per process count. Higher is closer to what the hardware can do."""
    if "efficiency" not in run.frame:
        return None
    return size_grid(
        run, patterns=list(SIZE_PATTERNS), value=lambda r: r["efficiency"],
        formatter=format_efficiency,
        title="Efficiency vs message size: share of this machine's own baseline "
              "(higher is better)",
        ylabel="efficiency (log scale)", references=_unity, note=EFFICIENCY_NOTE)


def _cpu_ns(rows: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(rows["cpu_s_per_msg"], errors="coerce") * 1e9


def cpu_figure(run: Run) -> Figure | None:
    """CPU time (all peers, user + system) per message vs size."""
    if "cpu_s_per_msg" not in run.frame:
        return None
    return size_grid(
        run, patterns=list(SIZE_PATTERNS), value=_cpu_ns, formatter=format_time_ns,
        title="CPU time per message vs message size (lower is better)",
        ylabel="CPU time / message (all peers)",
        note="; ping-pong: per round trip. CPU time well above the latency means the "
             "channel spins (busy-waits) while it waits")

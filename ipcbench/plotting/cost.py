"""What a channel really costs: efficiency against the run's own hardware baselines, and
CPU time per message (so a channel that busy-waits cannot look free)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ipcbench.analysis.runs import Run
from ipcbench.core import patterns
from ipcbench.core.units import format_fraction, format_time_ns
from ipcbench.plotting.grid import GridSpec, Reference, size_grid


def _unity(run: Run, pattern: str, placement: str | None) -> list[Reference]:
    return [Reference("baseline: 100% = the in-run baseline", "100% = baseline", 1.0)]


# Each pattern's efficiency is against its own Pattern.baseline (same run and placement).
EFFICIENCY_NOTE = "; efficiency vs " + "; ".join(
    f"{patterns.get(name).baseline.label} for {name}" for name in patterns.sized_names()
) + " (same run, same placement)"


def efficiency_figure(run: Run) -> Figure | None:
    """Efficiency vs message size: one row per pattern, one column per placement, at
    the smallest process count. Higher is closer to what the hardware can do."""
    if "efficiency" not in run.frame:
        return None
    return size_grid(run, GridSpec(
        pattern_names=list(patterns.sized_names()), value=lambda r: r["efficiency"],
        formatter=format_fraction, higher_is_better=True,
        title="Efficiency vs message size: share of this machine's own baseline "
              "(higher is better)",
        ylabel="efficiency (log scale)", references=_unity, note=EFFICIENCY_NOTE,
        row_dims=("pattern",), col_dim="placement", smallest_procs=True))


def _cpu_ns(rows: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(rows["cpu_s_per_msg"], errors="coerce") * 1e9


def cpu_figure(run: Run) -> Figure | None:
    """CPU time (all peers, user + system) per message vs size."""
    if "cpu_s_per_msg" not in run.frame:
        return None
    return size_grid(run, GridSpec(
        pattern_names=list(patterns.sized_names()), value=_cpu_ns, formatter=format_time_ns,
        higher_is_better=False,
        title="CPU time per message vs message size (lower is better)",
        ylabel="CPU time / message (all peers)",
        note="; ping-pong: per round trip. CPU time well above the latency means the "
             "channel spins (busy-waits) while it waits",
        row_dims=("pattern",), col_dim="placement", smallest_procs=True))

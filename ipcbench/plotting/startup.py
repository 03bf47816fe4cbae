"""The start-up charts: what starting a worker costs, every kind side by side (threads,
subinterpreters, processes, pools, a manager), a bar per start method; and worker churn
(tasks/s through pools that replace each worker after one task) drawn the same way.

One panel per number of workers started at once (rows) and placement (columns). The
x axis is logarithmic: a thread starts in ~0.1 ms, a spawned process in ~50 ms, and a
linear axis would show only the slowest. The dashed line is the run's floor for a
process, a raw os.fork() to its first byte back (both patterns' baseline).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ipcbench.analysis.frames import in_reading_order, unique_cases
from ipcbench.analysis.runs import Run, baseline_value
from ipcbench.core import patterns
from ipcbench.plotting.ranking import metric_interval
from ipcbench.plotting.style import REFERENCE_COLOR, dress, legend_block, run_line

# Cheapest first as a reader meets them: in-process kinds, then processes by how much
# they set up.
KIND_ORDER = ("thread", "interpreter", "ipe", "process", "pool", "ppe", "manager")
IN_PROCESS = ("thread", "interpreter", "ipe")
METHOD_COLORS = {"fork": "#1f77b4", "forkserver": "#ff7f0e", "spawn": "#2ca02c"}
OTHER_COLOR = "#7f7f7f"
BAR_IN = 0.16


NOTES = {
    patterns.STARTUP.name: "in-process kinds take no start method (measured again under "
                           "each)",
    patterns.CHURN.name: "the pool's first workers start untimed; each task then runs in "
                         "a new worker",
}


def _label(variant: str) -> str:
    return f"{variant} (in-process)" if variant in IN_PROCESS else variant


def _panel(ax, cell: pd.DataFrame, variants: list[str], methods: list[str],
           floor: float | None, kind: patterns.Pattern) -> None:
    step = 0.8 / len(methods)
    values_all = []
    for i, variant in enumerate(variants):
        if not (cell["variant"] == variant).any():  # skipped here (e.g. manager, 2 workers)
            ax.text(0.01, i, "no ok row: ipcbench show RUN --all says why", va="center",
                    fontsize=6.5, color="#666666", transform=ax.get_yaxis_transform())
        for j, method in enumerate(methods):
            row = cell[(cell["variant"] == variant) & (cell["start_method"] == method)]
            if row.empty:
                continue
            row = row.iloc[0]
            value = float(row[kind.metric])
            low, high = metric_interval(row, kind)
            y = i - 0.4 + step * (j + 0.5)
            ax.barh(y, value, height=step * 0.9, color=METHOD_COLORS.get(method, OTHER_COLOR))
            if np.isfinite(low) and np.isfinite(high):
                ax.errorbar(value, y, xerr=[[value - low], [high - value]], fmt="none",
                            ecolor="#222222", elinewidth=0.8, capsize=1.5)
            end = high if np.isfinite(high) else value
            ax.text(end * 1.08, y, kind.format(value), va="center", fontsize=6)
            values_all.append(end)
    if floor is not None:
        ax.axvline(floor, color=REFERENCE_COLOR, linestyle="--", linewidth=1.1, zorder=1)
        values_all.append(floor)
    ax.set_xscale("log")
    positive = [v for v in values_all if v > 0]
    ax.set_xlim(min(positive) / 2, max(positive) * 6)  # room for the value labels
    ax.set_yticks(range(len(variants)), [_label(v) for v in variants], fontsize=7)
    ax.set_ylim(len(variants) - 0.5, -0.5)  # cheapest kinds on top
    ax.tick_params(axis="x", labelsize=7)
    ax.xaxis.set_major_formatter(lambda v, _pos: kind.format(v))
    ax.grid(True, axis="x", which="major", alpha=0.3)


def _figure(run: Run, kind: patterns.Pattern) -> Figure | None:
    rows = unique_cases(run.ok[run.ok["pattern"] == kind.name])
    rows = rows[pd.to_numeric(rows[kind.metric], errors="coerce") > 0]
    if rows.empty:
        return None
    present = set(rows["variant"])
    variants = [v for v in KIND_ORDER if v in present] + sorted(present - set(KIND_ORDER))
    methods = in_reading_order("start_method", rows["start_method"])
    placements = in_reading_order("placement", rows["placement"])
    procs = sorted(int(p) for p in rows["procs"].unique())
    height = BAR_IN * len(variants) * len(methods) + 0.8
    fig = Figure(figsize=(max(7.5, 5.6 * len(placements) + 0.6), height * len(procs) + 2.4),
                 layout="constrained")
    axes = fig.subplots(len(procs), len(placements), squeeze=False)
    floor_drawn = False
    for i, n in enumerate(procs):
        for j, placement in enumerate(placements):
            ax = axes[i][j]
            cell = rows[(rows["procs"] == n) & (rows["placement"] == placement)]
            if cell.empty:
                ax.set_visible(False)
                continue
            floor = baseline_value(run.baselines, kind.baseline, placement)
            floor_drawn |= floor is not None
            _panel(ax, cell, variants, methods, floor, kind)
            ax.set_title(f"{placement} · {kind.procs_label}: {n}", fontsize=9)
    dress(fig, f"{kind.title}, by start method", run_line(run),
          f"{kind.metric_label}, log scale; whiskers: 95% CI of the median; "
          f"{NOTES[kind.name]}")
    handles = {method: Patch(color=METHOD_COLORS.get(method, OTHER_COLOR))
               for method in methods}
    if floor_drawn:
        handles[f"baseline: {kind.baseline.label}"] = Line2D(
            [], [], color=REFERENCE_COLOR, linestyle="--")
    legend_block(fig, handles)
    return fig


def startup_figures(run: Run) -> dict[str, Figure]:
    """File stem -> figure: `startup` and `churn`, each where the run has ok rows."""
    built = {kind.name: _figure(run, kind) for kind in (patterns.STARTUP, patterns.CHURN)}
    return {stem: figure for stem, figure in built.items() if figure is not None}

"""Ranking charts: for a few workloads per pattern, every channel as a bar (best at the
top) with its 95% confidence interval as a whisker, so "which is faster, and is the
difference real?" is answered by looking.

One figure per pattern; panel columns are placements, panel rows a few representative
workloads (the smallest and largest message size at the smallest process count; for
the counter, the smallest and largest process count), bytes payload.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ipcbench.analysis.frames import in_reading_order, unique_cases
from ipcbench.analysis.runs import Run
from ipcbench.core import patterns, units
from ipcbench.core.sizes import format_size
from ipcbench.plotting.grid import bytes_payload
from ipcbench.plotting.style import channel_color, dress, run_line

BAR_HEIGHT_IN = 0.17
MIN_WIDTH_IN = 7.5


def metric_interval(row: pd.Series | dict, kind: patterns.Pattern) -> tuple[float, float]:
    """The 95% CI of the row's figure of merit, from the CI of its median time per
    message: a time figure scales with it, a rate figure inversely."""
    value = float(row[kind.metric])
    median, low, high = (float(row.get(c, math.nan)) for c in
                         ("median_ns", "ci_low_ns", "ci_high_ns"))
    if not all(map(math.isfinite, (value, median, low, high))) or min(low, median) <= 0:
        return math.nan, math.nan
    if kind.unit == units.TIME_NS:
        return value * low / median, value * high / median
    return value * median / high, value * median / low


def channel_name(mechanism: str, variant: str) -> str:
    return f"{mechanism}/{variant}"


def _workloads(rows: pd.DataFrame, kind: patterns.Pattern) -> list[tuple[int, int]]:
    """(size, procs) rows of the figure: the ends of the size range at the fewest
    processes, or the ends of the process range for the unsized counter."""
    if kind.sized:
        fewest = int(rows["procs"].min())
        sizes = sorted(rows.loc[rows["procs"] == fewest, "size_bytes"].unique())
        return [(int(s), fewest) for s in dict.fromkeys((sizes[0], sizes[-1]))]
    procs = sorted(rows["procs"].unique())
    size = int(rows["size_bytes"].iloc[0])
    return [(size, int(p)) for p in dict.fromkeys((procs[0], procs[-1]))]


def _panel(ax, cell: pd.DataFrame, kind: patterns.Pattern) -> None:
    ranked = cell.sort_values(kind.metric, ascending=not kind.higher_is_better)
    values = ranked[kind.metric].astype(float).to_numpy()
    intervals = np.array([metric_interval(r, kind) for _, r in ranked.iterrows()])
    y = np.arange(len(ranked))
    colors = [channel_color(m, v) for m, v in zip(ranked["mechanism"], ranked["variant"],
                                                  strict=True)]
    ax.barh(y, values, color=colors, height=0.7)
    errors = np.abs(np.vstack([values - intervals[:, 0], intervals[:, 1] - values]))
    ax.errorbar(values, y, xerr=np.nan_to_num(errors), fmt="none", ecolor="#222222",
                elinewidth=1, capsize=2)
    labels = [channel_name(m, v) for m, v in zip(ranked["mechanism"], ranked["variant"],
                                                 strict=True)]
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()  # best on top
    top = float(np.nanmax(np.concatenate([values, intervals[:, 1]])))
    # Labels sit past the whisker so they never cover it.
    ends = np.fmax(values, np.nan_to_num(intervals[:, 1]))
    for position, value, end in zip(y, values, ends, strict=True):
        ax.text(end, position, " " + kind.format(value), va="center", fontsize=6.5)
    ax.set_xlim(0, top * 1.35)  # room for the value labels
    ax.tick_params(axis="x", labelsize=7)
    # Few ticks: a label like "1.25 M msgs/s" is wide and neighbours would overlap.
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.xaxis.set_major_formatter(lambda v, _pos: kind.format(v) if v > 0 else "0")
    ax.grid(True, axis="x", alpha=0.3)


def ranking_figure(run: Run, pattern: str) -> Figure | None:
    kind = patterns.get(pattern)
    rows, payload_note = bytes_payload(unique_cases(run.ok[run.ok["pattern"] == pattern]))
    rows = rows[pd.to_numeric(rows[kind.metric], errors="coerce") > 0]
    if rows.empty:
        return None
    placements = in_reading_order("placement", rows["placement"])
    workloads = _workloads(rows, kind)
    bars = rows.groupby(["mechanism", "variant"]).ngroups
    # One placement: still wide enough for a two-line title and the longest names.
    fig = Figure(figsize=(max(MIN_WIDTH_IN, 5.4 * len(placements) + 0.6),
                          (BAR_HEIGHT_IN * bars + 0.9) * len(workloads) + 2.0),
                 layout="constrained")
    axes = fig.subplots(len(workloads), len(placements), squeeze=False)
    drawn = 0
    for i, (size, procs) in enumerate(workloads):
        for j, placement in enumerate(placements):
            cell = rows[(rows["size_bytes"] == size) & (rows["procs"] == procs)
                        & (rows["placement"] == placement)]
            ax = axes[i][j]
            if cell.empty:
                ax.set_visible(False)
                continue
            drawn += 1
            _panel(ax, cell, kind)
            where = f"{format_size(size)}, " if kind.sized else ""
            ax.set_title(f"{placement} · {where}{kind.procs_label}: {procs}", fontsize=9)
    dress(fig, f"{kind.title}: every channel, best first", run_line(run),
          f"{kind.metric_label}; whiskers: 95% CI of the median{payload_note}")
    return fig if drawn else None


def ranking_figures(run: Run) -> dict[str, Figure]:
    """File stem -> ranking figure, one per pattern with ok rows (start-up and churn
    have charts of their own, plotting/startup.py: their rows differ by start method)."""
    figures = {}
    for name in patterns.PATTERN_NAMES:
        if patterns.get(name).starts_workers:
            continue
        figure = ranking_figure(run, name)
        if figure is not None:
            figures[f"ranking-{name}"] = figure
    return figures

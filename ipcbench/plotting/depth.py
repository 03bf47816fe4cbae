"""Channel depth (run --depth): what the in-flight limit does to throughput and latency.

- depth-<pattern>: one column of panels per workload (size, procs, placement) of the
  raw-bytes payload; top row the pattern's figure of merit against the depth, bottom row
  its latency (one-way p50 where messages carry one, else the median per message), one
  colour and marker per channel, log-2 depth axis. Each channel at its own default depth
  (the ordinary row) is not a point of the sweep: it is drawn as a dotted level line so a
  reader sees where the default sits.
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from ipcbench.analysis.runs import Run
from ipcbench.core import patterns
from ipcbench.core.sizes import format_size
from ipcbench.core.units import format_time_ns, format_value
from ipcbench.plotting.grid import bytes_payload, limits, procs_text
from ipcbench.plotting.ranking import channel_name
from ipcbench.plotting.style import (
    channel_color,
    channel_marker,
    dress,
    legend_block,
    run_line,
    setup_log_y,
)

MAX_WORKLOADS = 4
_PANEL_WIDTH_IN, _PANEL_HEIGHT_IN = 4.6, 3.0


def _latency_column(kind: patterns.Pattern, rows: pd.DataFrame) -> tuple[str, str]:
    if kind.open_loop and (rows["lat_samples"] > 0).any():
        return "lat_p50_ns", "one-way latency p50"
    return "median_ns", "time per message (median)"


def _workloads(rows: pd.DataFrame) -> list[tuple]:
    keys = rows[["size_bytes", "procs", "placement"]].drop_duplicates()
    return sorted(keys.itertuples(index=False, name=None))[:MAX_WORKLOADS]


def _setup_depth_axis(ax, depths) -> None:
    ticks = sorted({int(d) for d in depths})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def depth_figure(run: Run, pattern: str) -> Figure | None:
    rows, payload_note = bytes_payload(run.depths[run.depths["pattern"] == pattern])
    if rows.empty:
        return None
    kind = patterns.get(pattern)
    latency, latency_label = _latency_column(kind, rows)
    defaults = run.ok[run.ok["pattern"] == pattern]
    workloads = _workloads(rows)
    columns = len(workloads)
    fig = Figure(figsize=(max(_PANEL_WIDTH_IN * columns, 7.5), _PANEL_HEIGHT_IN * 2 + 1.6),
                 layout="constrained")
    grid = fig.subplots(2, columns, squeeze=False, sharey="row")
    handles: dict[str, object] = {}
    metric_low, metric_high = limits(rows[kind.metric], defaults[kind.metric])
    lat_low, lat_high = limits(rows[latency], defaults[latency] if latency in defaults else [])
    for column, (size, procs, placement) in enumerate(workloads):
        top, bottom = grid[0][column], grid[1][column]

        def cell(frame: pd.DataFrame, size=size, procs=procs, placement=placement):
            return frame[(frame["size_bytes"] == size) & (frame["procs"] == procs)
                         & (frame["placement"] == placement)]

        sweep, default = cell(rows), cell(defaults)
        for (mechanism, variant), series in sweep.groupby(["mechanism", "variant"], sort=True):
            series = series.sort_values("depth")
            color, marker = channel_color(mechanism, variant), channel_marker(mechanism, variant)
            own = default[(default["mechanism"] == mechanism) & (default["variant"] == variant)]
            for ax, name in ((top, kind.metric), (bottom, latency)):
                ax.plot(series["depth"], series[name], color=color, marker=marker,
                        markersize=4)
                if not own.empty and name in own and math.isfinite(float(own[name].iloc[0])):
                    ax.axhline(float(own[name].iloc[0]), color=color, linestyle=":",
                               linewidth=1.0)
            handles[channel_name(mechanism, variant)] = Line2D(
                [], [], color=color, marker=marker, markersize=4)
        for ax in (top, bottom):
            _setup_depth_axis(ax, rows["depth"])
            ax.grid(True, which="major", alpha=0.3)
        setup_log_y(top, lambda v: format_value(v, kind.unit), metric_low, metric_high)
        setup_log_y(bottom, format_time_ns, lat_low, lat_high)
        top.set_title(f"{format_size(size)} · {procs_text(pattern, procs)} · {placement}",
                      fontsize=9)
        bottom.set_xlabel("depth (messages in flight)")
        if column == 0:
            top.set_ylabel(kind.metric_label)
            bottom.set_ylabel(latency_label)
    handles["dotted: the channel at its own default depth"] = Line2D(
        [], [], color="#555555", linestyle=":")
    higher = "higher" if kind.higher_is_better else "lower"
    dress(fig, f"{pattern.capitalize()}: {kind.metric_label} and latency against channel "
          f"depth ({higher} {kind.metric_label} is better)", run_line(run),
          f"depth = messages the channel may hold in flight (ring slots, Queue maxsize, zmq "
          f"high-water marks, POSIX queue depth){payload_note}")
    legend_block(fig, handles)
    return fig


def depth_figures(run: Run) -> dict[str, Figure]:
    """A depth chart per pattern the run swept (none without --depth)."""
    figures = {}
    if run.depths.empty:
        return figures
    for name in patterns.PATTERN_NAMES:
        figure = depth_figure(run, name)
        if figure is not None:
            figures[f"depth-{name}"] = figure
    return figures

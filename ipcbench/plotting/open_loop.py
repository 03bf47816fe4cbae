"""Latency under load (run --rate): where each channel's one-way latency turns up, and
the shape of its latency distribution.

- load-<pattern>: x = messages per second each sender reached, y = one-way p50 (solid)
  and p99 (dashed), one colour per channel, log scales; one panel per workload (size,
  senders, placement) of the raw-bytes payload. A hollow marker = the senders fell
  below 95% of their rate (saturated: the latencies are a growing backlog's).
- latency-dist: HDR-style percentile plot (x = percentile on a 1/(1-p) scale, so the
  tail gets the room) of every channel at each rate, from the row's percentiles (p50 ..
  p99.9, max); from every message's latency where the run kept --samples.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from ipcbench.analysis.runs import Run
from ipcbench.core import patterns
from ipcbench.core.sizes import format_size
from ipcbench.core.units import format_rate_msgs, format_time_ns
from ipcbench.plotting.grid import bytes_payload, limits, procs_text
from ipcbench.plotting.ranking import channel_name
from ipcbench.plotting.style import (
    channel_color,
    channel_marker,
    dress,
    legend_block,
    new_figure,
    run_line,
    setup_log_y,
)

MAX_PANELS = 6
SATURATED_LABEL = "hollow marker = saturated (below 95% of the rate: a growing backlog)"
# Percentile plot: where each column of the row sits (max drawn at 99.99).
_ROW_PERCENTILES = {"lat_p50_ns": 50.0, "lat_p90_ns": 90.0, "lat_p99_ns": 99.0,
                    "lat_p999_ns": 99.9, "lat_max_ns": 99.99}
_PERCENTILE_TICKS = (50.0, 90.0, 99.0, 99.9, 99.99)


def _rate_tick(value: float) -> str:
    return format_rate_msgs(value).removesuffix(" msgs/s").replace(" ", "")


def _workloads(rows: pd.DataFrame) -> list[tuple]:
    """(size, procs, placement, burst) of each panel: bursts of another size are a
    schedule of their own, never one line with the steady one."""
    keys = rows[["size_bytes", "procs", "placement", "burst"]].drop_duplicates()
    ordered = sorted(keys.itertuples(index=False, name=None))
    return ordered[:MAX_PANELS]


def _in(rows: pd.DataFrame, size: int, procs: int, placement: str, burst: int):
    return rows[(rows["size_bytes"] == size) & (rows["procs"] == procs)
                & (rows["placement"] == placement) & (rows["burst"] == burst)]


def _workload_title(pattern: str, size_bytes: int, procs: int, placement: str,
                    burst: int = 1) -> str:
    return (f"{format_size(size_bytes)} · {procs_text(pattern, procs)} · {placement}"
            + (f" · bursts of {burst}" if burst > 1 else ""))


def _loaded_rows(run: Run, pattern: str) -> tuple[pd.DataFrame, str]:
    rows = run.open_loop
    rows = rows[(rows["pattern"] == pattern) & (rows["lat_samples"] > 0)]
    return bytes_payload(rows)


def load_figure(run: Run, pattern: str) -> Figure | None:
    rows, payload_note = _loaded_rows(run, pattern)
    if rows.empty:
        return None
    workloads = _workloads(rows)
    fig, axes = new_figure(len(workloads))
    handles: dict[str, object] = {}
    low, high = limits(rows["lat_p50_ns"], rows["lat_p99_ns"])
    for ax, (size, procs, placement, burst) in zip(axes, workloads, strict=False):
        cell = _in(rows, size, procs, placement, burst)
        for (mechanism, variant), series in cell.groupby(["mechanism", "variant"], sort=True):
            series = series.sort_values("achieved_per_s")
            color, marker = channel_color(mechanism, variant), channel_marker(mechanism, variant)
            x = series["achieved_per_s"].to_numpy(float)
            for column, style in (("lat_p50_ns", "-"), ("lat_p99_ns", "--")):
                y = series[column].to_numpy(float)
                ax.plot(x, y, color=color, linestyle=style, marker=marker, markersize=4)
                hollow = series["saturated"].to_numpy(bool)
                if hollow.any():
                    ax.plot(x[hollow], y[hollow], linestyle="none", marker=marker,
                            markersize=7, markerfacecolor="white", markeredgecolor=color,
                            markeredgewidth=1.2, zorder=3)
            handles[channel_name(mechanism, variant)] = Line2D(
                [], [], color=color, marker=marker, markersize=4)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: _rate_tick(v)))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("messages/s per sender reached")
        setup_log_y(ax, format_time_ns, low, high)
        ax.set_ylabel("one-way latency")
        ax.set_title(_workload_title(pattern, size, procs, placement, burst), fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
    handles["p50 (solid)"] = Line2D([], [], color="#555555", linestyle="-")
    handles["p99 (dashed)"] = Line2D([], [], color="#555555", linestyle="--")
    if rows["saturated"].astype(bool).any():
        handles[SATURATED_LABEL] = Line2D([], [], linestyle="none", marker="o",
                                          markerfacecolor="white", markeredgecolor="#555555")
    title = f"{pattern.capitalize()}: one-way latency vs load (lower and further right is better)"
    dress(fig, title, run_line(run), f"open loop: latency from each message's due time "
          f"to message in hand{payload_note}")
    legend_block(fig, handles)
    return fig


def load_figures(run: Run) -> dict[str, Figure]:
    figures = {}
    for kind in patterns.PATTERNS.values():
        if kind.open_loop:
            figure = load_figure(run, kind.name)
            if figure is not None:
                figures[f"load-{kind.name}"] = figure
    return figures


def _percentile_x(percentiles: np.ndarray) -> np.ndarray:
    """x position of a percentile: 1 / (1 - p), so 90, 99, 99.9 are evenly spaced."""
    return 1.0 / (1.0 - np.asarray(percentiles, dtype=float) / 100.0)


def _curve(run: Run, row: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(x, latency) of one row: every sample's percentile where --samples kept them."""
    samples_file = str(row.get("samples_file") or "")
    path = run.folder / samples_file if samples_file else None
    if path is not None and Path(path).is_file():
        from ipcbench.core.samples import load

        latencies = load(run.folder, samples_file)
        points = np.array([p for p in np.linspace(0, 99.99, 400)])
        points = np.unique(np.concatenate([points, [99.0, 99.9, 99.99]]))
        return _percentile_x(points), np.percentile(latencies, points)
    present = [(c, p) for c, p in _ROW_PERCENTILES.items() if math.isfinite(row[c])]
    return (_percentile_x([p for _, p in present]),
            np.array([row[c] for c, _ in present], dtype=float))


def distribution_figure(run: Run) -> Figure | None:
    """One panel per rate (the first open-loop pattern and workload with rated rows)."""
    for kind in patterns.PATTERNS.values():
        rows, payload_note = _loaded_rows(run, kind.name) if kind.open_loop else (None, "")
        if rows is not None and not rows.empty:
            break
    else:
        return None
    size, procs, placement, burst = _workloads(rows)[0]
    rows = _in(rows, size, procs, placement, burst)
    rates = sorted(rows["rate_per_s"].unique())[:MAX_PANELS]
    fig, axes = new_figure(len(rates))
    handles: dict[str, object] = {}
    low, high = limits(rows["lat_p50_ns"], rows["lat_max_ns"])
    for ax, rate in zip(axes, rates, strict=False):
        for _, row in rows[rows["rate_per_s"] == rate].sort_values("mechanism").iterrows():
            color = channel_color(row["mechanism"], row["variant"])
            x, y = _curve(run, row)
            ax.plot(x, y, color=color, linewidth=1.4)
            handles[channel_name(row["mechanism"], row["variant"])] = Line2D([], [],
                                                                             color=color)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(_percentile_x(_PERCENTILE_TICKS)))
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda v, _p: f"{100 * (1 - 1 / v):.6g}%" if v >= 1 else ""))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("percentile")
        setup_log_y(ax, format_time_ns, low, high)
        ax.set_ylabel("one-way latency")
        ax.set_title(f"rate {format_rate_msgs(rate)} per sender", fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
    dress(fig, f"{kind.name.capitalize()} one-way latency distribution, "
          f"{_workload_title(kind.name, size, procs, placement, burst)}", run_line(run),
          "percentile plot (HDR style): the tail to the right; from every message's "
          f"latency where --samples kept them, else the row's p50 .. p99.9 and max"
          f"{payload_note}")
    legend_block(fig, handles)
    return fig

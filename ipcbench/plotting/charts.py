"""Per-run charts: latency vs size, throughput vs size, scaling vs process count.

Each builder takes a Run and returns a matplotlib Figure, or None when the run holds no
ok rows for that chart. Figures are built with the object API (no pyplot), so nothing
depends on a GUI backend or on global figure state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ipcbench.plotting.data import (
    Run,
    iter_series,
    left_out_note,
    series_columns,
    series_label,
    unique_cases,
)
from ipcbench.plotting.style import (
    dress,
    format_ops,
    format_rate_bytes,
    format_time_ns,
    legend_below,
    new_figure,
    run_line,
    series_style,
    setup_log_y,
    setup_size_axis,
)
from ipcbench.sizes import format_size


def _positive(values: pd.Series) -> np.ndarray:
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return array[np.isfinite(array) & (array > 0)]


def _limits(*columns: pd.Series) -> tuple[float, float]:
    values = np.concatenate([_positive(c) for c in columns]) if columns else np.array([])
    return (float(values.min()), float(values.max())) if values.size else (1.0, 10.0)


def _on_sizes(rows: pd.DataFrame, sizes: list[int]) -> pd.DataFrame:
    # Reindex on every size of the panel: a missing or failed size becomes NaN, which
    # breaks the line instead of silently joining its neighbours.
    return rows.set_index("size_bytes").reindex(sizes)


def latency_figure(run: Run) -> Figure | None:
    """p50 round-trip latency vs size (log-log), band up to p99, one panel per procs."""
    rows = unique_cases(run.ok[run.ok["pattern"] == "pingpong"])
    if rows.empty:
        return None
    columns = series_columns(rows)
    procs_values = sorted(rows["procs"].unique())
    fig, axes = new_figure(len(procs_values))
    low, high = _limits(rows["p50_ns"], rows.get("p99_ns", rows["p50_ns"]))
    for ax, procs in zip(axes, procs_values, strict=True):
        panel = rows[rows["procs"] == procs]
        sizes = sorted(panel["size_bytes"].unique())
        for key, series in iter_series(panel, columns):
            data = _on_sizes(series, sizes)
            style = series_style(key)
            ax.plot(sizes, data["p50_ns"], label=series_label(key), markersize=3.5, **style)
            if "p99_ns" in data:
                ax.fill_between(sizes, data["p50_ns"], data["p99_ns"],
                                color=style["color"], alpha=0.12, linewidth=0)
        setup_size_axis(ax, sizes)
        setup_log_y(ax, format_time_ns, low, high)
        ax.set_title(f"{procs} pair{'s' if procs > 1 else ''} of processes", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("round-trip latency (p50 line, band to p99)")
    dress(fig, "Ping-pong latency vs message size (lower is better)", run_line(run),
          left_out_note(run.frame, ["pingpong"]))
    legend_below(fig, axes)
    return fig


def throughput_figure(run: Run) -> Figure | None:
    """Aggregate stream throughput (bytes/s) vs size, one panel per producer count."""
    rows = unique_cases(run.ok[run.ok["pattern"] == "stream"])
    if rows.empty:
        return None
    columns = series_columns(rows)
    procs_values = sorted(rows["procs"].unique())
    fig, axes = new_figure(len(procs_values))
    low, high = _limits(rows["bytes_per_s"])
    for ax, procs in zip(axes, procs_values, strict=True):
        panel = rows[rows["procs"] == procs]
        sizes = sorted(panel["size_bytes"].unique())
        for key, series in iter_series(panel, columns):
            data = _on_sizes(series, sizes)
            ax.plot(sizes, data["bytes_per_s"], label=series_label(key), markersize=3.5,
                    **series_style(key))
        setup_size_axis(ax, sizes)
        setup_log_y(ax, format_rate_bytes, low, high)
        ax.set_title(f"{procs} producer{'s' if procs > 1 else ''} → 1 consumer", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("throughput (bytes/s, median of repeats)")
    dress(fig, "Stream throughput vs message size (higher is better)", run_line(run),
          left_out_note(run.frame, ["stream"]))
    legend_below(fig, axes)
    return fig


def scaling_sizes(sizes_bytes: list[int], count: int = 3) -> list[int]:
    """A few representative sizes: smallest, largest and the one nearest their
    geometric middle (what scaling charts pin the size at)."""
    sizes = sorted(set(int(s) for s in sizes_bytes))
    if len(sizes) <= count:
        return sizes
    picks = {sizes[0], sizes[-1]}
    middle = np.sqrt(sizes[0] * sizes[-1])
    picks.add(min(sizes, key=lambda s: abs(np.log(s / middle))))
    return sorted(picks)


def scaling_figure(run: Run) -> Figure | None:
    """Aggregate stream throughput and counter increments/s vs process count."""
    ok = unique_cases(run.ok)
    stream = ok[ok["pattern"] == "stream"]
    counter = ok[ok["pattern"] == "counter"]
    # Only stream sizes measured at more than one process count say anything about scaling.
    by_size = stream.groupby("size_bytes")["procs"].nunique()
    sizes = scaling_sizes([s for s, n in by_size.items() if n > 1])
    panels = [("stream", s) for s in sizes] + ([("counter", 8)] if not counter.empty else [])
    if not panels:
        return None
    # Panels have different sizes and units, so each keeps its own y axis.
    fig, axes = new_figure(len(panels), width_in=4.2, sharey=False, max_columns=4)
    for ax, (pattern, size) in zip(axes, panels, strict=True):
        rows = stream[stream["size_bytes"] == size] if pattern == "stream" else counter
        metric, fmt = ("bytes_per_s", format_rate_bytes) if pattern == "stream" else (
            "msgs_per_s", format_ops)
        for key, series in iter_series(rows, series_columns(rows)):
            series = series.sort_values("procs")
            ax.plot(series["procs"], series[metric], label=series_label(key), markersize=4,
                    **series_style(key))
        procs_values = sorted(rows["procs"].unique())
        ax.set_xscale("log", base=2)
        ax.set_xticks(procs_values, [str(p) for p in procs_values])
        ax.minorticks_off()
        low, high = _limits(rows[metric])
        setup_log_y(ax, fmt, low, high)
        ax.set_ylim(low / 1.5, high * 1.5)
        if pattern == "stream":
            ax.set_title(f"stream, {format_size(size)} messages", fontsize=10)
            ax.set_xlabel("producer processes")
            ax.set_ylabel("aggregate throughput (bytes/s)")
        else:
            ax.set_title("counter: locked shared Value", fontsize=10)
            ax.set_xlabel("incrementing processes")
            ax.set_ylabel("increments/s (all processes)")
        ax.grid(True, which="major", alpha=0.3)
    dress(fig, "Scaling with process count (higher is better)", run_line(run),
          left_out_note(run.frame, ["stream", "counter"]))
    legend_below(fig, axes)
    return fig

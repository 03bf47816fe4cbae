"""Overlay charts for comparing runs: one colour per run (machine), one panel per
mechanism/variant and process count, so the same case sits at the same spot for all."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure

from ipcbench.plotting.data import (
    PATTERN_METRIC,
    Run,
    iter_series,
    series_columns,
    series_label,
    unique_cases,
)
from ipcbench.plotting.style import (
    format_ops,
    format_rate_bytes,
    format_time_ns,
    run_color,
    setup_log_y,
    setup_size_axis,
)

_FORMATTERS = {"pingpong": format_time_ns, "stream": format_rate_bytes, "counter": format_ops}
_Y_LABELS = {
    "pingpong": "p50 round trip",
    "stream": "throughput",
    "counter": "increments/s",
}
_TITLES = {
    "pingpong": "Ping-pong p50 latency (lower is better)",
    "stream": "Stream throughput (higher is better)",
    "counter": "Locked counter increments/s (higher is better)",
}


def run_tags(count: int) -> list[str]:
    """Short tags A, B, C... used in tables and legends (labels are long)."""
    return [chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(count)]


def overlay_figure(runs: Sequence[Run], pattern: str) -> Figure | None:
    """Rows = series present in any run, columns = process counts (size on x), or a
    single row of panels with procs on x for the counter pattern."""
    metric = PATTERN_METRIC[pattern][0]
    frames = []
    for index, run in enumerate(runs):
        rows = unique_cases(run.ok[run.ok["pattern"] == pattern]).copy()
        rows["_run"] = index
        frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[pd.to_numeric(rows[metric], errors="coerce") > 0]
    if rows.empty:
        return None
    columns = series_columns(rows)
    series_keys = [key for key, _ in iter_series(rows, columns)]
    by_size = pattern != "counter"
    procs_values = sorted(rows["procs"].unique()) if by_size else [None]
    n_rows, n_cols = len(series_keys), len(procs_values)
    fig = Figure(figsize=(3.6 * n_cols + 2.8, 2.5 * n_rows + 1.4), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True)
    values = rows[metric].astype(float)
    tags = run_tags(len(runs))
    for i, key in enumerate(series_keys):
        mask = pd.Series(True, index=rows.index)
        for column, value in key.items():
            mask &= rows[column] == value
        for j, procs in enumerate(procs_values):
            ax = axes[i][j]
            cell = rows[mask] if procs is None else rows[mask & (rows["procs"] == procs)]
            x_column = "size_bytes" if by_size else "procs"
            for index, run in enumerate(runs):
                line = cell[cell["_run"] == index].sort_values(x_column)
                if not line.empty:
                    # Later runs draw thinner, so identical runs stay visible underneath.
                    ax.plot(line[x_column], line[metric], marker="o", markersize=3,
                            linewidth=max(1.0, 2.8 - 0.7 * index), color=run_color(index),
                            label=f"{tags[index]}: {run.label}")
            title = series_label(key) + ("" if procs is None else f", procs={procs}")
            ax.set_title(title, fontsize=9)
            ax.grid(True, which="major", alpha=0.3)
            if by_size:
                setup_size_axis(ax, rows["size_bytes"].unique())
            else:
                ax.set_xscale("log", base=2)
                procs_ticks = sorted(rows["procs"].unique())
                ax.set_xticks(procs_ticks, [str(p) for p in procs_ticks])
                ax.set_xlabel("processes")
            setup_log_y(ax, _FORMATTERS[pattern], values.min(), values.max())
            if j == 0:
                ax.set_ylabel(_Y_LABELS[pattern])
            if i < n_rows - 1:
                ax.set_xlabel("")
    fig.suptitle(f"{_TITLES[pattern]}: runs overlaid", fontsize=11)
    handles, labels = [], []
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    order = sorted(range(len(labels)), key=lambda k: labels[k])
    fig.legend([handles[k] for k in order], [labels[k] for k in order],
               loc="outside lower center", fontsize=8, frameon=False, ncols=1)
    return fig


def overlay_figures(runs: Sequence[Run]) -> dict[str, Figure]:
    """File stem -> overlay figure, for each pattern with ok rows in some run."""
    figures = {}
    for pattern in ("pingpong", "stream", "counter"):
        figure = overlay_figure(runs, pattern)
        if figure is not None:
            figures[f"compare_{pattern}"] = figure
    return figures

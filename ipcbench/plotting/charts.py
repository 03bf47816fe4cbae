"""Per-run charts: latency vs size, throughput vs size (stream and fanout), scaling vs
process count.

Each builder takes a Run and returns a matplotlib Figure, or None when the run holds no
ok rows for that chart. Figures are built with the object API (no pyplot), so nothing
depends on a GUI backend or on global figure state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ipcbench.plotting.data import (
    THROUGHPUT_PATTERNS,
    Run,
    baseline_value,
    facet_columns,
    facet_label,
    iter_facets,
    iter_series,
    left_out_note,
    series_columns,
    series_label,
    unique_cases,
)
from ipcbench.plotting.grid import Reference, limits, noisy_note, size_grid
from ipcbench.plotting.style import (
    draw_series,
    dress,
    format_ops,
    format_rate_bytes,
    format_time_ns,
    legend_below,
    pd_bool,
    reference_line,
    run_line,
    series_style,
    setup_log_y,
)
from ipcbench.sizes import format_size


def _latency_refs(run: Run, pattern: str, placement: str | None) -> list[Reference]:
    rtt = baseline_value(run.baselines, "os-pipe", "pingpong", "p50_ns", placement)
    if rtt is None:
        return []
    return [Reference("baseline: raw os.pipe round trip, 64 B", f"raw os.pipe RTT "
                      f"{format_time_ns(rtt)}", rtt)]


def _throughput_refs(run: Run, pattern: str, placement: str | None) -> list[Reference]:
    refs = []
    copy = baseline_value(run.baselines, "memcpy", "stream", "bytes_per_s", placement)
    if copy is not None:
        refs.append(Reference("baseline: memcpy bandwidth (one core)",
                              f"memcpy {format_rate_bytes(copy)}", copy))
    pipe = baseline_value(run.baselines, "os-pipe", "stream", "bytes_per_s", placement)
    if pipe is not None:
        refs.append(Reference("baseline: raw os.pipe stream, 1 MiB writes",
                              f"raw os.pipe {format_rate_bytes(pipe)}", pipe, ":"))
    return refs


_REF_NOTE = "; black lines: this run's hardware baselines for the panel's placement"


def latency_figure(run: Run) -> Figure | None:
    """p50 round-trip latency vs size (log-log), band up to p99; rows per placement /
    payload kind, one panel per procs; the raw os.pipe round trip as reference."""
    return size_grid(
        run, patterns=["pingpong"], value=lambda r: r["p50_ns"],
        band=lambda r: r["p99_ns"] if "p99_ns" in r else r["p50_ns"],
        formatter=format_time_ns,
        title="Ping-pong latency vs message size (lower is better)",
        ylabel="round trip (p50; band to p99 if shown)", references=_latency_refs,
        note=_REF_NOTE if not run.baselines.empty else "")


def throughput_figure(run: Run) -> Figure | None:
    """Aggregate throughput (bytes/s) vs size for stream and fanout; memcpy bandwidth
    (and the raw os.pipe stream) as references."""
    return size_grid(
        run, patterns=list(THROUGHPUT_PATTERNS), value=lambda r: r["bytes_per_s"],
        formatter=format_rate_bytes,
        title="Throughput vs message size (higher is better)",
        ylabel="throughput (bytes/s, median of repeats)", references=_throughput_refs,
        note=_REF_NOTE if not run.baselines.empty else "")


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


def _scaling_panels(rows: pd.DataFrame) -> list[tuple[str, int]]:
    """(pattern, size) per column: a few sizes measured at several process counts for
    each throughput pattern, then the counter."""
    panels = []
    for pattern in THROUGHPUT_PATTERNS:
        part = rows[rows["pattern"] == pattern]
        by_size = part.groupby("size_bytes")["procs"].nunique()
        panels += [(pattern, s) for s in scaling_sizes([s for s, n in by_size.items() if n > 1])]
    if (rows["pattern"] == "counter").any():
        panels.append(("counter", 0))
    return panels


def _scaling_panel(ax, run: Run, rows: pd.DataFrame, pattern: str, size: int,
                   columns: list[str]) -> list[float]:
    counter = pattern == "counter"
    if not counter:
        rows = rows[rows["size_bytes"] == size]
    metric, fmt = ("msgs_per_s", format_ops) if counter else ("bytes_per_s", format_rate_bytes)
    for key, series in iter_series(rows, columns):
        series = series.sort_values("procs")
        draw_series(ax, series["procs"], series[metric], series_style(key), series_label(key),
                    series["noisy"] if "noisy" in series else None, markersize=4)
    procs_values = sorted(rows["procs"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(procs_values, [str(p) for p in procs_values])
    ax.minorticks_off()
    values = list(rows[metric])
    placements = rows["placement"].unique() if "placement" in rows else []
    placement = str(placements[0]) if len(placements) == 1 else None
    lock = baseline_value(run.baselines, "lock", "counter", "msgs_per_s", placement)
    if counter and lock is not None:
        reference_line(ax, lock, "baseline: uncontended lock, one process",
                       f"uncontended {format_ops(lock)}")
        values.append(lock)
    low, high = limits(values)
    setup_log_y(ax, fmt, low, high)
    ax.set_ylim(low / 1.5, high * 1.5)
    if counter:
        ax.set_title("counter: locked shared Value", fontsize=9)
        ax.set_xlabel("incrementing processes")
        ax.set_ylabel("increments/s (all processes)", fontsize=9)
    else:
        ax.set_title(f"{pattern}, {format_size(size)} messages", fontsize=9)
        ax.set_xlabel("producer processes" if pattern == "stream" else "consumer processes")
        ax.set_ylabel("aggregate throughput (bytes/s)", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    return values


def scaling_figure(run: Run) -> Figure | None:
    """Aggregate throughput (stream, fanout) and counter increments/s vs process count;
    one row per placement / payload kind."""
    ok = unique_cases(run.ok)
    ok = ok[ok["pattern"].isin([*THROUGHPUT_PATTERNS, "counter"])]
    panels = _scaling_panels(ok)
    if not panels:
        return None
    ok = ok[ok["pattern"].isin({p for p, _ in panels})]
    facets = facet_columns(ok, ("placement", "payload"))
    facet_list = list(iter_facets(ok, facets))
    fig = Figure(figsize=(4.2 * len(panels) + 3.2, 3.4 * len(facet_list) + 1.4),
                 layout="constrained")
    grid = fig.subplots(len(facet_list), len(panels), squeeze=False)  # units differ
    for i, (key, rows) in enumerate(facet_list):
        columns = series_columns(rows, facets)
        for j, (pattern, size) in enumerate(panels):
            part = rows[rows["pattern"] == pattern]
            ax = grid[i][j]
            if part.empty:
                ax.set_visible(False)
                continue
            _scaling_panel(ax, run, part, pattern, size, columns)
            if key:
                ax.set_title(f"{facet_label(key)}: {ax.get_title()}", fontsize=9)
    dress(fig, "Scaling with process count (higher is better)", run_line(run),
          left_out_note(run.frame, [*THROUGHPUT_PATTERNS, "counter"]) + noisy_note(ok))
    legend_below(fig, list(grid.ravel()), noisy=any(pd_bool(ok.get("noisy", []))))
    return fig

"""Per-run charts: latency vs size, throughput vs size (the bytes/s patterns), scaling vs
process count.

Each builder takes a Run and returns a matplotlib Figure, or None when the run holds no
ok rows for that chart. Figures are built with the object API (no pyplot), so nothing
depends on a GUI backend or on global figure state. Which pattern goes on which chart,
its axis labels and its reference line all come from its Pattern record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ipcbench import patterns, units
from ipcbench.analysis.frames import (
    SPLIT_COLUMNS,
    facet_columns,
    facet_label,
    iter_facets,
    iter_series,
    series_columns,
    series_label,
    unique_cases,
)
from ipcbench.analysis.runs import Run, baseline_value, left_out_note
from ipcbench.plotting.grid import Reference, limits, noisy_note, size_grid
from ipcbench.plotting.style import (
    draw_series,
    dress,
    legend_below,
    pd_bool,
    reference_line,
    run_line,
    series_style,
    setup_log_y,
)
from ipcbench.sizes import format_size

# The second reference line on throughput charts: what the kernel pipe itself moves with
# large writes (no pattern's efficiency baseline, so it is named here, once).
PIPE_STREAM = patterns.BaselineRef("os-pipe", patterns.STREAM.name, "bytes_per_s",
                                   "raw os.pipe stream, 1 MiB writes")


def _names_in(unit: str) -> list[str]:
    """Sized patterns whose figure of merit is in this unit (one chart per unit)."""
    return [n for n in patterns.sized_names() if patterns.get(n).unit == unit]


def _unsized_names() -> list[str]:
    """Patterns without a message size (the counter): charted against procs only."""
    return [n for n in patterns.PATTERN_NAMES if not patterns.get(n).sized]


def _own_baseline(run: Run, pattern: str, placement: str | None) -> list[Reference]:
    """The pattern's efficiency baseline (Pattern.baseline) as a reference line."""
    kind = patterns.get(pattern)
    value = baseline_value(run.baselines, kind.baseline, placement)
    if value is None:
        return []
    return [Reference(f"baseline: {kind.baseline.label}",
                      f"{kind.baseline.label} {kind.format(value)}", value)]


def _throughput_refs(run: Run, pattern: str, placement: str | None) -> list[Reference]:
    refs = _own_baseline(run, pattern, placement)
    pipe = baseline_value(run.baselines, PIPE_STREAM, placement)
    if pipe is not None:
        refs.append(Reference(f"baseline: {PIPE_STREAM.label}",
                              f"raw os.pipe {units.format_rate_bytes(pipe)}", pipe, ":"))
    return refs


_REF_NOTE = "; black lines: this run's hardware baselines for the panel's placement"


def latency_figure(run: Run) -> Figure | None:
    """p50 round-trip latency vs size (log-log), band up to p99; rows per placement /
    payload kind, one panel per procs; the pattern's baseline round trip as reference."""
    return size_grid(
        run, pattern_names=_names_in(units.TIME_NS), value=lambda r: r["p50_ns"],
        band=lambda r: r["p99_ns"] if "p99_ns" in r else r["p50_ns"],
        formatter=units.format_time_ns,
        title="Ping-pong latency vs message size (lower is better)",
        ylabel="round trip (p50; band to p99 if shown)", references=_own_baseline,
        note=_REF_NOTE if not run.baselines.empty else "")


def throughput_figure(run: Run) -> Figure | None:
    """Aggregate throughput (bytes/s) vs size for every bytes/s pattern; memcpy bandwidth
    (and the raw os.pipe stream) as references."""
    return size_grid(
        run, pattern_names=list(patterns.throughput_names()), value=lambda r: r["bytes_per_s"],
        formatter=units.format_rate_bytes,
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
    each throughput pattern, then the unsized patterns (the counter)."""
    panels = []
    for pattern in patterns.throughput_names():
        part = rows[rows["pattern"] == pattern]
        by_size = part.groupby("size_bytes")["procs"].nunique()
        panels += [(pattern, s) for s in scaling_sizes([s for s, n in by_size.items() if n > 1])]
    panels += [(name, 0) for name in _unsized_names() if (rows["pattern"] == name).any()]
    return panels


def _scaling_labels(ax, kind: patterns.Pattern, size: int) -> None:
    where = f"{format_size(size)} messages" if kind.sized else "no payload"
    ax.set_title(f"{kind.name}, {where}", fontsize=9)
    ax.set_xlabel(kind.procs_label)
    ax.set_ylabel(f"{kind.metric_label} (all processes)", fontsize=9)


def _scaling_panel(ax, run: Run, rows: pd.DataFrame, pattern: str, size: int,
                   columns: list[str]) -> list[float]:
    kind = patterns.get(pattern)
    if kind.sized:
        rows = rows[rows["size_bytes"] == size]
    metric = kind.metric
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
    # Unsized patterns (the counter) get their own baseline; the throughput baselines
    # are per size and drawn on the size charts instead.
    reference = None if kind.sized else baseline_value(run.baselines, kind.baseline, placement)
    if reference is not None:
        reference_line(ax, reference, f"baseline: {kind.baseline.label}",
                       f"{kind.baseline.label} {kind.format(reference)}")
        values.append(reference)
    low, high = limits(values)
    setup_log_y(ax, kind.format, low, high)
    ax.set_ylim(low / 1.5, high * 1.5)
    _scaling_labels(ax, kind, size)
    ax.grid(True, which="major", alpha=0.3)
    return values


def scaling_figure(run: Run) -> Figure | None:
    """Aggregate throughput (stream, fanout) and counter increments/s vs process count;
    one row per placement / payload kind."""
    ok = unique_cases(run.ok)
    drawn = [*patterns.throughput_names(), *_unsized_names()]
    ok = ok[ok["pattern"].isin(drawn)]
    panels = _scaling_panels(ok)
    if not panels:
        return None
    ok = ok[ok["pattern"].isin({p for p, _ in panels})]
    facets = facet_columns(ok, SPLIT_COLUMNS)
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
          left_out_note(run.frame, drawn) + noisy_note(ok))
    legend_below(fig, list(grid.ravel()), noisy=any(pd_bool(ok.get("noisy", []))))
    return fig

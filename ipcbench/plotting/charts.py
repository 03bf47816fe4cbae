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

from ipcbench.analysis.frames import (
    in_reading_order,
    iter_series,
    series_columns,
    series_label,
    unique_cases,
)
from ipcbench.analysis.runs import Run, baseline_value, left_out_note
from ipcbench.core import patterns, units
from ipcbench.core.sizes import format_size
from ipcbench.plotting.grid import (
    TOP_LINES,
    GridSpec,
    Reference,
    bytes_payload,
    limits,
    noisy_note,
    size_grid,
    top_series,
)
from ipcbench.plotting.style import (
    draw_series,
    dress,
    legend_below,
    noisy_points,
    reference_line,
    run_line,
    series_style,
    setup_log_y,
)

# The second reference line on throughput charts: what the kernel pipe itself moves with
# large writes (no pattern's efficiency baseline, so it is named here, once).
PIPE_STREAM = patterns.BaselineRef("os-pipe", patterns.STREAM.name, "bytes_per_s",
                                   "raw os.pipe stream, 1 MiB writes")


def _names_in(unit: str) -> list[str]:
    """Sized patterns whose figure of merit is in this unit (one chart per unit)."""
    return [n for n in patterns.sized_names() if patterns.get(n).unit == unit]


def _unsized_names() -> list[str]:
    """Patterns without a message size (the counter): charted against procs only. Not
    start-up and churn: their charts have a panel per worker count (plotting/startup.py)."""
    return [n for n in patterns.PATTERN_NAMES
            if not patterns.get(n).sized and not patterns.get(n).starts_workers]


def _own_baseline(run: Run, pattern: str, placement: str | None) -> list[Reference]:
    """The pattern's efficiency baseline (Pattern.baseline) as a reference line."""
    kind = patterns.get(pattern)
    value = baseline_value(run.baselines, kind.baseline, placement)
    if value is None:
        return []
    return [Reference(f"baseline: {kind.baseline.label}",
                      f"{kind.baseline.label} {kind.format(value)}", value)]


def _throughput_refs(run: Run, pattern: str, placement: str | None) -> list[Reference]:
    kind = patterns.get(pattern)
    refs = _own_baseline(run, pattern, placement)
    if kind.baseline.per_size:  # the largest copy: the memory line, out of the caches
        refs = [Reference("baseline: memcpy of 64 MiB (out of the caches)",
                          f"memcpy 64 MiB {kind.format(r.value)}", r.value) for r in refs]
    pipe = baseline_value(run.baselines, PIPE_STREAM, placement)
    if pipe is not None:
        refs.append(Reference(f"baseline: {PIPE_STREAM.label}",
                              f"raw os.pipe {units.format_rate_bytes(pipe)}", pipe, ":"))
    return refs


def _memcpy_by_size(run: Run, pattern: str, placement: str | None):
    """memcpy bandwidth at each message size the run measured it (below the 64 MiB
    line, cache-resident copies run several times faster: a correct channel's curve
    stays under this one)."""
    ref = patterns.get(pattern).baseline
    if not ref.per_size or run.baselines.empty:
        return None
    rows = run.baselines[(run.baselines["variant"] == ref.variant)
                         & (run.baselines["pattern"] == ref.pattern)]
    if placement is not None:
        rows = rows[rows["placement"] == placement]
    values = pd.to_numeric(rows[ref.column], errors="coerce")
    curve = values.groupby(rows["size_bytes"]).median().dropna()
    if len(curve) < 2:
        return None
    return f"baseline: {ref.label}", curve


_REF_NOTE = "; black lines: this run's hardware baselines for the panel's placement"


def latency_figure(run: Run) -> Figure | None:
    """p50 round-trip latency vs size (log-log), band up to p99; one panel row per
    placement, one column per procs; the pattern's baseline round trip as reference."""
    return size_grid(run, GridSpec(
        pattern_names=_names_in(units.TIME_NS), value=lambda r: r["p50_ns"],
        band=lambda r: r["p99_ns"] if "p99_ns" in r else r["p50_ns"],
        formatter=units.format_time_ns, higher_is_better=False,
        title="Ping-pong latency vs message size (lower is better)",
        ylabel="round trip (p50; band to p99)", references=_own_baseline,
        note=_REF_NOTE if not run.baselines.empty else ""))


def throughput_figures(run: Run) -> dict[str, Figure]:
    """Aggregate throughput (bytes/s) vs size, one file per bytes/s pattern (stream,
    fanout, workqueue): memcpy bandwidth and the raw os.pipe stream as references."""
    figures = {}
    for name in patterns.throughput_names():
        figure = size_grid(run, GridSpec(
            pattern_names=[name], value=lambda r: r["bytes_per_s"],
            formatter=units.format_rate_bytes, higher_is_better=True,
            title=f"{patterns.get(name).title.split(' (')[0]} vs message size "
                  "(higher is better)",
            ylabel="throughput (median)", references=_throughput_refs,
            note=_REF_NOTE if not run.baselines.empty else "", curve=_memcpy_by_size))
        if figure is not None:
            figures[f"throughput-{name}"] = figure
    return figures


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


def _scaling_rows(run: Run) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows measured at several process counts, one size per pattern (the middle of
    those measured at several counts; the counter has no size), bytes payload."""
    ok, _ = bytes_payload(unique_cases(run.ok))
    parts, sizes = [], {}
    for name in [*patterns.throughput_names(), *_unsized_names()]:
        part = ok[ok["pattern"] == name]
        by_size = part.groupby("size_bytes")["procs"].nunique()
        several = [int(s) for s, n in by_size.items() if n > 1]
        if not several:
            continue
        size = scaling_sizes(several)[len(scaling_sizes(several)) // 2]
        sizes[name] = size
        parts.append(part[part["size_bytes"] == size])
    rows = pd.concat(parts) if parts else ok.iloc[0:0]
    return rows, sizes


def _scaling_panel(ax, run: Run, rows: pd.DataFrame, kind: patterns.Pattern,
                   shown: list[dict], columns: list[str]) -> None:
    for key, series in iter_series(rows, columns):
        if key in shown:
            series = series.sort_values("procs")
            draw_series(ax, series["procs"], series["_y"], series_style(key),
                        series_label(key), series["_hollow"], markersize=4)
    procs_values = sorted(rows["procs"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(procs_values, [str(p) for p in procs_values])
    ax.minorticks_off()
    values = list(rows["_y"])
    placement = str(rows["placement"].iloc[0])
    # The counter gets its own baseline; the throughput baselines are per size and drawn
    # on the size charts instead.
    reference = None if kind.sized else baseline_value(run.baselines, kind.baseline, placement)
    if reference is not None:
        reference_line(ax, reference, f"baseline: {kind.baseline.label}",
                       f"{kind.baseline.label} {kind.format(reference)}")
        values.append(reference)
    low, high = limits(values)
    setup_log_y(ax, kind.format, low, high)
    ax.set_ylim(low / 1.5, high * 1.5)
    ax.set_xlabel(kind.procs_label, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)


def scaling_figure(run: Run) -> Figure | None:
    """Aggregate throughput (the bytes/s patterns) and counter increments/s vs process count,
    at one size per pattern; a panel row per placement. Only measured panels."""
    rows, sizes = _scaling_rows(run)
    if rows.empty:
        return None
    rows = rows.assign(_y=[r[patterns.get(r["pattern"]).metric] for _, r in rows.iterrows()],
                       _hollow=noisy_points(rows))
    placements = in_reading_order("placement", rows["placement"])
    names = list(sizes)
    fig = Figure(figsize=(4.3 * len(names) + 1.0, 3.0 * len(placements) + 2.6),
                 layout="constrained")
    grid = fig.subplots(len(placements), len(names), squeeze=False)  # units differ
    columns = series_columns(rows, ["placement"])
    shown = {n: top_series(rows[rows["pattern"] == n], columns,
                           patterns.get(n).higher_is_better) for n in names}
    drawn = []
    for i, placement in enumerate(placements):
        for j, name in enumerate(names):
            ax, kind = grid[i][j], patterns.get(name)
            part = rows[(rows["placement"] == placement) & (rows["pattern"] == name)]
            if part["procs"].nunique() < 2:
                ax.set_visible(False)
                continue
            drawn.append(ax)
            _scaling_panel(ax, run, part, kind, shown[name], columns)
            where = f"{format_size(sizes[name])} messages" if kind.sized else "no payload"
            ax.set_title(f"{placement} · {name}, {where}", fontsize=9)
            ax.set_ylabel(f"{kind.metric_label} (all processes)", fontsize=9)
    dress(fig, "Scaling with process count (higher is better)", run_line(run),
          left_out_note(run.frame, names) + f"; the {TOP_LINES} best channels per pattern"
          + noisy_note(rows))
    legend_below(fig, drawn, noisy=bool(rows["_hollow"].any()))
    return fig

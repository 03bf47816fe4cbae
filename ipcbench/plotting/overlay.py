"""Overlay charts for comparing runs: one colour per run (machine), one small panel per
channel (mechanism/variant), line style per process count, so the same case sits at the
same spot for every run.

One figure per pattern (and per placement / payload kind when the runs hold several:
never mixed), at most `top` panels (the channels that do best in run A) in a grid of
at most four columns, so 14+ mechanisms stay readable; `mechanisms` picks channels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ipcbench.analysis.compare import run_tags
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
from ipcbench.analysis.runs import Run
from ipcbench.core import patterns
from ipcbench.core.units import format_fraction
from ipcbench.plotting.style import (
    TITLE_FONTSIZE,
    fit_lines,
    legend_block,
    run_color,
    setup_log_y,
    setup_size_axis,
    usable_width_in,
)

TOP = 12
COLUMNS = 4
_PROCS_STYLES = ("-", "--", ":", "-.")
# An overlay needs lines of two runs at least; one run's lines alone are that run's own
# charts, and drawing them cost most of a quick-vs-reference compare.
MIN_RUNS = 2


@dataclass(frozen=True)
class Overlays:
    """The overlay charts of a comparison, and the stems of those not drawn because
    fewer than MIN_RUNS runs have data for them."""

    figures: dict[str, Figure]
    skipped: tuple[str, ...]


def _rows(runs: Sequence[Run], pattern: str, column: str,
          mechanisms: Sequence[str] | None) -> pd.DataFrame:
    frames = []
    for index, run in enumerate(runs):
        rows = unique_cases(run.ok[run.ok["pattern"] == pattern]).copy()
        rows["_run"] = index
        frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    if mechanisms:
        rows = rows[rows["mechanism"].isin(mechanisms)]
    if column not in rows:
        return rows.iloc[0:0]
    return rows[pd.to_numeric(rows[column], errors="coerce") > 0]


def _ranked_keys(rows: pd.DataFrame, columns: list[str], column: str,
                 higher_is_better: bool) -> list[dict]:
    """Series keys, best first by the geometric mean of the metric in the first run
    that measured them (run A when it did)."""
    scored = []
    for key, series in iter_series(rows, columns):
        first = series[series["_run"] == series["_run"].min()]
        score = float(np.exp(np.log(first[column].astype(float)).mean()))
        scored.append((-score if higher_is_better else score, series_label(key), key))
    return [key for *_, key in sorted(scored, key=lambda item: item[:2])]


def _panel(ax, cell: pd.DataFrame, runs: Sequence[Run], tags: list[str], column: str,
           by_size: bool) -> None:
    x_column = "size_bytes" if by_size else "procs"
    procs_values = sorted(cell["procs"].unique()) if by_size else [None]
    for index, run in enumerate(runs):
        for k, procs in enumerate(procs_values):
            line = cell[cell["_run"] == index]
            if procs is not None:
                line = line[line["procs"] == procs]
            line = line.sort_values(x_column)
            if line.empty:
                continue
            # Later runs draw thinner, so identical runs stay visible underneath.
            ax.plot(line[x_column], line[column].astype(float), marker="o", markersize=3,
                    linestyle=_PROCS_STYLES[k % len(_PROCS_STYLES)],
                    linewidth=max(1.0, 2.4 - 0.6 * index), color=run_color(index),
                    label=f"{tags[index]}: {run.label}")


def overlay_figure(runs: Sequence[Run], pattern: str, *, metric: str = "time",
                   mechanisms: Sequence[str] | None = None, top: int = TOP,
                   facet: dict | None = None) -> Figure | None:
    """Panels = channels (best in run A first, at most `top`), lines = runs x procs."""
    kind = patterns.get(pattern)
    column, higher = (("efficiency", True) if metric == "efficiency"
                      else (kind.metric, kind.higher_is_better))
    rows = _rows(runs, pattern, column, mechanisms)
    for key, value in (facet or {}).items():
        rows = rows[rows[key] == value]
    if rows.empty:
        return None
    if rows["_run"].nunique() < MIN_RUNS:
        return None
    columns = series_columns(rows, SPLIT_COLUMNS)
    # A channel one run alone measured has nothing to be overlaid with.
    runs_per_series = rows.groupby(columns, dropna=False)["_run"].transform("nunique")
    lone = len(list(iter_series(rows[runs_per_series < MIN_RUNS], columns)))
    rows = rows[runs_per_series >= MIN_RUNS]
    if rows.empty:
        return None
    keys = _ranked_keys(rows, columns, column, higher)
    shown = keys[:top]
    n_cols = min(COLUMNS, len(shown))
    n_rows = math.ceil(len(shown) / n_cols)
    fig = Figure(figsize=(max(6.0, 3.4 * n_cols + 0.8), 2.6 * n_rows + 2.4), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True).ravel()
    by_size = kind.sized
    tags = run_tags(len(runs))
    formatter = format_fraction if metric == "efficiency" else kind.format
    values = rows[column].astype(float)
    for ax, key in zip(axes, shown, strict=False):
        mask = pd.Series(True, index=rows.index)
        for name, value in key.items():
            mask &= rows[name] == value
        _panel(ax, rows[mask], runs, tags, column, by_size)
        ax.set_title(series_label(key), fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        if by_size:
            setup_size_axis(ax, rows["size_bytes"].unique())
        else:
            ax.set_xscale("log", base=2)
            ticks = sorted(rows["procs"].unique())
            ax.set_xticks(ticks, [str(p) for p in ticks])
            ax.set_xlabel("processes")
        setup_log_y(ax, formatter, values.min(), values.max())
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    for i, ax in enumerate(axes[: len(shown)]):
        if i + n_cols < len(shown):
            ax.set_xlabel("")  # the panel below carries it
        else:  # no panel below: shared x would hide this bottom panel's tick labels
            ax.tick_params(axis="x", labelbottom=True)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("efficiency" if metric == "efficiency" else kind.metric_label)
    title = kind.title if metric != "efficiency" else (
        f"{pattern} efficiency vs each run's own baseline (higher is better)")
    where = f" · {facet_label(facet)}" if facet else ""
    fig.suptitle(fit_lines(f"{title}: runs overlaid{where}", TITLE_FONTSIZE,
                           usable_width_in(fig)), fontsize=TITLE_FONTSIZE)
    _overlay_legend(fig, runs, rows, by_size, len(shown), len(keys), lone)
    return fig


def _overlay_legend(fig: Figure, runs: Sequence[Run], rows: pd.DataFrame, by_size: bool,
                    shown: int, total: int, lone: int) -> None:
    """Caption (how many channels are shown) and one legend: runs, then procs styles."""
    left = total - shown
    note = f"best {shown} of {total} channels in run A first" + (
        f"; {left} more not shown (pick with --mechanism)" if left else "") + (
        f"; {lone} measured in one run only, not overlaid" if lone else "")
    fig._ipcbench_caption = note  # noqa: SLF001 - read by legend_block
    tags = run_tags(len(runs))
    handles = {f"{tags[i]}: {run.label}": Line2D([], [], color=run_color(i), marker="o",
                                                 markersize=3) for i, run in enumerate(runs)}
    if by_size:
        for k, procs in enumerate(sorted(rows["procs"].unique())):
            handles[f"procs = {procs}"] = Line2D(
                [], [], color="#555555", linestyle=_PROCS_STYLES[k % len(_PROCS_STYLES)])
    legend_block(fig, handles)


def _slug(value: object) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(value)).strip("-").lower()


def overlay_set(runs: Sequence[Run], *, metric: str = "time",
                mechanisms: Sequence[str] | None = None, top: int = TOP) -> Overlays:
    """One overlay per pattern (and per placement / payload kind when the runs hold
    several) that at least MIN_RUNS runs measured; the others are only counted (no
    figure is built for them)."""
    figures, skipped = {}, []
    for pattern in patterns.PATTERN_NAMES:
        if metric == "efficiency" and not patterns.get(pattern).sized:
            continue  # one size only: the counter's efficiency is in the tables
        kind = patterns.get(pattern)
        column = "efficiency" if metric == "efficiency" else kind.metric
        rows = _rows(runs, pattern, column, mechanisms)
        if rows.empty:
            continue
        facets = facet_columns(rows, SPLIT_COLUMNS)
        for key, facet_rows in iter_facets(rows, facets):
            stem = f"compare_{pattern}" + "".join(f"_{_slug(v)}" for v in key.values())
            if facet_rows["_run"].nunique() < MIN_RUNS:
                skipped.append(stem)
                continue
            figure = overlay_figure(runs, pattern, metric=metric, mechanisms=mechanisms,
                                    top=top, facet=key)
            if figure is None:
                skipped.append(stem)  # no channel measured by two runs
            else:
                figures[stem] = figure
    return Overlays(figures, tuple(skipped))


def overlay_figures(runs: Sequence[Run], *, metric: str = "time",
                    mechanisms: Sequence[str] | None = None, top: int = TOP
                    ) -> dict[str, Figure]:
    """File stem -> overlay figure (see overlay_set)."""
    return overlay_set(runs, metric=metric, mechanisms=mechanisms, top=top).figures


def skipped_line(skipped: Sequence[str]) -> str:
    """One line for the terminal and compare.md: how many overlays were not drawn."""
    count = len(skipped)
    return f"{count} overlay chart{'s' if count != 1 else ''} skipped: data in one run only"

"""The panel grid every "figure vs message size" chart shares.

Panel rows and columns are case-key dimensions (placement x procs for latency, pattern x
placement for the cost charts), lines are channels. Only panels that hold measurements
are drawn; placements and payload kinds are never mixed in one panel (a same-core and a
cross-core line of one channel would read as two channels). A panel shows the `TOP_LINES`
channels that do best over the whole figure (the same ones in every panel, so a colour
means one thing), with the in-run baselines as labelled reference lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ipcbench.analysis.frames import (
    SPLIT_COLUMNS,
    facet_columns,
    facet_label,
    in_reading_order,
    iter_facets,
    iter_series,
    series_columns,
    series_label,
    unique_cases,
)
from ipcbench.analysis.runs import Run, left_out_note
from ipcbench.core import patterns
from ipcbench.core.schema import DEFAULT_PAYLOAD
from ipcbench.plotting.style import (
    MIN_FIGURE_WIDTH_IN,
    REFERENCE_COLOR,
    draw_series,
    dress,
    legend_below,
    noisy_points,
    reference_line,
    run_line,
    series_style,
    setup_log_y,
    setup_size_axis,
)

# Lines per panel: more than this and a reader cannot follow one channel across panels.
TOP_LINES = 6
# Spread bands of more lines than this overlap into one tinted mass.
MAX_BANDS = 3
PANEL_WIDTH_IN, PANEL_HEIGHT_IN = 4.3, 2.9


@dataclass(frozen=True)
class Reference:
    """One horizontal reference line: its legend label, its in-panel text, its y."""

    label: str
    text: str
    value: float
    linestyle: str = "--"


# (run, pattern, placement or None) -> reference lines for that panel.
References = Callable[[Run, str, "str | None"], list[Reference]]


def procs_text(pattern: str, procs: int) -> str:
    """What a panel's process count means for its pattern: 'consumer processes: 2'."""
    return f"{patterns.get(pattern).procs_label}: {procs}"


def _positive(values) -> np.ndarray:
    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    return array[np.isfinite(array) & (array > 0)]


def limits(*columns) -> tuple[float, float]:
    parts = [_positive(c) for c in columns]
    values = np.concatenate(parts) if parts else np.array([])
    return (float(values.min()), float(values.max())) if values.size else (1.0, 10.0)


def noisy_note(rows: pd.DataFrame) -> str:
    count = int(noisy_points(rows).sum()) if not rows.empty else 0
    return f"; {count} of {len(rows)} points hollow (noisy)" if count else ""


def bytes_payload(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The default payload's rows when a run holds several kinds (other kinds are a
    question of their own: the ranking charts and the report show them), and a note."""
    if "payload" not in rows or rows["payload"].nunique() < 2:
        return rows, ""
    if not (rows["payload"] == DEFAULT_PAYLOAD).any():
        return rows, ""
    others = sorted(set(rows["payload"]) - {DEFAULT_PAYLOAD})
    return (rows[rows["payload"] == DEFAULT_PAYLOAD],
            f"; {DEFAULT_PAYLOAD} payload only ({', '.join(others)}: see the report)")


def top_series(rows: pd.DataFrame, columns: list[str], higher_is_better: bool,
               top: int = TOP_LINES) -> list[dict]:
    """The `top` series that do best over all cells (geometric mean of each point's
    ratio to the best of its cell), best first."""
    cell = [c for c in ("pattern", *SPLIT_COLUMNS, "size_bytes", "procs") if c in rows]
    y = rows["_y"].astype(float)
    best = y.groupby([rows[c] for c in cell]).transform("max" if higher_is_better else "min")
    score = np.log(best / y if higher_is_better else y / best)
    scored = []
    for key, part in iter_series(rows.assign(_score=score), columns):
        # A series measured in few cells must not win by skipping the hard ones.
        coverage = len(part) / max(1, rows.groupby(cell).ngroups)
        scored.append((float(part["_score"].mean()) + (1 - coverage), series_label(key), key))
    scored.sort(key=lambda item: item[:2])
    return [key for _, _, key in scored[:top]]


def _panel_bests(facet_list, spec, columns: list[str], shown: list[dict]) -> list[dict]:
    """The best series of every panel none of the `shown` ones is in (Queue with 3
    producers is the only channel of its panels): a panel with rows is never
    drawn empty."""
    extra: list[dict] = []
    for _, facet_rows in facet_list:
        for _, panel in facet_rows.groupby(spec.col_dim, sort=False):
            keys = [key for key, _ in iter_series(panel, columns)]
            if keys and not any(key in shown or key in extra for key in keys):
                extra += top_series(panel, columns, spec.higher_is_better, top=1)
    return extra


def _draw_panel(ax, panel: pd.DataFrame, columns: list[str], shown: list[dict],
                banded: bool) -> None:
    """One panel: a line per shown series over the panel's sizes, shaded to its band."""
    sizes = sorted(panel["size_bytes"].unique())
    for series_key, series in iter_series(panel, columns):
        if series_key not in shown:
            continue
        # Reindex on the panel's sizes: a missing size breaks the line (NaN)
        # instead of silently joining its neighbours.
        data = series.set_index("size_bytes").reindex(sizes)
        style = series_style(series_key)
        draw_series(ax, sizes, data["_y"], style, series_label(series_key), data["_hollow"])
        if banded:
            ax.fill_between(sizes, data["_y"], data["_band"], color=style["color"],
                            alpha=0.12, linewidth=0)
    setup_size_axis(ax, sizes)


def _draw_curve(ax, panel: pd.DataFrame, label: str, values: pd.Series) -> list[float]:
    """A size-dependent baseline over the panel's sizes, as a thin black line."""
    sizes = sorted(panel["size_bytes"].unique())
    values = values[(values.index >= min(sizes)) & (values.index <= max(sizes))]
    if values.empty:
        return []
    ax.plot(values.index, values.to_numpy(float), color=REFERENCE_COLOR,
            linestyle="-.", linewidth=1.1, label=label, zorder=1)
    return values.tolist()


def _rows_to_draw(run: Run, pattern_names: Sequence[str], value, band) -> pd.DataFrame:
    rows = unique_cases(run.ok[run.ok["pattern"].isin(pattern_names)]).copy()
    if rows.empty:
        return rows
    rows["_y"] = pd.to_numeric(value(rows), errors="coerce")
    rows["_band"] = pd.to_numeric(band(rows), errors="coerce") if band else math.nan
    rows["_hollow"] = noisy_points(rows)
    return rows[rows["_y"] > 0]


@dataclass(frozen=True)
class GridSpec:
    """What one size chart draws: its patterns, y value and formatting, which case-key
    dimensions make panel rows and columns, and which y is better."""

    pattern_names: Sequence[str]
    value: Callable[[pd.DataFrame], pd.Series]
    formatter: Callable[[float], str]
    title: str
    ylabel: str
    higher_is_better: bool
    band: Callable[[pd.DataFrame], pd.Series] | None = None
    references: References | None = None
    note: str = ""
    row_dims: tuple[str, ...] = ("pattern", "placement")
    col_dim: str = "procs"
    # Keep only the smallest process count (charts whose columns are not procs).
    smallest_procs: bool = False
    # A baseline that varies with size (memcpy at the message size): (run, pattern,
    # placement) -> (legend label, y by size_bytes) or None.
    curve: Callable[[Run, str, str | None], tuple[str, pd.Series] | None] | None = None


def _panel_title(key: dict, column: object, spec: GridSpec, pattern: str) -> str:
    where = facet_label(key)
    what = (procs_text(pattern, int(column)) if spec.col_dim == "procs"
            else f"{column}")
    return ", ".join(t for t in (where, what) if t)


def _prepare(run: Run, spec: GridSpec) -> tuple[pd.DataFrame, str]:
    rows = _rows_to_draw(run, spec.pattern_names, spec.value, spec.band)
    rows, note = bytes_payload(rows)
    if spec.smallest_procs and not rows.empty:
        fewest = rows["procs"].min()
        if rows["procs"].nunique() > 1:
            note += f"; {fewest} process{'es' if fewest > 1 else ''} (pair) per case only"
        rows = rows[rows["procs"] == fewest]
    return rows, note


def size_grid(run: Run, spec: GridSpec) -> Figure | None:
    """The chart of `spec` for one run, or None when it has nothing to draw."""
    rows, payload_note = _prepare(run, spec)
    if rows.empty:
        return None
    row_facets = facet_columns(rows, [d for d in spec.row_dims if d != spec.col_dim])
    columns = series_columns(rows, [*row_facets, spec.col_dim])
    shown = top_series(rows, columns, spec.higher_is_better)
    col_values = in_reading_order(spec.col_dim, rows[spec.col_dim])
    facet_list = list(iter_facets(rows, row_facets))
    fillers = _panel_bests(facet_list, spec, columns, shown)
    top, shown = len(shown), shown + fillers
    fig = Figure(figsize=(max(PANEL_WIDTH_IN * len(col_values) + 1.0, MIN_FIGURE_WIDTH_IN),
                          PANEL_HEIGHT_IN * len(facet_list) + 2.6), layout="constrained")
    grid = fig.subplots(len(facet_list), len(col_values), squeeze=False, sharey=True)
    drawn, ref_values, banded = [], [], False
    for i, (key, facet_rows) in enumerate(facet_list):
        for j, column in enumerate(col_values):
            ax, panel = grid[i][j], facet_rows[facet_rows[spec.col_dim] == column]
            if panel.empty:
                ax.set_visible(False)  # not measured: no panel rather than an empty one
                continue
            drawn.append(ax)
            pattern = str(panel["pattern"].iloc[0])
            ax.set_title(_panel_title(key, column, spec, pattern), fontsize=9)
            ax.grid(True, which="major", alpha=0.3)
            ax.set_ylabel(spec.ylabel if j == 0 else "", fontsize=9)
            # Bands of many channels overlap into one grey mass: only shade a few.
            shade = spec.band is not None and len(shown) <= MAX_BANDS
            banded |= shade
            _draw_panel(ax, panel, columns, shown, shade)
            placement = str(panel["placement"].iloc[0]) if panel["placement"].nunique() == 1 \
                else None
            for ref in spec.references(run, pattern, placement) if spec.references else []:
                reference_line(ax, ref.value, ref.label, ref.text, ref.linestyle)
                ref_values.append(ref.value)
            curve = spec.curve(run, pattern, placement) if spec.curve else None
            if curve is not None:
                ref_values += _draw_curve(ax, panel, *curve)
    low, high = limits(rows["_y"], rows["_band"] if banded else [], ref_values)
    for ax in drawn:
        setup_log_y(ax, spec.formatter, low, high)
    drawn[0].set_ylim(low / 1.6, high * 1.6)
    total = len(list(iter_series(rows, columns)))
    caption = left_out_note(run.frame, [p for p in spec.pattern_names
                                        if p in set(rows["pattern"])])
    if spec.band is not None and not banded:
        caption += f"; spread bands only with at most {MAX_BANDS} lines"
    if total > len(shown):
        also = " and the best of any panel without one of them" if fillers else ""
        caption += (f"; the {top} best of {total} channels over all panels{also} (every "
                    "channel: ranking charts and the report)")
    dress(fig, spec.title, run_line(run), caption + payload_note + noisy_note(rows) + spec.note)
    legend_below(fig, drawn, noisy=bool(rows["_hollow"].any()))
    return fig

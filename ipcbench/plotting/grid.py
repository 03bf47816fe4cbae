"""The panel grid every "figure vs message size" chart shares.

Rows are facets (pattern, placement, payload kind: whichever vary in the rows drawn),
columns are process counts, lines are channels (mechanism/variant, coloured by
mechanism). Placements and payload kinds are never mixed in one panel: a same-core and a
cross-core line of one channel would read as two channels. In-run baselines are drawn as
labelled reference lines for the panel's own placement; noisy rows get hollow markers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ipcbench import patterns
from ipcbench.analysis.frames import (
    facet_columns,
    facet_label,
    iter_facets,
    iter_series,
    series_columns,
    series_label,
    unique_cases,
)
from ipcbench.analysis.runs import Run, left_out_note
from ipcbench.plotting.style import (
    draw_series,
    dress,
    legend_below,
    pd_bool,
    reference_line,
    run_line,
    series_style,
    setup_log_y,
    setup_size_axis,
)


@dataclass(frozen=True)
class Reference:
    """One horizontal reference line: its legend label, its in-panel text, its y."""

    label: str
    text: str
    value: float
    linestyle: str = "--"


MAX_BANDS = 6

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


def new_grid(n_rows: int, n_cols: int, *, width_in: float = 4.6, height_in: float = 3.3):
    fig = Figure(figsize=(width_in * n_cols + 3.2, height_in * n_rows + 1.4),
                 layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey=True)
    return fig, axes


def noisy_note(rows: pd.DataFrame) -> str:
    if "noisy" not in rows:
        return ""
    count = sum(pd_bool(rows["noisy"]))
    return f"; {count} of {len(rows)} points noisy (hollow markers)" if count else ""


def _placement(key: dict, panel: pd.DataFrame) -> str | None:
    if "placement" in key:
        return str(key["placement"])
    values = panel["placement"].dropna().unique() if "placement" in panel else []
    return str(values[0]) if len(values) == 1 else None


def _draw_panel(ax, panel: pd.DataFrame, columns: list[str], banded: bool) -> None:
    """One panel: a line per series over the panel's sizes, shaded to its band."""
    sizes = sorted(panel["size_bytes"].unique())
    for series_key, series in iter_series(panel, columns):
        # Reindex on the panel's sizes: a missing size breaks the line (NaN)
        # instead of silently joining its neighbours.
        data = series.set_index("size_bytes").reindex(sizes)
        style = series_style(series_key)
        draw_series(ax, sizes, data["_y"], style, series_label(series_key),
                    data["noisy"] if "noisy" in data else None)
        if banded:
            ax.fill_between(sizes, data["_y"], data["_band"], color=style["color"],
                            alpha=0.12, linewidth=0)
    setup_size_axis(ax, sizes)


def _rows_to_draw(run: Run, pattern_names: Sequence[str], value, band) -> pd.DataFrame:
    rows = unique_cases(run.ok[run.ok["pattern"].isin(pattern_names)]).copy()
    if rows.empty:
        return rows
    rows["_y"] = pd.to_numeric(value(rows), errors="coerce")
    rows["_band"] = pd.to_numeric(band(rows), errors="coerce") if band else math.nan
    return rows[rows["_y"] > 0]


def size_grid(
    run: Run,
    *,
    pattern_names: Sequence[str],
    value: Callable[[pd.DataFrame], pd.Series],
    formatter: Callable[[float], str],
    title: str,
    ylabel: str,
    band: Callable[[pd.DataFrame], pd.Series] | None = None,
    references: References | None = None,
    note: str = "",
) -> Figure | None:
    """value(rows) gives the y of each row (NaN / <= 0 = not drawn); band(rows) an
    optional upper edge shaded from the line (e.g. p99 above p50)."""
    rows = _rows_to_draw(run, pattern_names, value, band)
    if rows.empty:
        return None
    facets = facet_columns(rows)
    columns = series_columns(rows, facets)
    procs_values = sorted(rows["procs"].unique())
    facet_list = list(iter_facets(rows, facets))
    fig, grid = new_grid(len(facet_list), len(procs_values))
    ref_values: list[float] = []
    banded = False
    drawn_axes = []
    for i, (key, facet_rows) in enumerate(facet_list):
        pattern = key.get("pattern") or facet_rows["pattern"].iloc[0]
        for j, procs in enumerate(procs_values):
            ax = grid[i][j]
            drawn_axes.append(ax)
            panel = facet_rows[facet_rows["procs"] == procs]
            heading = ", ".join(t for t in (facet_label(key), procs_text(pattern, procs)) if t)
            ax.set_title(heading, fontsize=9)
            ax.grid(True, which="major", alpha=0.3)
            if j == 0:
                ax.set_ylabel(ylabel, fontsize=9)
            if panel.empty:
                ax.text(0.5, 0.5, "not measured", ha="center", va="center",
                        transform=ax.transAxes, color="#777777")
                continue
            # Bands of many channels overlap into one grey mass: only shade a few.
            shade = band is not None and panel.groupby(columns).ngroups <= MAX_BANDS
            banded |= shade
            _draw_panel(ax, panel, columns, shade)
            for ref in references(run, pattern, _placement(key, panel)) if references else []:
                reference_line(ax, ref.value, ref.label, ref.text, ref.linestyle)
                ref_values.append(ref.value)
    low, high = limits(rows["_y"], rows["_band"], ref_values)
    for ax in drawn_axes:
        setup_log_y(ax, formatter, low, high)
    grid[0][0].set_ylim(low / 1.6, high * 1.6)
    caption = left_out_note(run.frame, [p for p in pattern_names if p in set(rows["pattern"])])
    if band is not None and not banded:
        caption += f"; spread bands omitted (more than {MAX_BANDS} channels per panel)"
    dress(fig, title, run_line(run), caption + noisy_note(rows) + note)
    legend_below(fig, drawn_axes, noisy="noisy" in rows and any(pd_bool(rows["noisy"])))
    return fig

"""'Which channel should I use?': the fastest series per (size, procs) cell and its
margin over the runner-up, as a table (pure) and as a coloured map.

A winner is named only when it is clearly ahead: its paired ratio's CI (measured in the
same blocks as its rivals, core/paired.py) lies below the runner-up's. Otherwise the
cell is a tie (`≈`), whatever the margin: on a cloud VM half of the cells a fixed 5%
margin called confident named another channel on a rerun. Rows without paired ratios
(older result files) fall back to that 5% margin.

Like with like: a channel whose procs mean something else than its pattern's (its
mechanism declares it, core/traits.py: the executor's ping-pong is one task at a time
through procs pool workers, not procs pairs) is never a cell's winner or runner-up at
more than one proc; the table names it in `not_ranked`, the map says so in one line."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ipcbench.analysis.frames import (
    SPLIT_COLUMNS,
    facet_columns,
    facet_label,
    reading_rank,
    series_columns,
    series_label,
    unique_cases,
)
from ipcbench.analysis.runs import Run, left_out_note, measured
from ipcbench.core import patterns
from ipcbench.core.paired import clearly_ahead
from ipcbench.core.schema import DEFAULT_PAYLOAD
from ipcbench.core.sizes import format_size
from ipcbench.core.traits import ChannelTraits
from ipcbench.core.units import format_lead
from ipcbench.mechanisms import channel_traits
from ipcbench.plotting.style import dress, legend_block, run_line, text_width_in

BEST_COLUMNS = ("placement", "payload", "size_bytes", "procs", "winner", "winner_mechanism",
                "winner_variant", "value", "cpu_s_per_msg", "efficiency", "runner_up",
                "runner_up_value", "margin", "clear", "candidates", "not_ranked")
_FACETS = SPLIT_COLUMNS


def _apart(rows: pd.DataFrame, pattern: str, traits: ChannelTraits) -> pd.Series:
    return pd.Series([traits.unlike(str(m), pattern, int(n))
                      for m, n in zip(rows["mechanism"], rows["procs"], strict=True)],
                     index=rows.index, dtype=bool)


def best_table(frame: pd.DataFrame, pattern: str,
               traits: ChannelTraits | None = None) -> pd.DataFrame:
    """Per (placement, payload, size_bytes, procs): the best ok channel by the pattern's
    metric (baseline rows are references, never candidates).

    `margin` is how much better the winner is than the runner-up, as a fraction
    (0.25 = the runner-up has 25% more latency / 20% less throughput); NaN when only
    one series was measured in that cell. `not_ranked`: the cell's channels whose procs
    mean something else (traits: the registry's by default), comma-separated."""
    traits = channel_traits() if traits is None else traits
    kind = patterns.get(pattern)
    metric, higher_is_better = kind.metric, kind.higher_is_better
    rows = unique_cases(measured(frame[(frame["status"] == "ok") & (frame["pattern"] == pattern)]))
    rows = rows[pd.to_numeric(rows[metric], errors="coerce") > 0]
    columns = series_columns(rows, _FACETS)
    records = []
    cells = rows.groupby([*_FACETS, "size_bytes", "procs"], sort=True)
    for (placement, payload, size, procs), cell in cells:
        apart = _apart(cell, pattern, traits)
        if apart.all():
            continue  # nothing to rank it against: its own cell is not a comparison
        ranked = cell[~apart].sort_values(metric, ascending=not higher_is_better)
        first = ranked.iloc[0]
        record = {
            "placement": placement,
            "payload": payload,
            "size_bytes": int(size),
            "procs": int(procs),
            "winner": series_label({c: first[c] for c in columns}),
            "winner_mechanism": first["mechanism"],
            "winner_variant": first["variant"],
            "value": float(first[metric]),
            "cpu_s_per_msg": float(first.get("cpu_s_per_msg", math.nan)),
            "efficiency": float(first.get("efficiency", math.nan)),
            "runner_up": "",
            "runner_up_value": math.nan,
            "margin": math.nan,
            "clear": False,
            "candidates": len(ranked),
            "not_ranked": ", ".join(sorted(series_label({c: r[c] for c in columns})
                                           for _, r in cell[apart].iterrows())),
        }
        if len(ranked) > 1:
            second = ranked.iloc[1]
            record["runner_up"] = series_label({c: second[c] for c in columns})
            record["runner_up_value"] = float(second[metric])
            a, b = float(first[metric]), float(second[metric])
            record["margin"] = a / b - 1 if higher_is_better else b / a - 1
            record["clear"] = clearly_ahead(first, second, record["margin"])
        records.append(record)
    return pd.DataFrame(records, columns=list(BEST_COLUMNS))


# Widest figure: 1800 px at the charts' DPI fits a laptop screen without scaling the
# cell text down; wider maps get rows of panels instead.
MAX_WIDTH_IN = 18.0
NAME_FONTSIZE, FIGURE_FONTSIZE = 9.0, 8.0
_CELL_HEIGHT_IN = 0.5
_MIN_CELL_WIDTH_IN = 1.2
# Beside the cells of a panel: size tick labels and the axis label; above and below:
# the panel title, the procs ticks and label.
_PANEL_SIDE_IN, _PANEL_FRAME_IN = 1.0, 1.1
_HEADER_IN, _FOOTER_IN = 0.9, 1.3
# Qualitative and far apart (tab10 without its grey, and a dark indigo): colours are
# for the channels that win most often; the rest share the neutral and are read by the
# name written in their cells.
WINNER_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                  "#e377c2", "#bcbd22", "#17becf", "#393b79")
OTHER_WINNER = "#d0d0d0"
NOT_MEASURED = "#ffffff"
# A tie (or a channel without rival) is drawn this far towards white.
_TIE_STRENGTH = 0.45
TIE_NOTE = "≈ = a tie (the paired CIs of winner and runner-up overlap)"


def _figure_line(record: pd.Series, pattern: str) -> str:
    value = patterns.get(pattern).format(record["value"])
    if math.isnan(record["margin"]):
        return f"{value} (only one)"
    return f"{value} ({format_lead(record['margin'])})"


def _name_line(record: pd.Series) -> str:
    tie = "" if record["clear"] or math.isnan(record["margin"]) else "≈ "
    return f"{tie}{record['winner']}"


def _cell_text(record: pd.Series, pattern: str) -> str:
    """The cell's text as one string (name, then figure and margin)."""
    return f"{_name_line(record)}\n{_figure_line(record, pattern)}"


def _luminance(rgb) -> float:
    """WCAG relative luminance of an sRGB colour."""
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_color(background) -> str:
    """Black or white, whichever contrasts more with the cell (WCAG contrast ratio)."""
    lum = _luminance(to_rgb(background))
    return "black" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "white"


def winner_colors(tables: list[pd.DataFrame]) -> dict[str, str]:
    """Winner label -> colour, for the channels that win most cells (then by name);
    later winners are left out and drawn in the neutral OTHER_WINNER."""
    counts: dict[str, int] = {}
    for table in tables:
        for winner in table["winner"]:
            counts[winner] = counts.get(winner, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return dict(zip(ranked, WINNER_PALETTE, strict=False))


def _cell_rgb(record: pd.Series, colors: dict[str, str]) -> np.ndarray:
    rgb = np.array(to_rgb(colors.get(record["winner"], OTHER_WINNER)))
    decided = record["clear"] and not math.isnan(record["margin"])
    # Paler = no decision: a saturated cell is a clear win, a pale one a coin toss.
    return rgb if decided else 1 - _TIE_STRENGTH * (1 - rgb)


def _draw_map(ax, table: pd.DataFrame, pattern: str, colors: dict[str, str]) -> None:
    sizes = sorted(table["size_bytes"].unique())
    procs_values = sorted(table["procs"].unique())
    image = np.ones((len(sizes), len(procs_values), 3)) * np.array(to_rgb(NOT_MEASURED))
    for _, record in table.iterrows():
        i, j = sizes.index(record["size_bytes"]), procs_values.index(record["procs"])
        image[i, j] = _cell_rgb(record, colors)
        ink = text_color(image[i, j])
        ax.text(j, i - 0.08, _name_line(record), ha="center", va="bottom",
                fontsize=NAME_FONTSIZE, color=ink)
        ax.text(j, i + 0.08, _figure_line(record, pattern), ha="center", va="top",
                fontsize=FIGURE_FONTSIZE, color=ink)
    measured_cells = {(r["size_bytes"], r["procs"]) for _, r in table.iterrows()}
    for i, size in enumerate(sizes):
        for j, procs in enumerate(procs_values):
            if (size, procs) not in measured_cells:
                ax.text(j, i, "not measured", ha="center", va="center",
                        fontsize=FIGURE_FONTSIZE, color="#888888")
    ax.imshow(image, aspect="auto")
    ax.set_xticks(range(len(procs_values)), [str(p) for p in procs_values])
    ax.set_yticks(range(len(sizes)), [format_size(int(s)) for s in sizes])
    ax.set_xlabel(patterns.get(pattern).procs_label)
    ax.set_ylabel("message size")
    ax.set_xticks(np.arange(-0.5, len(procs_values)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(sizes)), minor=True)
    ax.grid(which="minor", color="#bbbbbb", linewidth=1)
    ax.tick_params(which="minor", length=0)


def _map_title(pattern: str) -> str:
    """'stream: highest throughput', 'pingpong: lowest p50 round trip'."""
    kind = patterns.get(pattern)
    return f"{kind.name}: {'highest' if kind.higher_is_better else 'lowest'} {kind.metric_label}"


def _cell_width_in(tables: dict[str, pd.DataFrame]) -> float:
    """Wide enough for the longest name and figure line written in any cell."""
    widest = 0.0
    for pattern, table in tables.items():
        for _, record in table.iterrows():
            widest = max(widest,
                         text_width_in(_name_line(record), NAME_FONTSIZE),
                         text_width_in(_figure_line(record, pattern), FIGURE_FONTSIZE))
    return max(_MIN_CELL_WIDTH_IN, widest + 0.2)


def _layout(panels: list[tuple[str, dict]], facet_count: int, panel_width_in: float
            ) -> list[list[tuple[str, dict]]]:
    """Panels in rows that fit MAX_WIDTH_IN: one pattern per row (its placements side
    by side, wrapped when too many) or, with a single placement, the patterns flowing
    in balanced rows."""
    fit = max(1, int((MAX_WIDTH_IN - 0.4) // panel_width_in))
    if facet_count > 1:
        groups: dict[str, list] = {}
        for panel in panels:
            groups.setdefault(panel[0], []).append(panel)
        chunks = [group for group in groups.values()]
    else:
        chunks = [panels]
    rows = []
    for chunk in chunks:
        count = math.ceil(len(chunk) / fit)
        per_row = math.ceil(len(chunk) / count)
        rows += [chunk[k:k + per_row] for k in range(0, len(chunk), per_row)]
    return rows


def not_ranked_note(tables: dict[str, pd.DataFrame],
                    traits: ChannelTraits | None = None) -> str:
    """"; not ranked at 2+ procs: executor/pool (pingpong procs = pool workers, one
    request in flight)": the channels best_table kept apart, "" when none."""
    traits = channel_traits() if traits is None else traits
    parts = []
    for pattern, table in tables.items():
        names = sorted({n for cell in table["not_ranked"] for n in cell.split(", ") if n})
        meanings = sorted({traits.procs_meaning(n.split("/")[0], pattern) for n in names}
                          - {""})
        if names:
            parts.append(f"{', '.join(names)} ({pattern} procs = {'; '.join(meanings)})")
    return f"; not ranked at 2+ procs: {'; '.join(parts)}" if parts else ""


def best_map_figure(run: Run) -> Figure | None:
    """A panel per sized pattern (each by its own figure of merit) and placement /
    payload kind (never mixed: a winner is per placement), in rows at most
    MAX_WIDTH_IN wide; the winner's name written in every cell."""
    tables = {p: best_table(run.frame, p) for p in patterns.sized_names()}
    tables = {p: t for p, t in tables.items() if not t.empty}
    if not tables:
        return None
    # The headline map is for the bytes payload; other kinds are in the report's table.
    everything = pd.concat(tables.values())
    payload_note = ""
    if everything["payload"].nunique() > 1 and (everything["payload"] == DEFAULT_PAYLOAD).any():
        tables = {p: t[t["payload"] == DEFAULT_PAYLOAD] for p, t in tables.items()}
        tables = {p: t for p, t in tables.items() if not t.empty}
        payload_note = f"; {DEFAULT_PAYLOAD} payload (other kinds: the report)"
    facets = facet_columns(pd.concat(tables.values()), _FACETS)
    keys = sorted({tuple(r) for t in tables.values()
                   for r in t[facets].itertuples(index=False, name=None)},
                  key=lambda k: [reading_rank(c, v) for c, v in zip(facets, k, strict=True)]
                  ) if facets else [()]
    panels = []
    for pattern, table in tables.items():
        for values in keys:
            key = dict(zip(facets, values, strict=True))
            part = table
            for column, value in key.items():
                part = part[part[column] == value]
            if not part.empty:
                panels.append((pattern, key, part))
    cell_in = _cell_width_in(tables)
    most_procs = max(t["procs"].nunique() for t in tables.values())
    cell_in = min(cell_in, (MAX_WIDTH_IN - 0.4 - _PANEL_SIDE_IN) / most_procs)
    panel_in = _PANEL_SIDE_IN + cell_in * most_procs
    by_key = {(p, tuple(k.items())): part for p, k, part in panels}
    rows = _layout([(p, k) for p, k, _ in panels], len(keys), panel_in)
    columns = max(len(row) for row in rows)
    heights = [_PANEL_FRAME_IN + _CELL_HEIGHT_IN * max(
        by_key[(p, tuple(k.items()))]["size_bytes"].nunique() for p, k in row) for row in rows]
    fig = Figure(figsize=(min(MAX_WIDTH_IN, panel_in * columns + 0.4),
                          sum(heights) + _HEADER_IN + _FOOTER_IN), layout="constrained")
    axes = fig.subplots(len(rows), columns, squeeze=False,
                        gridspec_kw={"height_ratios": heights})
    colors = winner_colors([part for *_, part in panels])
    for i, row in enumerate(rows):
        for j in range(columns):
            ax = axes[i][j]
            if j >= len(row):
                ax.set_visible(False)
                continue
            pattern, key = row[j]
            _draw_map(ax, by_key[(pattern, tuple(key.items()))], pattern, colors)
            prefix = f"{facet_label(key)} · " if key else ""
            ax.set_title(prefix + _map_title(pattern), fontsize=10)
    others = sorted({w for *_, part in panels for w in part["winner"]} - set(colors))
    dress(fig, "Best channel per message size and process count",
          run_line(run),
          "the winner is named in each cell, with its figure and (+x%) its lead over the "
          "runner-up; pale = no clear winner "
          f"({TIE_NOTE}, or the only channel measured); "
          f"{left_out_note(run.frame, list(tables))}" + payload_note
          + not_ranked_note(tables))
    handles = {name: Patch(color=color) for name, color in colors.items()}
    if others:
        handles[f"{len(others)} other winners (named in their cells)"] = Patch(
            color=OTHER_WINNER)
    legend_block(fig, handles, title="winning channel (by cells won):")
    return fig

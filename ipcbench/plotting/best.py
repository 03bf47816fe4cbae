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
from ipcbench.core.units import format_fraction
from ipcbench.mechanisms import channel_traits
from ipcbench.plotting.style import channel_color, dress, legend_block, run_line

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


def _cell_text(record: pd.Series, pattern: str) -> str:
    value = patterns.get(pattern).format(record["value"])
    if math.isnan(record["margin"]):
        return f"{record['winner']}\n{value}\n(only one)"
    tie = "" if record["clear"] else "≈ "
    return f"{tie}{record['winner']}\n{value}\n+{format_fraction(record['margin'])} vs next"


def _draw_map(ax, table: pd.DataFrame, pattern: str) -> set[tuple[str, str]]:
    sizes = sorted(table["size_bytes"].unique())
    procs_values = sorted(table["procs"].unique())
    image = np.ones((len(sizes), len(procs_values), 3)) * 0.93  # light grey = no data
    winners: set[str] = set()
    for _, record in table.iterrows():
        i, j = sizes.index(record["size_bytes"]), procs_values.index(record["procs"])
        margin = 0.0 if math.isnan(record["margin"]) or not record["clear"] else record["margin"]
        # Paler = narrower win: a saturated cell is a decision, a pale one a coin toss.
        strength = 0.2 + 0.6 * min(margin / 0.5, 1.0)
        channel = (record["winner_mechanism"], record["winner_variant"])
        rgb = np.array(to_rgb(channel_color(*channel)))
        image[i, j] = 1 - strength * (1 - rgb)
        winners.add(channel)
        ax.text(j, i, _cell_text(record, pattern), ha="center", va="center", fontsize=7)
    ax.imshow(image, aspect="auto")
    ax.set_xticks(range(len(procs_values)), [str(p) for p in procs_values])
    ax.set_yticks(range(len(sizes)), [format_size(int(s)) for s in sizes])
    ax.set_xlabel(patterns.get(pattern).procs_label)
    ax.set_ylabel("message size")
    ax.set_xticks(np.arange(-0.5, len(procs_values)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(sizes)), minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    return winners


def _map_title(pattern: str) -> str:
    """'stream: highest throughput', 'pingpong: lowest p50 round trip'."""
    kind = patterns.get(pattern)
    return f"{kind.name}: {'highest' if kind.higher_is_better else 'lowest'} {kind.metric_label}"


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
    """One column per sized pattern (each by its own figure of merit), one
    row per placement / payload kind (never mixed: a winner is per placement)."""
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
    height = max(len(t["size_bytes"].unique()) for t in tables.values())
    width = max(len(t["procs"].unique()) for t in tables.values())
    fig = Figure(figsize=(max(5.0, 1.9 * width) * len(tables) + 1.5,
                          (0.75 * height + 1.2) * len(keys) + 1.6), layout="constrained")
    axes = fig.subplots(len(keys), len(tables), squeeze=False)
    winners: set[tuple[str, str]] = set()
    for i, values in enumerate(keys):
        key = dict(zip(facets, values, strict=True))
        for j, (pattern, table) in enumerate(tables.items()):
            ax = axes[i][j]
            for column, value in key.items():
                table = table[table[column] == value]
            if table.empty:
                ax.set_visible(False)
                continue
            winners |= _draw_map(ax, table, pattern)
            prefix = f"{facet_label(key)}\n" if key else ""
            ax.set_title(prefix + _map_title(pattern), fontsize=9)
    dress(fig, "Best channel per message size and process count",
          run_line(run),
          "colour = winning channel, paler = narrower margin; ≈ = a tie (the paired CIs "
          f"of winner and runner-up overlap); {left_out_note(run.frame, list(tables))}"
          + payload_note + not_ranked_note(tables))
    legend_block(fig, {f"{m}/{v}": Patch(color=channel_color(m, v)) for m, v in sorted(winners)},
                 title="winning channel:")
    return fig

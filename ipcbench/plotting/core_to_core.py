"""The core-to-core round-trip heatmap, drawn from core_to_core.csv (written by
`ipcbench machine --c2c DIR`): one cell per (CPU of the timing end, CPU of the echo),
its p50 round trip written in the cell and the CPUs' relation under it while the
matrix is small enough to read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ipcbench.core.units import format_time_ns

# Cells are annotated up to this many CPUs a side; beyond that the colours speak alone.
ANNOTATE_MAX_CPUS = 16
_SHORT = {"same-core": "same", "smt-sibling": "SMT", "same-l3": "L3",
          "cross-l3": "x-L3", "cross-socket": "x-socket"}


def read_matrix(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, keep_default_na=False)
    missing = {"cpu_a", "cpu_b", "relation", "p50_ns"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: not a core-to-core matrix (no {', '.join(sorted(missing))})")
    return frame


def heatmap_figure(frame: pd.DataFrame) -> Figure:
    cpus = sorted(set(frame["cpu_a"]) | set(frame["cpu_b"]))
    index = {cpu: i for i, cpu in enumerate(cpus)}
    grid = np.full((len(cpus), len(cpus)), np.nan)
    relation = {}
    for row in frame.itertuples(index=False):
        grid[index[row.cpu_a], index[row.cpu_b]] = row.p50_ns
        relation[index[row.cpu_a], index[row.cpu_b]] = row.relation
    side_in = min(9.0, max(3.6, 0.55 * len(cpus) + 2.4))
    fig = Figure(figsize=(side_in + 1.3, side_in + 0.6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(grid / 1000.0, cmap="viridis", origin="upper")
    bar = fig.colorbar(image, ax=ax, shrink=0.85)
    bar.set_label("p50 round trip (µs)")
    if len(cpus) <= ANNOTATE_MAX_CPUS:
        ticks = range(len(cpus))
        ax.set_xticks(ticks, [str(c) for c in cpus])
        ax.set_yticks(ticks, [str(c) for c in cpus])
        middle = np.nanmean(grid)
        for (i, j), value in np.ndenumerate(grid):
            if np.isnan(value):
                continue
            label = format_time_ns(value)
            short = _SHORT.get(relation.get((i, j), ""), "")
            ax.text(j, i, f"{label}\n{short}" if short else label, ha="center",
                    va="center", fontsize=8, color="white" if value < middle else "black")
    ax.set_xlabel("CPU of the echoing process")
    ax.set_ylabel("CPU of the timing process")
    ax.set_title("Core-to-core round trip\n(raw os.pipe echo, 64 B, p50)", fontsize=10)
    return fig

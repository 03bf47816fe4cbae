"""Charts from ipcbench result CSVs (read-only: never runs or imports a benchmark).

    from ipcbench.plotting import plot_run
    written = plot_run("results/sample", "charts/")       # -> [Path, ...] PNG

Runs are read by ipcbench.analysis.runs; this package only draws.

Figures use matplotlib's object API with no pyplot, so importing this module never
selects a GUI backend and nothing is ever shown; files are rendered with Agg/SVG.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from ipcbench.analysis.runs import Run, load_run, load_runs, require_ok_rows
from ipcbench.core.chart_formats import DEFAULT_FORMATS, FORMATS
from ipcbench.plotting.best import best_map_figure, best_table
from ipcbench.plotting.charts import latency_figure, scaling_figure, throughput_figures
from ipcbench.plotting.cost import cpu_figure, efficiency_figure
from ipcbench.plotting.depth import depth_figures
from ipcbench.plotting.drawing import draw_charts, figures_by_stem
from ipcbench.plotting.open_loop import distribution_figure, load_figures
from ipcbench.plotting.ranking import ranking_figures
from ipcbench.plotting.startup import startup_figures
from ipcbench.plotting.style import mechanism_color
from ipcbench.system.safefile import safe_dir, write_via_temp

__all__ = [
    "CHARTS",
    "DEFAULT_FORMATS",
    "FORMATS",
    "Run",
    "best_map_figure",
    "best_table",
    "cpu_figure",
    "depth_figures",
    "distribution_figure",
    "efficiency_figure",
    "figure_to_svg",
    "latency_figure",
    "load_figures",
    "mechanism_color",
    "plot_run",
    "plot_runs",
    "run_figures",
    "save_figure",
    "scaling_figure",
    "startup_figures",
    "throughput_figures",
]


# Name -> builder (one figure, or several by file stem). Order is the order a reader
# should look at them in: the answer first, then the curves behind it.
CHARTS: dict[str, Callable[[Run], Figure | dict[str, Figure] | None]] = {
    "best": best_map_figure,
    "ranking": ranking_figures,
    "startup": startup_figures,
    "latency": latency_figure,
    "throughput": throughput_figures,
    "scaling": scaling_figure,
    "efficiency": efficiency_figure,
    "cpu": cpu_figure,
    "load": load_figures,
    "depth": depth_figures,
    "latency-dist": distribution_figure,
}


def run_figures(run: Run) -> dict[str, Figure]:
    """Every chart that has data in this run, by file stem."""
    require_ok_rows(run)
    figures = {}
    for stem, build in CHARTS.items():
        figures.update(figures_by_stem(stem, build(run)))
    return figures


def save_figure(figure: Figure, out_dir: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    unknown = [f for f in formats if f not in FORMATS + ("pdf",)]
    if unknown:
        raise ValueError(f"unsupported chart format {unknown[0]!r} (use png, svg or pdf)")
    out_dir = safe_dir(Path(out_dir))  # never draw into a planted link to elsewhere
    written = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        # Fixed metadata keeps SVG/PDF output byte-stable across re-renders (clean diffs).
        metadata = {"Date": None} if fmt in ("svg", "pdf") else None
        # Drawn into a fresh temp file, then renamed: a full disk leaves no truncated
        # chart under the real name, and the error names the chart.
        write_via_temp(path, lambda handle, fmt=fmt, metadata=metadata: figure.savefig(
            handle, format=fmt, dpi=100, metadata=metadata))
        written.append(path)
    return written


def figure_to_svg(figure: Figure) -> str:
    """The figure as an inline <svg> element (no XML prolog), for HTML embedding."""
    buffer = io.StringIO()
    # Text as <text> elements rather than glyph paths: a quarter of the size, and the
    # report stays searchable. The browser's sans-serif stands in for DejaVu Sans.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # The RDF metadata block only names namespaces; drop it so the page holds no URLs
    # beyond the SVG namespace declarations.
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)


class ChartsIncomplete(OSError):
    """Some charts could not be written (a planted link, a full disk); the others were.
    Carries what was written, so a caller can still list it."""

    def __init__(self, written: list[Path], refused: list[str]) -> None:
        self.written, self.refused = written, refused
        super().__init__(f"{len(refused)} chart(s) not drawn ({refused[0]}); "
                         f"{len(written)} file(s) drawn")


def plot_run(
    run_dir_or_csv: str | os.PathLike[str] | Run,
    out_dir: str | os.PathLike[str],
    formats: Sequence[str] = DEFAULT_FORMATS,
) -> list[Path]:
    """Draw the standard charts of one run into out_dir; return the files written.

    Raises ResultsError (one line) if the input is unusable or has no ok rows, and
    ChartsIncomplete once every other chart is drawn when some could not be written."""
    run = run_dir_or_csv if isinstance(run_dir_or_csv, Run) else load_run(run_dir_or_csv)
    require_ok_rows(run)
    # The builders are looked up here, so a test that swaps one in CHARTS is drawn too.
    written, refused = draw_charts(run, dict(CHARTS), Path(out_dir), formats, save_figure)
    if refused:
        raise ChartsIncomplete(written, refused)
    return written


def plot_runs(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    formats: Sequence[str] = DEFAULT_FORMATS,
) -> list[Path]:
    """Several runs: one sub-folder per run (named after the run folder) under out_dir.
    Every input is read before anything is drawn, so a bad one fails fast."""
    runs = load_runs(paths)
    for run in runs:
        require_ok_rows(run)
    if len(runs) == 1:
        return plot_run(runs[0], out_dir, formats)
    written: list[Path] = []
    refused: list[str] = []
    used: set[str] = set()
    for index, run in enumerate(runs, start=1):
        name = run.name if run.name not in used else f"{run.name}-{index}"
        used.add(name)
        try:
            written += plot_run(run, Path(out_dir) / name, formats)
        except ChartsIncomplete as exc:
            written += exc.written
            refused += exc.refused
    if refused:
        raise ChartsIncomplete(written, refused)
    return written


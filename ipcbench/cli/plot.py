"""`ipcbench plot`: charts of one or more runs; also the charts drawn after `ipcbench run`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ipcbench.cli.args import FORMATS_HELP, RESULTS_HELP, chart_formats, print_paths
from ipcbench.core.chart_formats import DEFAULT_FORMATS


def run_plots_after_run(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw the standard charts of a finished run into run_dir/charts/.

    Returns [] when the run has no ok rows (a run where everything was skipped is
    still a finished run, not an error); raises ResultsError for an unreadable run."""
    from ipcbench.analysis.runs import load_run  # pandas, matplotlib: after measuring
    from ipcbench.plotting import plot_run

    run = load_run(run_dir)
    if run.ok.empty and run.open_loop.empty and run.depths.empty:
        return []
    return plot_run(run, Path(run_dir) / "charts")


def cmd_plot(args: argparse.Namespace) -> int:
    from ipcbench.plotting import plot_runs

    print_paths(plot_runs(args.results, args.out, formats=args.formats))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    plot = sub.add_parser(
        "plot", help="draw charts from result CSVs",
        description="Draw latency, throughput, scaling and best-channel charts for each run "
                    "(one sub-folder per run when several are given).")
    plot.add_argument("results", nargs="+", metavar="RESULTS", help=RESULTS_HELP)
    plot.add_argument("--out", required=True, type=Path, metavar="DIR",
                      help="folder to write charts into")
    plot.add_argument("--formats", type=chart_formats, default=DEFAULT_FORMATS, metavar="LIST",
                      help=FORMATS_HELP)
    plot.set_defaults(func=cmd_plot)

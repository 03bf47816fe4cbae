"""`ipcbench plot|compare|report`: argparse wiring for the analysis side.

cli.py calls `register(subparsers)`; each handler returns an exit code and raises
ResultsError/ValueError with a one-line message for bad input (cli.main prints it as
`ipcbench: error: ...` and exits 2). Progress and paths go to stdout, never charts.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ipcbench import patterns
from ipcbench.analysis.advise import advise_run
from ipcbench.analysis.compare import METRICS, compare_runs
from ipcbench.analysis.runs import load_run, load_runs
from ipcbench.analysis.verdict import ALPHA, MIN_EFFECT
from ipcbench.plotting import FORMATS, plot_run, plot_runs
from ipcbench.render.html import write_report
from ipcbench.render.markdown import write_comparison
from ipcbench.render.terminal import advice_text, compare_lines
from ipcbench.sizes import parse_size

__all__ = ["register", "run_plots_after_run", "cmd_plot", "cmd_compare", "cmd_report",
           "cmd_advise"]


def run_plots_after_run(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw the standard charts of a finished run into run_dir/charts/.

    Returns [] when the run has no ok rows (a run where everything was skipped is
    still a finished run, not an error); raises ResultsError for an unreadable run."""
    run = load_run(run_dir)
    if run.ok.empty:
        return []
    return plot_run(run, Path(run_dir) / "charts")


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in (*FORMATS, "pdf")]
    if not formats or bad:
        raise argparse.ArgumentTypeError(f"invalid format list {text!r} (use png,svg,pdf)")
    return formats


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a number in (0, 1)")
    return value


def _print_written(paths: list[Path]) -> None:
    for path in paths:
        print(path)


def cmd_plot(args: argparse.Namespace) -> int:
    written = plot_runs(args.results, args.out, formats=args.formats)
    _print_written(written)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    if len(args.results) < 2:
        raise ValueError("compare needs at least two result sets (baseline first)")
    comparison = compare_runs(load_runs(args.results), min_effect=args.min_effect,
                              alpha=args.alpha, metric=args.metric,
                              mechanisms=args.mechanism or ())
    written = write_comparison(comparison, args.out, formats=args.formats,
                               charts=not args.no_charts)
    for line in compare_lines(comparison):  # one screen; the details are in compare.md
        print(line)
    _print_written(written)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    print(write_report(args.runs, args.out))
    return 0


def cmd_advise(args: argparse.Namespace) -> int:
    kind = patterns.get(args.pattern)
    if args.size is None and kind.sized:
        raise ValueError(f"--size is required for pattern {args.pattern!r}")
    # An unsized pattern's message (the counter's increment) has one size.
    size_bytes = parse_size(args.size) if args.size else patterns.COUNTER_SIZE_BYTES
    if not args.procs.strip().isdigit():
        raise ValueError(f"invalid procs {args.procs!r}: expected a whole number")
    advice = advise_run(args.results, size_bytes, int(args.procs), args.pattern, args.placement,
                        args.payload, args.start_method)
    print(advice_text(advice, size_bytes, int(args.procs)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the plot, compare, report and advise subcommands."""
    results_help = "a results.csv or a run folder holding one"
    formats_help = "comma-separated chart formats (default: png,svg)"

    plot = subparsers.add_parser(
        "plot", help="draw charts from result CSVs",
        description="Draw latency, throughput, scaling and best-channel charts for each run "
                    "(one sub-folder per run when several are given).")
    plot.add_argument("results", nargs="+", metavar="RESULTS", help=results_help)
    plot.add_argument("--out", required=True, type=Path, metavar="DIR",
                      help="folder to write charts into")
    plot.add_argument("--formats", type=_formats, default=FORMATS, metavar="LIST",
                      help=formats_help)
    plot.set_defaults(func=cmd_plot)

    compare = subparsers.add_parser(
        "compare", help="compare result sets against the first (baseline)",
        description="Match cases across runs, give each a ratio vs the first run and a "
                    "noise-aware verdict, write compare.md and overlay charts.")
    compare.add_argument("results", nargs="+", metavar="RESULTS", help=results_help)
    compare.add_argument("--out", type=Path, default=Path("compare"), metavar="DIR",
                         help="folder for compare.md and charts (default: ./compare)")
    compare.add_argument("--formats", type=_formats, default=FORMATS, metavar="LIST",
                         help=formats_help)
    compare.add_argument("--no-charts", action="store_true", help="write compare.md only")
    compare.add_argument("--min-effect", type=_fraction, default=MIN_EFFECT, metavar="FRAC",
                         help=f"smallest relative change that can count (default {MIN_EFFECT})")
    compare.add_argument("--alpha", type=_fraction, default=ALPHA, metavar="P",
                         help=f"significance level of the Welch t-test (default {ALPHA})")
    compare.add_argument("--metric", choices=METRICS, default="time",
                         help="judge and rank cases by time per message (default) or by "
                              "efficiency: the share of each run's own in-run baseline")
    compare.add_argument("--mechanism", nargs="+", metavar="NAME",
                         help="compare (and chart) only these mechanisms")
    compare.set_defaults(func=cmd_compare)

    report = subparsers.add_parser(
        "report", help="write one self-contained report.html",
        description="Charts (inline SVG), summary tables, machine metadata and, for several "
                    "runs, the comparison against the first, in one offline HTML file.")
    report.add_argument("runs", nargs="+", metavar="RUN_DIR", help=results_help)
    report.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder to write report.html into")
    report.set_defaults(func=cmd_report)

    advise = subparsers.add_parser(
        "advise", help="recommend the fastest channel for a workload",
        description="From a measured run, name the fastest mechanism/variant for a message "
                    "size, process count and pattern, the runner-up and margin, and whether "
                    "the difference is within noise (or based on the nearest measured cell).")
    advise.add_argument("results", metavar="RESULTS", help=results_help)
    advise.add_argument("--size", help="message size, e.g. 64, 4KiB, 1MiB")
    advise.add_argument("--procs", required=True, help="processes (pairs, producers)")
    advise.add_argument("--pattern", required=True, help="pingpong, stream, fanout or counter")
    for flag in ("--placement", "--payload", "--start-method"):
        advise.add_argument(flag, help="use rows with this value (default: unpinned / bytes "
                                       "when measured, else the run's most common)")
    advise.set_defaults(func=cmd_advise)


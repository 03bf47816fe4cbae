"""`ipcbench history RUN [RUN ...]`: the same matrix over many runs (run folders, or
folders holding them): per machine and case the figure run after run, the steps found
in it (analysis/steps.py), history.md and one trend chart per workload in --out, and
the same facts as JSON with --json."""

from __future__ import annotations

import argparse
from pathlib import Path

from ipcbench.analysis.steps import MIN_EFFECT
from ipcbench.cli.args import FORMATS_HELP, chart_formats, fraction, print_paths
from ipcbench.cli.json_sink import JSON_HELP, JsonSink, json_output
from ipcbench.core.chart_formats import DEFAULT_FORMATS


def cmd_history(args: argparse.Namespace) -> int:
    with json_output(args.json) as sink:  # checked before anything is read
        return _history(args, sink)


def _history(args: argparse.Namespace, sink: JsonSink) -> int:
    from ipcbench.analysis.history import history, load_history
    from ipcbench.render.history import history_document, terminal_lines, write_history
    from ipcbench.render.json_out import dumps

    hist = history(load_history(args.runs), min_effect=args.min_effect,
                   baselines=args.baselines)
    charts: list[Path] = []
    if not args.no_charts:
        from ipcbench.plotting import save_figure
        from ipcbench.plotting.trend import trend_figures

        for stem, figure in trend_figures(hist).items():
            charts += save_figure(figure, args.out, stem, args.formats)
    written = write_history(hist, args.out, [p.name for p in charts if p.suffix != ".pdf"])
    print("\n".join(terminal_lines(hist)))
    print_paths([written, *charts])
    if sink.wanted:
        sink.write(dumps(history_document(hist)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    hist = sub.add_parser(
        "history", help="one matrix over many runs: trends and the steps in them",
        description="Follow every case over runs (oldest first, machines apart), find "
                    "the steps in its session values, write history.md and one trend "
                    "chart per workload.")
    hist.add_argument("runs", nargs="+", metavar="RUN",
                      help="run folders, results.csv files, or folders holding runs")
    hist.add_argument("--out", type=Path, default=Path("history"), metavar="DIR",
                      help="folder for history.md and the charts (default: ./history)")
    hist.add_argument("--formats", type=chart_formats, default=DEFAULT_FORMATS, metavar="LIST",
                      help=FORMATS_HELP)
    hist.add_argument("--no-charts", action="store_true", help="write history.md only")
    hist.add_argument("--min-effect", type=fraction, default=MIN_EFFECT, metavar="FRAC",
                      help="smallest level change that counts as a step "
                           f"(default {MIN_EFFECT})")
    hist.add_argument("--baselines", action="store_true",
                      help="follow the in-run hardware baselines too (the machine itself)")
    hist.add_argument("--json", metavar="PATH", help=JSON_HELP)
    hist.set_defaults(func=cmd_history)

"""`ipcbench compare`: every run against the first, written to compare.md (+ overlay
charts), with a one-screen verdict summary on stdout; --fail-slower makes it a CI gate
(analysis/gate.py), --json writes the same facts as JSON (render/json_out.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ipcbench.analysis.verdict import ALPHA, METRICS, MIN_EFFECT
from ipcbench.cli.args import (
    FORMATS_HELP,
    RESULTS_HELP,
    chart_formats,
    fraction,
    print_paths,
    slower_pct,
)
from ipcbench.cli.json_sink import JSON_HELP, JsonSink, json_output
from ipcbench.core.chart_formats import DEFAULT_FORMATS

# --fail-slower found a case slower by more than its threshold (2 stays "bad input").
EXIT_SLOWER = 1


def cmd_compare(args: argparse.Namespace) -> int:
    if len(args.results) < 2:
        raise ValueError("compare needs at least two result sets (baseline first)")
    threshold = None if args.fail_slower is None else slower_pct(args.fail_slower)
    if threshold is not None and args.metric != "time":
        raise ValueError("--fail-slower judges time per message: it cannot be combined "
                         f"with --metric {args.metric}")
    with json_output(args.json) as sink:  # checked before anything is read
        return _compare(args, threshold, sink)


def _compare(args: argparse.Namespace, threshold: float | None, sink: JsonSink) -> int:
    # pandas, scipy, matplotlib: imported by the commands that read results, never by
    # `ipcbench run` before it has measured (see tests/test_lean_harness.py).
    from ipcbench.analysis.compare import compare_runs, gil_note
    from ipcbench.analysis.gate import gate
    from ipcbench.analysis.runs import load_runs
    from ipcbench.plotting.overlay import skipped_line
    from ipcbench.render.json_out import compare_document, dumps
    from ipcbench.render.machines import machines_lines, view_of
    from ipcbench.render.markdown import write_comparison
    from ipcbench.render.terminal import gate_lines, print_compare

    runs = load_runs(args.results)
    comparison = compare_runs(runs, min_effect=args.min_effect,
                              alpha=args.alpha, metric=args.metric,
                              mechanisms=args.mechanism or ())
    verdict = None if threshold is None else gate(comparison, threshold)
    written = write_comparison(comparison, args.out, formats=args.formats,
                               charts=not args.no_charts)
    if note := gil_note(runs):
        print(note)
    print_compare(comparison)  # one screen; the details are in compare.md
    view = view_of(comparison)
    if view is not None:  # runs of several machines: each one's answers side by side
        print("\n".join(machines_lines(view)))
    if written.skipped_charts:  # before the paths, which scripts read line by line
        print(f"{skipped_line(written.skipped_charts)} (listed in compare.md)")
    print_paths(written.paths)
    if verdict is not None:  # last: what a CI log shows at its end
        print("\n".join(gate_lines(verdict)))
    if sink.wanted:
        sink.write(dumps(compare_document(comparison, verdict)))
    return EXIT_SLOWER if verdict is not None and not verdict.passed else 0


def register(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser(
        "compare", help="compare result sets against the first (baseline)",
        description="Match cases across runs, give each a ratio vs the first run and a "
                    "noise-aware verdict, write compare.md and overlay charts.")
    compare.add_argument("results", nargs="+", metavar="RESULTS", help=RESULTS_HELP)
    compare.add_argument("--out", type=Path, default=Path("compare"), metavar="DIR",
                         help="folder for compare.md and charts (default: ./compare)")
    compare.add_argument("--formats", type=chart_formats, default=DEFAULT_FORMATS, metavar="LIST",
                         help=FORMATS_HELP)
    compare.add_argument("--no-charts", action="store_true", help="write compare.md only")
    compare.add_argument("--min-effect", type=fraction, default=MIN_EFFECT, metavar="FRAC",
                         help=f"smallest relative change that can count (default {MIN_EFFECT})")
    compare.add_argument("--alpha", type=fraction, default=ALPHA, metavar="P",
                         help=f"significance level of the Welch t-test (default {ALPHA})")
    compare.add_argument("--metric", choices=METRICS, default="time",
                         help="judge and rank cases by time per message (default) or by "
                              "efficiency: the share of each run's own in-run baseline")
    compare.add_argument("--mechanism", nargs="+", metavar="NAME",
                         help="compare (and chart) only these mechanisms")
    compare.add_argument("--fail-slower", metavar="PCT",
                         help="for CI: exit 1 if a case is significantly slower than in "
                              "the first run (compare's own verdict) by more than PCT "
                              "percent, and list those cases; baselines are not gated")
    compare.add_argument("--json", metavar="PATH", help=JSON_HELP)
    compare.set_defaults(func=cmd_compare)

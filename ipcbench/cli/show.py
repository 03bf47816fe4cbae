"""`ipcbench show RUN`: a finished run's answer again, from its folder (results.csv);
`--all` prints the full end-of-run table first."""

from __future__ import annotations

import argparse
import shlex

from ipcbench.cli.args import RESULTS_HELP


def cmd_show(args: argparse.Namespace) -> int:
    from ipcbench.core.results import read_results, results_path, rows_from_frame
    from ipcbench.render.answer import print_answer
    from ipcbench.render.terminal import print_summary

    rows = rows_from_frame(read_results(args.run))  # validated, one line when it is not
    if args.all:
        print_summary(rows)
    print_answer(rows, run=shlex.quote(str(results_path(args.run).parent)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    show = sub.add_parser("show", help="a finished run's answer: the best channel per "
                                       "workload (--all: every row)")
    show.add_argument("run", metavar="RUN", help=RESULTS_HELP)
    show.add_argument("--all", action="store_true",
                      help="the full table of every row first (the end-of-run table of "
                           "`run --full-table`)")
    show.set_defaults(func=cmd_show)

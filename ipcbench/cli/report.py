"""`ipcbench report`: one self-contained report.html for one or more runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ipcbench.cli.args import RESULTS_HELP


def cmd_report(args: argparse.Namespace) -> int:
    from ipcbench.render.html import write_report

    print(write_report(args.runs, args.out))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser(
        "report", help="write one self-contained report.html",
        description="Charts (inline SVG), summary tables, machine metadata and, for several "
                    "runs, the comparison against the first, in one offline HTML file.")
    report.add_argument("runs", nargs="+", metavar="RUN_DIR", help=RESULTS_HELP)
    report.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder to write report.html into")
    report.set_defaults(func=cmd_report)

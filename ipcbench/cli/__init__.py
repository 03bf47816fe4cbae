"""The `ipcbench` command: measure IPC channels, then chart, compare and report results.

One module per command (run; info: list, machine, clean, selfcheck; plot; compare;
report; advise), argument types they share in args.py, the run folder of `run`
(new or resumed) in run_job.py.

User errors are one line on stderr and exit code 2, never a traceback; everything a
run starts is validated before the first process does.
"""

from __future__ import annotations

import argparse
import sys

from ipcbench import __version__
from ipcbench.cli import advise, compare, info, plot, report, run
from ipcbench.cli.run import Interrupted
from ipcbench.core.results import ResultsError

EXIT_USAGE = 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143

# In `ipcbench --help` order: measuring first, then reading results.
_COMMANDS = (run, info, plot, compare, report, advise)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ipcbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ipcbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # argparse prints usage + error and exits 2 on unknown flags: already one clear line.
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, ResultsError, OSError) as exc:
        print(f"ipcbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_SIGINT

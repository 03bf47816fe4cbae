"""The `ipcbench` command: measure IPC channels, then chart, compare and report results.

One module per command (run; fleet, with its nodes and task; show; info: list, machine,
clean, selfcheck; plot; compare; history; report; advise), argument types they share in
args.py, the run folder of `run` (new or resumed) in run_job.py.

User errors are one line on stderr and exit code 2, never a traceback; everything a
run starts is validated before the first process does. SIGINT/SIGTERM give one line
and exit 130/143 at any moment: the handlers go in before anything heavy is imported,
so this package imports only the standard library and signals.py at module level.
"""

from __future__ import annotations

import sys

from ipcbench.cli.signals import (
    Interrupted,
    begin_exit,
    install_signal_handlers,
    pending_interrupt,
    report_interrupt,
)

EXIT_USAGE = 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


def build_parser():
    import argparse

    # The command modules import numpy and the registry (~0.2 s): never at import time
    # of this package, which the entry point imports before its handlers are in.
    from ipcbench import __version__
    from ipcbench.cli import (
        advise,
        compare,
        fleet,
        history,
        info,
        plot,
        report,
        run,
        show,
    )

    parser = argparse.ArgumentParser(prog="ipcbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ipcbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # In `ipcbench --help` order: measuring first, then reading results.
    for command in (run, fleet, show, info, plot, compare, history, report, advise):
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. `argv` None means this process's own command line: the console
    script and `python -m ipcbench`, which own the process, so the signal handlers go
    in first. A caller passing a list (the tests, in their own process) keeps its own
    handlers; `run` installs them when it starts measuring."""
    owner = argv is None
    if owner:
        install_signal_handlers()
    try:
        try:
            return _main(argv)
        finally:
            if owner:
                begin_exit()  # from here a signal is noted and said at the very end
    except Interrupted as exc:  # before a command's own report (e.g. while importing)
        if owner:
            begin_exit()  # raised before the finally's: nothing more is raised now
        report_interrupt(exc)
        return exc.exit_code
    except KeyboardInterrupt:  # a caller that kept Python's own SIGINT handler
        return EXIT_SIGINT
    except Exception:
        # A signal raised inside an extension's import (numpy's) comes back as that
        # import's own error ("numpy._core.multiarray failed to import"): the signal,
        # not the error, is what happened.
        pending = pending_interrupt()
        if pending is None:
            raise
        if owner:
            begin_exit()
        report_interrupt(pending)
        return pending.exit_code


def _main(argv: list[str] | None) -> int:
    from ipcbench.core.results import ResultsError

    parser = build_parser()
    # argparse prints usage + error and exits 2 on unknown flags: already one clear line.
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, ResultsError, OSError) as exc:
        print(f"ipcbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

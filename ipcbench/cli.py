"""The `ipcbench` command: run, list, machine, clean (+ plot/compare/report when present).

User errors are one line on stderr and exit code 2, never a traceback; everything a
run starts is validated before the first process does.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import signal
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ipcbench import __version__
from ipcbench.mechanisms import REGISTRY, public_names
from ipcbench.patterns import PATTERN_NAMES as PATTERNS
from ipcbench.results import ResultsError
from ipcbench.schema import MAX_PROCS, PAYLOAD_KINDS, PLACEMENTS

EXIT_USAGE = 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class Interrupted(BaseException):
    """SIGINT/SIGTERM turned into an exception, so every `finally` and context manager
    (peers, segments) runs; SIGTERM's default handler would skip them all."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


def _split(values: list[str] | None) -> list[str] | None:
    """Accept both `--size 64 4KiB` and `--size 64,4KiB`."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _choice(kind: str, values: list[str], allowed: list[str]) -> list[str]:
    for value in values:
        if value not in allowed:
            raise ValueError(f"unknown {kind} {value!r} (choose from {', '.join(allowed)})")
    return values


def _procs(values: list[str]) -> list[int]:
    result = []
    for value in values:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"invalid procs {value!r}: expected a whole number") from None
        if not 1 <= n <= MAX_PROCS:
            raise ValueError(f"invalid procs {value!r}: must be between 1 and {MAX_PROCS}")
        result.append(n)
    return result


def _writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ValueError(f"output folder {str(path)!r} is not writable ({exc.strerror})") from None
    return path


def plan_from_args(args: argparse.Namespace):
    """Validate every matrix flag and expand the matrix: (planned cases, settings)."""
    from ipcbench.matrix import plan
    from ipcbench.resources import check_resources
    from ipcbench.settings import MATRICES
    from ipcbench.sizes import parse_size

    matrix = MATRICES["quick" if args.quick else "full" if args.full else "default"]
    mechanisms = _choice("mechanism", _split(args.mechanism) or public_names(), list(REGISTRY))
    patterns = _choice("pattern", _split(args.pattern) or list(PATTERNS), list(PATTERNS))
    all_variants = sorted({v for m in mechanisms for v in REGISTRY[m].variants})
    variants = _split(args.variant)
    if variants is not None:
        _choice(f"variant for {', '.join(mechanisms)}", variants, all_variants)
    sizes = [parse_size(s) for s in _split(args.size)] if args.size else None
    procs = _procs(_split(args.procs)) if args.procs else None
    methods = [multiprocessing.get_start_method(allow_none=False)]
    if args.start_method:
        methods = _choice("start method", _split(args.start_method),
                          multiprocessing.get_all_start_methods())
    placements = _split(args.placement)
    if placements:
        _choice("placement", placements, list(PLACEMENTS))
    payloads = _split(args.payload)
    if payloads:
        _choice("payload", payloads, list(PAYLOAD_KINDS))
    changes = {
        k: v
        for k, v in (
            ("sessions", args.sessions),
            ("repeats", args.repeats),
            ("warmup", args.warmup),
            ("deadline_s", args.deadline),
        )
        if v is not None
    }
    settings = matrix.settings.with_changes(**changes)
    planned = plan(matrix, methods, mechanisms, patterns, variants, sizes, procs, placements,
                   payloads)
    check_resources(planned)
    return planned, settings


def cmd_run(args: argparse.Namespace) -> int:
    from ipcbench import hygiene
    from ipcbench.baselines import BaselineCache
    from ipcbench.machine import collect_metadata, write_machine_json
    from ipcbench.progress import RunProgress, print_summary
    from ipcbench.results import CsvAppender, done_case_keys, read_results, rows_from_frame
    from ipcbench.rows import RunMeta
    from ipcbench.runner import run_planned
    from ipcbench.schema import BASELINE_MECHANISM as BASELINE
    from ipcbench.sessionlog import SessionLog, read_sessions

    planned, settings = plan_from_args(args)
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"invalid seed {args.seed!r}: must be 0 or more")
    # Shuffled by default (seed recorded in every row); --seed makes the order repeatable.
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    meta = collect_metadata()
    previous, done_sessions = [], {}
    if args.resume:
        out = Path(args.resume)
        read_results(out)  # refuse a foreign or newer file before touching it
        CsvAppender(out / "results.csv")  # drop a torn last row (a kill mid-write) ...
        frame = read_results(out)  # ... so that its case is measured again, not lost
        measured_on = set(frame["machine_id"].astype(str))
        if measured_on != {meta["machine_id"]}:
            raise ValueError(
                f"cannot resume {str(out)!r}: it was measured on {', '.join(sorted(measured_on))}, "
                f"this is {meta['machine_id']}"
            )
        previous = rows_from_frame(frame)
        done = done_case_keys(frame)
        planned = [p for p in planned if p.case.key not in done]
        done_sessions = read_sessions(out)
        print(f"resuming {out}: {len(done)} cases done, {len(planned)} to run", file=sys.stderr)
    else:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = Path(args.out) if args.out else Path("results") / meta["machine_id"] / stamp
    _writable_dir(out)
    removed = hygiene.sweep()
    if removed:
        print(
            f"removed {len(removed)} stale shared-memory segment(s) of dead runs", file=sys.stderr
        )
    write_machine_json(out, meta)
    appender = CsvAppender(out / "results.csv")
    session_log = SessionLog(out)
    rows = []

    def on_row(row) -> None:
        appender.append(row)  # whole row, flushed and fsynced, before anything else
        _check_interrupted()
        rows.append(row)
        if row.mechanism != BASELINE:  # baselines are extra rows, not planned cases
            progress.advance(row)

    _install_signal_handlers()
    progress = RunProgress(len(planned), enabled=not args.no_progress)
    try:
        with progress:
            run_meta = RunMeta(meta["machine_id"], order_seed=seed)
            cache = None
            if not args.no_baselines:
                cache = BaselineCache(run_meta, on_row)
                cache.preload(previous)
            run_planned(
                planned,
                settings,
                run_meta,
                on_row,
                before_session=lambda case, index: (_check_interrupted(),
                                                    progress.starting(case)),
                baseline_cache=cache,
                on_session=session_log.append,
                done_sessions=done_sessions,
            )
    except Interrupted as exc:
        print(
            f"ipcbench: interrupted by {exc}; {len(rows)} finished row(s) kept in "
            f"{out / 'results.csv'}",
            file=sys.stderr,
        )
        return exc.exit_code
    finally:
        hygiene.sweep()
    print_summary(rows)
    if not args.no_charts:
        _draw_charts(out)
    print(f"results: {out / 'results.csv'}")
    return 0


def _draw_charts(out: Path) -> None:
    try:
        from ipcbench.analysis_cli import run_plots_after_run
    except ImportError:
        return
    try:
        paths = run_plots_after_run(out)
        print(f"charts: {len(paths)} file(s) in {out / 'charts'}", file=sys.stderr)
    except (ResultsError, ValueError) as exc:  # e.g. a run with no ok rows
        print(f"ipcbench: no charts drawn: {exc}", file=sys.stderr)


_pending_signal: list[int] = []


def _install_signal_handlers() -> None:
    harness_pid = os.getpid()

    def handler(signum, frame):
        if os.getpid() != harness_pid:
            return  # a peer forked before it set its own handlers: the harness decides
        _pending_signal.append(signum)
        raise Interrupted(signum)

    def unraisable(info, default=sys.unraisablehook):
        # Raised inside a callback that cannot propagate it (e.g. an at-fork hook): keep
        # quiet, _check_interrupted raises it again at the next case boundary.
        if not isinstance(info.exc_value, Interrupted):
            default(info)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    sys.unraisablehook = unraisable


def _check_interrupted(*_ignored) -> None:
    """Raise again at a case boundary: an exception raised by the handler inside a
    callback that swallows exceptions (e.g. an at-fork hook) must not be lost."""
    if _pending_signal:
        raise Interrupted(_pending_signal[0])


def cmd_list(args: argparse.Namespace) -> int:
    for name in public_names():
        info = REGISTRY[name]
        print(f"{name}: {info.description}")
        for variant, patterns in info.variants.items():
            print(f"    {variant:<10} patterns: {', '.join(patterns)}")
    return 0


def cmd_machine(args: argparse.Namespace) -> int:
    import json

    from ipcbench.machine import collect_metadata

    print(json.dumps(collect_metadata(), indent=2, sort_keys=True))
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from ipcbench import hygiene

    removed = hygiene.sweep()
    print(
        f"removed {len(removed)} stale segment(s)" + (f": {', '.join(removed)}" if removed else "")
    )
    return 0


def cmd_selfcheck(args: argparse.Namespace) -> int:
    from ipcbench.selfcheck import copy_bandwidth_bytes_per_s, run_selfcheck

    if args.rounds < 1:
        raise ValueError(f"invalid rounds {args.rounds!r}: must be at least 1")
    placements = _choice("placement", _split(args.placement) or ["same-core"], list(PLACEMENTS))
    print(f"interleaving harness and hand-written loops, {args.rounds} rounds...", file=sys.stderr)
    for placement in placements:
        for item in run_selfcheck(args.rounds, placement):
            print(
                f"{item.what:<40} harness {item.harness:>10.4g} {item.unit:<4} "
                f"hand-written {item.hand:>10.4g} {item.unit:<4} ratio {item.ratio:.3f}"
            )
    copy = copy_bandwidth_bytes_per_s()
    print(f"numpy copy bandwidth (16 MiB, one core): {copy:.4g} B/s; an shm stream copies "
          "twice per message (in and out), so it can reach at most about half of it")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ipcbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ipcbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="measure a matrix of cases and write results.csv")
    many = {"nargs": "+", "default": None}
    run.add_argument(
        "--mechanism", "-m", **many, help=f"one or more of {', '.join(public_names())}"
    )
    run.add_argument("--variant", **many, help="restrict to these variants (see `ipcbench list`)")
    run.add_argument("--pattern", "-p", **many, help=f"one or more of {', '.join(PATTERNS)}")
    run.add_argument("--size", "-s", **many, help="message sizes, e.g. 64 4KiB 1MiB")
    run.add_argument(
        "--procs", "-n", **many, help="process counts (pairs, producers, incrementers)"
    )
    run.add_argument("--start-method", **many, help="fork, spawn and/or forkserver")
    run.add_argument(
        "--placement",
        **many,
        help="unpinned, same-core and/or cross-core (default: the two pinned ones)",
    )
    run.add_argument("--payload", **many,
                     help="bytes, object, numpy and/or shm-view (default: bytes everywhere, "
                          "the other kinds at a few sizes)")
    run.add_argument("--seed", type=int, help="seed of the shuffled case order (default: random)")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("--quick", action="store_true", help="small matrix, <= 60 s on 2 cores")
    scope.add_argument("--full", action="store_true", help="the full matrix (long)")
    run.add_argument("--sessions", type=int,
                     help="independent sessions per case (fresh peers; default 3)")
    run.add_argument("--repeats", type=int, help="timed repeats per session")
    run.add_argument("--warmup", type=int, help="untimed repeats per session, before them")
    run.add_argument("--deadline", type=float, help="seconds allowed per repeat (default: derived)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--out", "-o", help="run folder (default results/<machine_id>/<utc time>)")
    where.add_argument("--resume", metavar="DIR", help="continue a run folder, skipping done cases")
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    run.add_argument(
        "--no-baselines", action="store_true", help="skip the in-run hardware baselines"
    )
    run.add_argument("--no-charts", action="store_true", help="do not draw charts after the run")
    run.set_defaults(func=cmd_run)

    sub.add_parser("list", help="mechanisms, their variants and patterns").set_defaults(
        func=cmd_list
    )
    sub.add_parser("machine", help="print this machine's metadata").set_defaults(func=cmd_machine)
    check = sub.add_parser("selfcheck", help="harness figures vs minimal hand-written loops")
    check.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    check.add_argument("--placement", nargs="+", help="same-core (default), cross-core, unpinned")
    check.set_defaults(func=cmd_selfcheck)
    sub.add_parser("clean", help="remove shared memory left by dead runs").set_defaults(
        func=cmd_clean
    )
    try:
        from ipcbench.analysis_cli import register
    except ImportError:
        pass
    else:
        register(sub)
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

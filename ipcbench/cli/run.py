"""`ipcbench run`: validate every flag, expand the matrix, measure, write results.csv,
summarise and draw the charts. Everything a run starts is validated before the first
process does.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shlex
import signal
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ipcbench.cli.args import choices, procs_list, split
from ipcbench.mechanisms import REGISTRY, public_names
from ipcbench.patterns import PATTERN_NAMES
from ipcbench.results import ResultsError
from ipcbench.schema import PAYLOAD_KINDS, PLACEMENTS


class Interrupted(BaseException):
    """SIGINT/SIGTERM turned into an exception, so every `finally` and context manager
    (peers, segments) runs; SIGTERM's default handler would skip them all."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


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
    mechanisms = choices("mechanism", split(args.mechanism) or public_names(), list(REGISTRY))
    patterns = choices("pattern", split(args.pattern) or list(PATTERN_NAMES), PATTERN_NAMES)
    all_variants = sorted({v for m in mechanisms for v in REGISTRY[m].variants})
    variants = split(args.variant)
    if variants is not None:
        choices(f"variant for {', '.join(mechanisms)}", variants, all_variants)
    sizes = [parse_size(s) for s in split(args.size)] if args.size else None
    procs = procs_list(split(args.procs)) if args.procs else None
    methods = [multiprocessing.get_start_method(allow_none=False)]
    if args.start_method:
        methods = choices("start method", split(args.start_method),
                          multiprocessing.get_all_start_methods())
    placements = split(args.placement)
    if placements:
        choices("placement", placements, PLACEMENTS)
    payloads = split(args.payload)
    if payloads:
        choices("payload", payloads, PAYLOAD_KINDS)
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


def _order_seed(args: argparse.Namespace) -> int:
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"invalid seed {args.seed!r}: must be 0 or more")
    # Shuffled by default (seed recorded in every row); --seed makes the order repeatable.
    return args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)


def _run_folder(args: argparse.Namespace, meta: dict, planned: list):
    """(run folder, cases still to run, rows already there, sessions already measured): a
    new folder, or the one --resume names (refused when measured on another machine)."""
    from ipcbench.results import CsvAppender, done_case_keys, read_results, rows_from_frame
    from ipcbench.sessionlog import read_sessions

    if not args.resume:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = Path(args.out) if args.out else Path("results") / meta["machine_id"] / stamp
        return out, planned, [], {}
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
    done = done_case_keys(frame)
    planned = [p for p in planned if p.case.key not in done]
    print(f"resuming {out}: {len(done)} cases done, {len(planned)} to run", file=sys.stderr)
    return out, planned, rows_from_frame(frame), read_sessions(out)


def _prepare_folder(out: Path, meta: dict) -> None:
    from ipcbench import hygiene
    from ipcbench.machine import write_machine_json

    _writable_dir(out)
    removed = hygiene.sweep()
    if removed:
        print(
            f"removed {len(removed)} stale shared-memory segment(s) of dead runs", file=sys.stderr
        )
    write_machine_json(out, meta)


def planned_sessions(planned, settings, done_sessions) -> tuple[int, dict]:
    """(sessions the run plans in all, sessions per case a resumed run already has):
    runnable cases x settings.sessions, for the progress line's ETA."""
    runnable = [p.case for p in planned if not p.skip_reason]
    already = {c: min(len(done_sessions.get(c, [])), settings.sessions) for c in runnable
               if done_sessions.get(c)}
    return len(runnable) * settings.sessions, already


def _measure(args, planned, settings, meta: dict, seed: int, out: Path, previous,
             done_sessions, rows: list) -> None:
    """Run the planned cases, each row appended (and fsynced) to results.csv and to
    `rows` as it arrives, each finished session to sessions.csv; Interrupted propagates
    with everything so far safe on disk."""
    from ipcbench.baselines import BaselineCache
    from ipcbench.progress import RunProgress
    from ipcbench.results import CsvAppender
    from ipcbench.rows import RunMeta
    from ipcbench.runner import run_planned
    from ipcbench.schema import BASELINE_MECHANISM as BASELINE
    from ipcbench.sessionlog import SessionLog

    appender = CsvAppender(out / "results.csv")
    session_log = SessionLog(out)
    total, already = planned_sessions(planned, settings, done_sessions)
    progress = RunProgress(total, settings.sessions, enabled=not args.no_progress,
                           already=already)

    def on_row(row) -> None:
        appender.append(row)  # whole row, flushed and fsynced, before anything else
        _check_interrupted()
        rows.append(row)
        if row.mechanism != BASELINE:  # baselines are extra rows, not planned cases
            progress.advance(row)

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
                                                progress.starting(case, index)),
            baseline_cache=cache,
            on_session=session_log.append,
            done_sessions=done_sessions,
        )


def cmd_run(args: argparse.Namespace) -> int:
    from ipcbench import hygiene
    from ipcbench.machine import collect_metadata, warn_unfit
    from ipcbench.render.terminal import print_summary

    planned, settings = plan_from_args(args)
    seed = _order_seed(args)
    meta = collect_metadata({p.case.placement for p in planned},
                            max((p.case.procs for p in planned), default=1))
    warn_unfit(meta)
    out, planned, previous, done_sessions = _run_folder(args, meta, planned)
    _prepare_folder(out, meta)
    _install_signal_handlers()
    rows: list = []
    try:
        _measure(args, planned, settings, meta, seed, out, previous, done_sessions, rows)
    except Interrupted as exc:
        print(f"ipcbench: interrupted by {exc}; {len(rows)} finished row(s) kept in "
              f"{out / 'results.csv'}, every finished session in {out / 'sessions.csv'}",
              file=sys.stderr)
        print(f"ipcbench: to finish the run: {resume_command(out, getattr(args, 'argv', []))}",
              file=sys.stderr)
        return exc.exit_code
    finally:
        hygiene.sweep()
    print_summary(rows)
    if not args.no_charts:
        _draw_charts(out)
    print(f"results: {out / 'results.csv'}")
    return 0


def resume_command(out: Path, argv: list[str]) -> str:
    """`ipcbench run --resume DIR` with the matrix flags this run was started with
    (resume re-plans from them; --out names the folder --resume now names)."""
    argv = list(argv)
    if argv[:1] == ["run"]:
        argv = argv[1:]
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--out", "-o", "--resume"):
            skip = True
        elif not arg.startswith(("--out=", "--resume=")):
            kept.append(arg)
    return " ".join(["ipcbench run", *map(shlex.quote, kept), "--resume",
                     shlex.quote(str(out))])


def _draw_charts(out: Path) -> None:
    from ipcbench.cli.plot import run_plots_after_run

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


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="measure a matrix of cases and write results.csv")
    many = {"nargs": "+", "default": None}
    run.add_argument(
        "--mechanism", "-m", **many, help=f"one or more of {', '.join(public_names())}"
    )
    run.add_argument("--variant", **many, help="restrict to these variants (see `ipcbench list`)")
    run.add_argument("--pattern", "-p", **many, help=f"one or more of {', '.join(PATTERN_NAMES)}")
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
                     help="bytes, object, numpy and/or numpy-shm (default: bytes everywhere, "
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

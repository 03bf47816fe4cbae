"""`ipcbench run`: validate every flag, expand the matrix, measure, write results.csv,
summarise and draw the charts. Everything a run starts is validated before the first
process does. The run folder, new or resumed, is run_job.py's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from ipcbench.cli.args import (
    MAX_REPEATS,
    MAX_SESSIONS,
    MAX_WARMUP,
    budget_minutes,
    burst,
    choices,
    count,
    cpu_numbers,
    deadline,
    depth,
    load_shares,
    precision,
    procs_list,
    rate,
    split,
)
from ipcbench.cli.json_sink import JSON_HELP, NO_JSON, JsonSink, json_output
from ipcbench.cli.run_job import Job, new_job, prepare_folder, resume_job
from ipcbench.cli.signals import (
    Interrupted,
    check_interrupted,
    install_signal_handlers,
    report_interrupt,
)
from ipcbench.core.patterns import DEFAULT_PATTERN_NAMES, PATTERN_NAMES, PATTERNS
from ipcbench.core.payload_kinds import PAYLOAD_KINDS
from ipcbench.core.results import ResultsError
from ipcbench.core.schema import PLACEMENTS, explicit_placement
from ipcbench.mechanisms import REGISTRY, public_names

__all__ = ["Interrupted", "add_matrix_flags", "cmd_run", "plan_from_args", "register",
           "run_job", "start_job"]

def plan_from_args(args: argparse.Namespace):
    """Validate every matrix flag and expand the matrix: (planned cases, settings).
    A flag given with an empty value is refused, never read as "the default"."""
    from ipcbench.core.settings import MATRICES
    from ipcbench.core.sizes import parse_size
    from ipcbench.harness.plan import Axes, plan
    from ipcbench.harness.resources import check_duration, check_resources

    matrix = MATRICES["quick" if args.quick else "full" if args.full else "default"]
    # The test fake is not a choice: only public mechanisms are reachable from the CLI.
    mechanisms = choices("mechanism", split(args.mechanism, "mechanism") or public_names(),
                         public_names())
    rates = sorted({rate(r) for r in split(args.rate, "rate")}) if args.rate else None
    depths = (sorted({depth(d) for d in split(args.depth, "depth")})
              if getattr(args, "depth", None) else None)
    bursts = (sorted({burst(b) for b in split(args.burst, "burst")})
              if getattr(args, "burst", None) else None)
    if bursts and not args.rate:
        raise ValueError("--burst needs --rate: a burst is how many messages each tick of "
                         "a sender's schedule sends")
    if args.load:
        load_shares(args.load)  # refused before anything runs
        rates = sorted(set(rates or ()) | {0})  # --load needs each case unthrottled first
    # A rate applies to patterns whose senders keep a schedule; with --rate alone, those.
    default_patterns = [p for p in DEFAULT_PATTERN_NAMES if not rates or PATTERNS[p].open_loop]
    patterns = choices("pattern", split(args.pattern, "pattern") or default_patterns,
                       PATTERN_NAMES)
    all_variants = sorted({v for m in mechanisms for v in REGISTRY[m].variant_names})
    variants = split(args.variant, "variant")
    if variants is not None:
        choices(f"variant for {', '.join(mechanisms)}", variants, all_variants)
    sizes = [parse_size(s) for s in split(args.size, "size")] if args.size else None
    procs = procs_list(split(args.procs, "procs")) if args.procs else None
    methods = [multiprocessing.get_start_method(allow_none=False)]
    if args.start_method:
        methods = choices("start method", split(args.start_method, "start method"),
                          multiprocessing.get_all_start_methods())
    placements = split(args.placement, "placement")
    if placements:
        choices("placement", placements, PLACEMENTS)
    if args.cpus:  # one explicit placement, beside any named ones asked for
        placements = [*(placements or []), explicit_placement(cpu_numbers(args.cpus))]
    payloads = split(args.payload, "payload")
    if payloads:
        choices("payload", payloads, PAYLOAD_KINDS)
    changes = {name: value for name, value in (
        ("sessions", count("sessions", args.sessions, 1, MAX_SESSIONS)),
        ("repeats", count("repeats", args.repeats, 1, MAX_REPEATS)),
        ("warmup", count("warmup", args.warmup, 0, MAX_WARMUP)),
        ("deadline_s", deadline(args.deadline)),
        ("target_ci", precision(args.precision) if args.precision is not None else None),
        ("run_budget_s", budget_minutes(args.budget) * 60 if args.budget is not None
         else None)) if value is not None}
    settings = matrix.settings.with_changes(**changes)
    # Mechanisms the user named, or None: a matrix scopes some patterns to a few
    # mechanisms (quick: the work queue and fan-out with Pipe, Queue and shm) only when
    # none are named.
    named = mechanisms if args.mechanism else None
    planned = plan(matrix, Axes(start_methods=methods, mechanisms=named, patterns=patterns,
                                variants=variants, sizes_bytes=sizes, procs=procs,
                                placements=placements, payloads=payloads, rates=rates,
                                depths=depths, bursts=bursts))
    check_resources(planned)
    check_duration(planned, settings)
    return planned, settings


def load_cases(shares: list[float], rows) -> list:
    """--load: for every unthrottled ok row of a pattern with a sender schedule, the same
    case at each share of the rate its senders reached (rounded, at least 1 per second),
    unless a row of it exists already. Deterministic in the rows, so a resumed run plans
    the same cases again."""
    from ipcbench.core.schema import BASELINE_MECHANISM
    from ipcbench.harness.plan import PlannedCase

    done = {row.case.key for row in rows}
    planned: dict = {}
    for row in rows:
        if (row.status != "ok" or row.rate_per_s or row.mechanism == BASELINE_MECHANISM
                or not PATTERNS[row.pattern].open_loop):
            continue
        for share in shares:
            case = replace(row.case, rate_per_s=max(1, round(share * row.achieved_per_s)))
            if case.key not in done:
                planned.setdefault(case, PlannedCase(case, ""))
    return list(planned.values())


def planned_sessions(planned, settings, done_sessions) -> tuple[int, dict]:
    """(sessions the run plans at the fewest, sessions per case a resumed run already
    has): runnable cases x settings.sessions, for the progress line's ETA (which adds
    the extras up to settings.max_sessions as a range)."""
    runnable = [p.case for p in planned if not p.skip_reason]
    already = {c: min(len(done_sessions.get(c, [])), settings.sessions) for c in runnable
               if done_sessions.get(c)}
    return len(runnable) * settings.sessions, already


def _measure(args, job: Job, rows: list) -> None:
    """Run the planned cases, each row appended (and fsynced) to results.csv and to
    `rows` as it arrives, each finished session to sessions.csv; Interrupted propagates
    with everything so far safe on disk."""
    from ipcbench.core import samples
    from ipcbench.core.results import CsvAppender
    from ipcbench.core.schema import BASELINE_MECHANISM as BASELINE
    from ipcbench.harness.baselines import SPREAD_SETS, BaselineCache
    from ipcbench.harness.probe import EchoProbe
    from ipcbench.harness.progress import RunProgress
    from ipcbench.harness.rows import RunMeta
    from ipcbench.harness.runner import run_planned
    from ipcbench.harness.sessionlog import SessionLog

    appender = CsvAppender(job.out / "results.csv")
    session_log = SessionLog(job.out)
    total, already = planned_sessions(job.planned, job.settings, job.done_sessions)
    progress = RunProgress(total, job.settings.sessions, enabled=not args.no_progress,
                           already=already, max_per_case=job.settings.max_sessions,
                           run_budget_s=job.settings.run_budget_s,
                           floor_per_case=job.settings.floor_sessions())

    keep_samples = bool(job.samples)

    def on_session(case, result) -> None:
        session_log.append(case, result)
        if keep_samples:
            samples.save_session(job.out, case, result)

    def on_row(row) -> None:
        if keep_samples and row.status == "ok":
            row = replace(row, samples_file=samples.gather(job.out, row.case))
        appender.append(row)  # whole row, flushed and fsynced, before anything else
        check_interrupted()
        rows.append(row)
        if row.mechanism != BASELINE:  # baselines are extra rows, not planned cases
            progress.advance(row)

    # The probe's echo children live as long as the run, and go with it however it ends.
    with progress, EchoProbe() as probe:
        run_meta = RunMeta(job.meta["machine_id"], order_seed=job.seed)
        cache = None
        if job.baselines:
            cache = BaselineCache(run_meta, on_row, sets=SPREAD_SETS, probe=probe)
            cache.expect(item.case for item in job.planned if not item.skip_reason)
            cache.preload(job.previous + rows)
        run_planned(
            job.planned, job.settings, run_meta, on_row,
            before_session=lambda case, index: (check_interrupted(),
                                                progress.starting(case, index)),
            baseline_cache=cache,
            on_session=on_session,
            done_sessions=job.done_sessions,
            probe=probe if job.baselines else None,
        )


def cmd_run(args: argparse.Namespace) -> int:
    with json_output(args.json) as sink:  # checked before anything is measured
        job = start_job(args)
        install_signal_handlers()  # already in from the entry point; here for in-process callers
        return run_job(args, job, sink)


def start_job(args: argparse.Namespace) -> Job:
    """Every flag validated, the folder claimed and locked: a new plan or a resumed one."""
    return resume_job(args) if args.resume else new_job(args, *plan_from_args(args))


def run_job(args: argparse.Namespace, job: Job, sink: JsonSink = NO_JSON) -> int:
    """Measure the job, then summarise, record and draw it; the exit code. The caller
    has the signal handlers in (cmd_run, or ipcbench.api for the length of one call)."""
    from ipcbench.system import hygiene
    from ipcbench.system.machine import warn_unfit

    rows: list = []
    prepared = False
    try:
        prepare_folder(job)
        prepared = True
        warn_unfit(job.meta)  # once every input is accepted: an error stays one line
        _measure(args, job, rows)
        if job.loads:  # second phase: rates relative to what each case reached
            job = replace(job, planned=load_cases(job.loads, job.previous + rows))
            _measure(args, job, rows)
    except OSError as exc:
        if not prepared:
            raise  # the folder itself could not be made: main says so in one line
        # A full disk mid-run: what is on disk is whole lines, and --resume goes on.
        print(f"ipcbench: error: {exc}; {len(rows)} finished row(s) kept in "
              f"{job.out / 'results.csv'}", file=sys.stderr)
        print(f"ipcbench: to finish the run once there is room: {resume_command(job.out)}",
              file=sys.stderr)
        return 2
    except Interrupted as exc:
        report_interrupt(exc, f"; {len(rows)} finished row(s) kept in "
                              f"{job.out / 'results.csv'}, every finished session in "
                              f"{job.out / 'sessions.csv'}")
        print(f"ipcbench: to finish the run: {resume_command(job.out)}", file=sys.stderr)
        return exc.exit_code
    finally:
        hygiene.remove_own()  # every session is closed by now
        hygiene.sweep()
    # Only now: the summary's imports (pandas among them) would make every fork of the
    # harness, and every peer's exit, ~3-4 ms dearer (tests/test_lean_harness.py).
    from ipcbench.render.answer import print_answer
    from ipcbench.render.terminal import print_summary

    every = job.previous + rows  # a resumed run answers for all of its rows
    if args.full_table:
        print_summary(every)
    _record_resolution(job, rows)
    if not args.no_charts:
        _draw_charts(job.out)
    # The run ends with its answer (`ipcbench show` reprints it).
    print_answer(every, run=shlex.quote(str(job.out)))
    print(f"results: {job.out / 'results.csv'}")
    if sink.wanted:
        from ipcbench.render.json_out import dumps, run_document

        sink.write(dumps(run_document(rows, job.out)))
    job.lock.release()
    return 0


def _record_resolution(job: Job, rows: list) -> None:
    """Print what this run can resolve and keep it in machine.json (compare reads it)."""
    import math

    from ipcbench.core.drift import drift_of
    from ipcbench.core.resolution import run_resolution
    from ipcbench.harness.sessionlog import values_in_run_order
    from ipcbench.system.machine import write_machine_json

    keys, values = values_in_run_order(job.out)
    logs = [math.log(v) for v in values if v > 0]
    keys = [k for k, v in zip(keys, values, strict=True) if v > 0]
    resolution = run_resolution(job.previous + rows, drift_of(keys, logs),
                                job.settings.sessions)
    print(resolution.line())
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v)
             for k, v in resolution.as_dict().items()}
    write_machine_json(job.out, {**job.meta, "resolution": clean})


def resume_command(out: Path) -> str:
    """What finishes an interrupted run: the manifest holds its matrix and settings, so
    --resume takes no other matrix flag."""
    return f"ipcbench run --resume {shlex.quote(str(out))}"


def _draw_charts(out: Path) -> None:
    from ipcbench.cli.plot import run_plots_after_run
    from ipcbench.plotting import ChartsIncomplete

    try:
        paths = run_plots_after_run(out)
        print(f"charts: {len(paths)} file(s) in {out / 'charts'}", file=sys.stderr)
    except ChartsIncomplete as exc:  # the measurement stands; say what is missing
        print(f"ipcbench: warning: {exc} in {out / 'charts'}", file=sys.stderr)
    except (ResultsError, ValueError, OSError) as exc:  # e.g. a run with no ok rows
        print(f"ipcbench: no charts drawn: {exc}", file=sys.stderr)


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="measure a matrix of cases and write results.csv")
    add_matrix_flags(run)
    where = run.add_mutually_exclusive_group()
    where.add_argument("--out", "-o", help="run folder (default results/<machine_id>/<utc time>)")
    where.add_argument("--resume", metavar="DIR", help="continue a run folder, skipping done cases")
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    run.add_argument("--no-charts", action="store_true", help="do not draw charts after the run")
    run.add_argument("--json", metavar="PATH", help=JSON_HELP)
    run.add_argument("--full-table", action="store_true",
                     help="print the table of every row before the answer (`ipcbench show "
                          "RUN --all` prints it later)")
    run.set_defaults(func=cmd_run)


def add_matrix_flags(run: argparse.ArgumentParser) -> None:
    """The flags that define a run's matrix and settings (run_job.MATRIX_FLAGS): `run`'s,
    and `fleet`'s, which hands them to every node's run."""
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
        help="unpinned, same-core, cross-core, smt-sibling, same-l3, cross-l3 and/or "
             "cross-socket (default: same-core and cross-core; see `ipcbench machine`)",
    )
    run.add_argument("--cpus", metavar="LIST",
                     help="explicit CPUs, peer i on the i-th (cycling), e.g. 0,2: a placement "
                          "of its own (cpus:0,2), beside any --placement given")
    run.add_argument("--payload", **many,
                     help=f"one or more of {', '.join(PAYLOAD_KINDS)} (default: bytes "
                          "everywhere, the other kinds at a few sizes; see `ipcbench list`)")
    run.add_argument("--rate", **many,
                     help="open loop: messages per second per sender (stream, fanout, "
                          "broadcast, pipeline, bidir), "
                          "e.g. 1000 5000 20000; `max` = as fast as possible (default)")
    run.add_argument("--depth", **many,
                     help="messages a channel may hold in flight: ring slots (shm, mmap "
                          "ring8), Queue maxsize, zmq high-water marks, POSIX queue depth; "
                          "e.g. 1 8 64; `default` = each channel's own (the default)")
    run.add_argument("--burst", **many,
                     help="with --rate: messages each tick of a sender's schedule "
                          "sends back to back, at the same average rate, e.g. 1 16 "
                          "(default: 1)")
    run.add_argument("--load", **many,
                     help="open loop relative to each case's own unthrottled rate in this "
                          "run, e.g. 10%% 50%% 90%% (measured first, then these)")
    run.add_argument("--samples", action="store_true",
                     help="keep every message's one-way latency in samples/*.npz")
    run.add_argument("--seed", type=int, help="seed of the shuffled case order (default: random)")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("--quick", action="store_true", help="small matrix, about 75 s on 2 cores")
    scope.add_argument("--full", action="store_true", help="the full matrix (long)")
    run.add_argument("--precision", metavar="PCT",
                     help="95%% CI half-width each figure and paired ratio aims for "
                          "(default 5%%): workloads get more blocks until it is met")
    run.add_argument("--budget", metavar="MIN",
                     help="the run's time in minutes: no block starts after it once "
                          "every case has 3 sessions (default: 40, quick 62 s)")
    run.add_argument("--sessions", type=int,
                     help="minimum independent sessions per case (fresh peers)")
    run.add_argument("--repeats", type=int, help="timed repeats per session")
    run.add_argument("--warmup", type=int, help="untimed repeats per session, before them")
    run.add_argument("--deadline", type=float, help="seconds allowed per repeat (default: derived)")
    run.add_argument(
        "--no-baselines", action="store_true", help="skip the in-run hardware baselines"
    )

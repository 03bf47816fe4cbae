"""ipcbench from Python: measure a matrix, load a run, ask which channel to use, compare
two runs. Each function is a thin layer over the command of the same name, with its
validation (bad input raises ValueError with the one line the command would print),
its readers and the records it prints:

    import ipcbench

    run = ipcbench.run_matrix(mechanisms=["pipe", "shm"], patterns=["pingpong"],
                              sizes=["64", "1MiB"], procs=[1], out="my-run")
    frame = ipcbench.load_run(run)                     # one row per case
    advice = ipcbench.advise(run, pattern="pingpong", size="64", procs=1)
    print(advice.best.name, advice.figure, advice.unit)
    comparison = ipcbench.compare("results/reference", run)
    steps = ipcbench.history("results/").steps()      # every run folder under results/

Everything heavy (pandas, the harness, the mechanisms) is imported inside the
functions, so `import ipcbench` stays cheap; `ipcbench/__init__.py` re-exports these
names lazily. Documented in docs/api.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from ipcbench.analysis.advise import Advice
    from ipcbench.analysis.advise_rate import RateAdvice
    from ipcbench.analysis.compare import Comparison
    from ipcbench.analysis.history import History

__all__ = ["RunStopped", "advise", "compare", "history", "load_run", "run_matrix"]

PathLike = str | os.PathLike[str]
Values = str | int | float | Sequence[str | int | float]
MATRIX_NAMES = ("quick", "default", "full")


class RunStopped(RuntimeError):
    """run_matrix ended before its last case: a signal (SIGINT, SIGTERM) or a full disk.
    Every finished case and session is in `folder`; run_matrix(resume=folder) measures
    only what is missing."""

    def __init__(self, folder: Path, exit_code: int) -> None:
        super().__init__(f"the run in {folder} stopped (exit code {exit_code}); its finished "
                         f"cases are kept: run_matrix(resume={str(folder)!r}) finishes it")
        self.folder = folder
        self.exit_code = exit_code


def _values(name: str, value: Values | None) -> list[str] | None:
    """A matrix axis as the command line gives it: None (the matrix's own), one value or
    several. An empty list is refused, never read as "every value"."""
    if value is None:
        return None
    items = [value] if isinstance(value, str | int | float) else list(value)
    if not items:
        raise ValueError(f"invalid {name} []: give at least one value, or None for the "
                         "matrix's own")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(f"invalid {name} {item!r}: expected a string or a number")
    return [str(item) for item in items]


def _whole(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"invalid {name} {value!r}: expected a whole number")
    return value


def _number(name: str, value: float | None) -> float | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"invalid {name} {value!r}: expected a number")
    return None if value is None else float(value)


def _text(value: str | float | None) -> str | None:
    return None if value is None else str(value)


def run_matrix(*, matrix: str = "default", mechanisms: Values | None = None,
               variants: Values | None = None, patterns: Values | None = None,
               sizes: Values | None = None, procs: Values | None = None,
               start_methods: Values | None = None, placements: Values | None = None,
               payloads: Values | None = None, rates: Values | None = None,
               depths: Values | None = None, bursts: Values | None = None,
               loads: Values | None = None, sessions: int | None = None,
               repeats: int | None = None, warmup: int | None = None,
               deadline_s: float | None = None, precision: str | float | None = None,
               budget_min: float | None = None, seed: int | None = None,
               out: PathLike | None = None, resume: PathLike | None = None,
               baselines: bool = True, charts: bool = True, samples: bool = False,
               progress: bool = True) -> Path:
    """Measure a matrix as `ipcbench run` does, in this process, and return the run
    folder (results.csv, sessions.csv, manifest.json, machine.json, charts/).

    Every argument is the `ipcbench run` flag of the same name (`matrix="quick"` is
    `--quick`, `sizes=["64", "4KiB"]` is `-s 64 4KiB`, `deadline_s` is `--deadline`,
    `budget_min` is `--budget`, `charts=False` is `--no-charts`); None keeps the matrix's
    own value. The summary goes to stdout and the progress line to stderr, as the command
    prints them. Raises ValueError for bad input before any process starts, and
    RunStopped when a signal or a full disk ends the run early. While it runs, SIGINT and
    SIGTERM stop it cleanly (peers ended, segments unlinked); the process's own handlers
    are back when it returns."""
    from ipcbench.cli import build_parser
    from ipcbench.cli.run import run_job, start_job
    from ipcbench.cli.signals import Interrupted, handlers_for_call

    if matrix not in MATRIX_NAMES:
        raise ValueError(f"invalid matrix {matrix!r}: expected one of {', '.join(MATRIX_NAMES)}")
    if out is not None and resume is not None:
        raise ValueError("give out (a new run) or resume (an unfinished one), not both")
    # The command's own defaults, every attribute its code reads among them.
    args = build_parser().parse_args(["run"])
    given = {
        "mechanism": _values("mechanisms", mechanisms),
        "variant": _values("variants", variants),
        "pattern": _values("patterns", patterns),
        "size": _values("sizes", sizes),
        "procs": _values("procs", procs),
        "start_method": _values("start_methods", start_methods),
        "placement": _values("placements", placements),
        "payload": _values("payloads", payloads),
        "rate": _values("rates", rates),
        "depth": _values("depths", depths),
        "burst": _values("bursts", bursts),
        "load": _values("loads", loads),
        "sessions": _whole("sessions", sessions),
        "repeats": _whole("repeats", repeats),
        "warmup": _whole("warmup", warmup),
        "seed": _whole("seed", seed),
        "deadline": _number("deadline_s", deadline_s),
        "precision": _text(precision),
        "budget": _text(budget_min),
        "out": None if out is None else str(out),
        "resume": None if resume is None else str(resume),
    }
    for name, value in given.items():
        setattr(args, name, value)
    args.quick, args.full = matrix == "quick", matrix == "full"
    args.no_baselines, args.no_charts = not baselines, not charts
    args.samples, args.no_progress = bool(samples), not progress
    job = start_job(args)  # ValueError here: nothing started, nothing written
    try:
        with handlers_for_call():
            code = run_job(args, job)
    except Interrupted as exc:  # a signal after run_job had returned
        code = exc.exit_code
    finally:
        job.lock.release()  # an unfinished folder must be resumable from this process
    if code != 0:
        raise RunStopped(job.out, code)
    return job.out


def load_run(path: PathLike) -> pd.DataFrame:
    """A run's results.csv (the folder or the file) as a DataFrame, one row per case,
    validated and upgraded to the current schema by the one reader every command uses
    (ipcbench.core.results.read_results): a damaged file raises ResultsError (a
    ValueError) naming the file and row."""
    from ipcbench.core.results import read_results

    return read_results(path)


def advise(path: PathLike, *, pattern: str, procs: int, size: str | int | None = None,
           placement: str | None = None, payload: str | None = None,
           start_method: str | None = None,
           rate: str | int | None = None) -> Advice | RateAdvice:
    """The record `ipcbench advise` prints: the fastest mechanism/variant for a workload
    in a finished run, the runner-up, the margin, whether it is within noise, the cell
    it is based on and the caveats (an ipcbench.analysis.advise.Advice). `size` is bytes
    or a string such as "4KiB" (not needed for the counter). With `rate` (messages per
    second per sender), the channel with the lowest one-way p99 at that load instead (an
    ipcbench.analysis.advise_rate.RateAdvice)."""
    from ipcbench.cli.args import procs as procs_count
    from ipcbench.cli.args import rate as rate_per_s
    from ipcbench.core import patterns
    from ipcbench.core.sizes import parse_size

    kind = patterns.get(pattern)
    if size is None and kind.sized:
        raise ValueError(f"size is required for pattern {pattern!r}")
    size_bytes = parse_size(size) if size is not None else kind.fixed_size_bytes
    count = procs_count(str(_whole("procs", procs)))
    narrowing = {"placement": placement, "payload": payload, "start_method": start_method}
    if rate is not None:
        from ipcbench.analysis.advise_rate import advise_rate
        from ipcbench.core.results import read_results

        load = rate_per_s(str(rate))
        if load == 0:
            raise ValueError(f"invalid rate {rate!r}: advise needs a rate in messages per "
                             "second (without it, advise ranks full-speed figures)")
        return advise_rate(read_results(path), size_bytes, count, kind.name, load,
                           **narrowing)
    from ipcbench.analysis.advise import advise_run
    from ipcbench.mechanisms import channel_traits

    # The channels' traits, as the command passes them: like with like (a channel whose
    # procs mean something else is kept apart at 2+ procs).
    return advise_run(path, size_bytes, count, kind.name, **narrowing,
                      traits=channel_traits())


def compare(a: PathLike, b: PathLike, *others: PathLike, min_effect: float | None = None,
            alpha: float | None = None, metric: str = "time",
            mechanisms: Sequence[str] = ()) -> Comparison:
    """The record `ipcbench compare A B [C ...]` prints: every run against the first, a
    table per pairing (`comparison.tables[i]` compares run i + 1 with A: one row per
    matched case with both figures, the ratio, p-value and verdict), with the notes on
    settings, drift and agreement. `metric="efficiency"` judges by the share of each
    run's own hardware; `mechanisms` keeps only those channels. Writes nothing."""
    from ipcbench.analysis.compare import compare_runs
    from ipcbench.analysis.runs import load_runs
    from ipcbench.analysis.verdict import ALPHA, MIN_EFFECT

    for name, value in (("min_effect", min_effect), ("alpha", alpha)):
        if _number(name, value) is not None and not 0 < value < 1:
            raise ValueError(f"invalid {name} {value!r}: expected a number in (0, 1)")
    if isinstance(mechanisms, str):
        mechanisms = [mechanisms]
    return compare_runs(load_runs([a, b, *others]),
                        min_effect=MIN_EFFECT if min_effect is None else min_effect,
                        alpha=ALPHA if alpha is None else alpha, metric=metric,
                        mechanisms=tuple(mechanisms))


def history(*paths: PathLike, min_effect: float | None = None,
            baselines: bool = False) -> History:
    """The record `ipcbench history RUN [RUN ...]` prints: per machine and case the figure
    run after run (`history.cases`, each with its fitted steps) and `history.steps()`,
    every (case, step) found. A path may be a folder holding runs. Writes nothing."""
    from ipcbench.analysis.history import history as history_of
    from ipcbench.analysis.history import load_history
    from ipcbench.analysis.steps import MIN_EFFECT

    if _number("min_effect", min_effect) is not None and not 0 < min_effect < 1:
        raise ValueError(f"invalid min_effect {min_effect!r}: expected a number in (0, 1)")
    return history_of(load_history(paths),
                      min_effect=MIN_EFFECT if min_effect is None else min_effect,
                      baselines=baselines)

"""Draw a run's charts into files, on two CPUs where the machine has them.

Drawing is most of what `ipcbench run` does once measuring is over: about 20 s of a quick
run on a 2-vCPU VM for 13 figures, each laid out (constrained layout measures every
label) and rendered by Agg, on one core. The chart builders are independent of each
other, so each is drawn by one of two forked workers, taken in turn as they come free.
The workers inherit the loaded run (nothing is pickled but names and the paths
written) and end with the pool. A process with other threads at work is never forked
(a lock one of them held would stay locked in the child; the harness's idle
bounded-call worker holds none): it draws on its own, as do machines with one CPU or
no fork.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from matplotlib.figure import Figure

from ipcbench.analysis.runs import Run
from ipcbench.system.deadlines import only_idle_helpers
from ipcbench.system.safefile import LinkRefused

Builder = Callable[[Run], "Figure | dict[str, Figure] | None"]
Saver = Callable[[Figure, Path, str, Sequence[str]], list[Path]]
# (paths written, one message per chart that could not be written)
Drawn = tuple[list[Path], list[str]]

WORKERS = 2

# What the forked workers draw from: set just before the pool forks them, cleared after.
_JOB: tuple[Run, Mapping[str, Builder], Path, tuple[str, ...], Saver] | None = None


def figures_by_stem(stem: str, built: Figure | dict[str, Figure] | None) -> dict[str, Figure]:
    """What a builder returned, by file stem: several figures by their own stems, one by
    the builder's, none when the run has no data for it."""
    if isinstance(built, dict):
        return built
    return {stem: built} if built is not None else {}


def draw_one(run: Run, build: Builder, stem: str, out_dir: Path, formats: Sequence[str],
             save: Saver) -> Drawn:
    """One builder's figures, built and saved; a chart that cannot be written (a planted
    link, a full disk) is reported and the others still drawn."""
    figures = figures_by_stem(stem, build(run))
    written: list[Path] = []
    refused: list[str] = []
    for name, figure in figures.items():
        try:
            written += save(figure, out_dir, name, formats)
        except (OSError, LinkRefused) as exc:  # this chart only: the others still count
            refused.append(str(exc))
    return written, refused


def _draw_in_worker(stem: str) -> Drawn:
    assert _JOB is not None, "a drawing worker forked without its job"
    run, builders, out_dir, formats, save = _JOB
    return draw_one(run, builders[stem], stem, out_dir, formats, save)


def can_fork_workers() -> bool:
    """Two CPUs to draw on, fork available, and no other thread of this process at work
    (system/deadlines.only_idle_helpers)."""
    return (len(os.sched_getaffinity(0)) >= WORKERS
            and "fork" in multiprocessing.get_all_start_methods()
            and only_idle_helpers())


def draw_charts(run: Run, builders: Mapping[str, Builder], out_dir: Path,
                formats: Sequence[str], save: Saver) -> Drawn:
    """Every builder's charts into out_dir, in the builders' order: over two forked
    workers when can_fork_workers(), else here. A worker that dies (killed, out of
    memory) costs time, not charts: everything is then drawn here."""
    global _JOB
    stems = list(builders)
    if can_fork_workers() and len(stems) > 1:
        _JOB = (run, builders, out_dir, tuple(formats), save)
        try:
            with ProcessPoolExecutor(max_workers=WORKERS,
                                     mp_context=multiprocessing.get_context("fork")) as pool:
                results = list(pool.map(_draw_in_worker, stems))
        except BrokenProcessPool:
            results = None
        finally:
            _JOB = None
        if results is not None:
            return _merged(results)
    return _merged([draw_one(run, builders[s], s, out_dir, formats, save) for s in stems])


def _merged(results: list[Drawn]) -> Drawn:
    written = [path for paths, _ in results for path in paths]
    refused = [message for _, messages in results for message in messages]
    return written, refused

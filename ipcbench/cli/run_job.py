"""The run folder an `ipcbench run` measures into, and what it measures there: either a
new folder (created or claimed, locked, its manifest written from the flags' plan) or a
resumed one (the manifest's plan minus the cases with a complete row, on the machine
that measured the rest).
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ipcbench.cli.args import load_shares

if TYPE_CHECKING:
    from ipcbench.core.results import ResultRow
    from ipcbench.core.schema import Case
    from ipcbench.core.session_stats import SessionResult
    from ipcbench.core.settings import Settings
    from ipcbench.harness.plan import PlannedCase
    from ipcbench.harness.runfolder import RunLock

# The flags that define a run's matrix and settings: recorded in manifest.json, and
# refused next to --resume (a resumed run measures exactly what the manifest planned).
MATRIX_FLAGS = ("mechanism", "variant", "pattern", "size", "procs", "start_method",
                "placement", "cpus", "payload", "rate", "load", "seed", "quick", "full",
                "sessions", "repeats", "warmup", "deadline", "precision", "budget",
                "no_baselines", "samples")


@dataclass(frozen=True)
class Job:
    """What one `ipcbench run` measures and where: the folder (locked), the cases still
    to run, and what a resumed folder already holds."""

    out: Path
    lock: RunLock
    planned: list[PlannedCase]
    settings: Settings
    seed: int
    meta: dict
    baselines: bool
    previous: list[ResultRow] = field(default_factory=list)  # a resumed folder's rows
    done_sessions: dict[Case, list[SessionResult]] = field(default_factory=dict)
    samples: bool = False  # keep every message's latency (--samples)
    loads: list[float] = field(default_factory=list)  # --load shares, run after the plan


def _order_seed(args: argparse.Namespace) -> int:
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"invalid seed {args.seed!r}: must be 0 or more")
    # Shuffled by default (seed recorded in every row); --seed makes the order repeatable.
    return args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)


def _meta_for(planned: list[PlannedCase]) -> dict:
    """Machine metadata; its fitness warnings are printed by cmd_run once the folder is
    claimed (a refused run prints its one error line and nothing else)."""
    from ipcbench.system.machine import collect_metadata

    return collect_metadata({p.case.placement for p in planned},
                            max((p.case.procs for p in planned), default=1))


def new_job(args: argparse.Namespace, planned: list[PlannedCase],
            settings: Settings) -> Job:
    """For the plan of the flags: create and lock the folder, write the manifest."""
    from ipcbench.harness import runfolder

    seed = _order_seed(args)
    meta = _meta_for(planned)
    try:
        if args.out:
            out = Path(args.out)
        else:
            out = runfolder.new_default_folder(Path("results") / meta["machine_id"])
        lock = runfolder.claim_new_folder(out)
    except OSError as exc:
        where = args.out or "results"
        raise ValueError(f"output folder {str(where)!r} is not writable ({exc.strerror})") from None
    flags = {name: getattr(args, name) for name in MATRIX_FLAGS}
    runfolder.write_manifest(out, runfolder.Manifest(planned, settings, seed, meta["machine_id"],
                                                     not args.no_baselines, flags))
    return Job(out, lock, planned, settings, seed, meta, not args.no_baselines,
               samples=args.samples, loads=load_shares(args.load))


def resume_job(args: argparse.Namespace) -> Job:
    """The manifest's plan minus the cases with a complete row, under the folder's lock."""
    from ipcbench.core.results import done_case_keys, rows_from_frame
    from ipcbench.harness import runfolder
    from ipcbench.harness.sessionlog import read_sessions

    out = Path(args.resume)
    given = [f"--{n.replace('_', '-')}" for n in MATRIX_FLAGS if getattr(args, n) not in
             (None, False)]
    if given:
        raise ValueError(f"--resume {str(out)!r} runs the matrix and settings in its "
                         f"manifest.json; drop {' '.join(given)}")
    manifest = runfolder.read_manifest(out)
    lock = runfolder.RunLock(out)  # before touching anything: a live run owns the folder
    runfolder.check_no_links(out)
    meta = _meta_for(manifest.planned)
    frame = _existing_results(out)
    measured_on = {manifest.machine_id}
    if frame is not None:
        measured_on |= set(frame["machine_id"].astype(str))
    if measured_on != {meta["machine_id"]}:
        raise ValueError(
            f"cannot resume {str(out)!r}: it was measured on {', '.join(sorted(measured_on))}, "
            f"this is {meta['machine_id']}")
    done = done_case_keys(frame) if frame is not None else set()
    planned = [p for p in manifest.planned if p.case.key not in done]
    print(f"resuming {out}: {len(manifest.planned) - len(planned)} cases done, "
          f"{len(planned)} to run", file=sys.stderr)
    previous = rows_from_frame(frame) if frame is not None else []
    return Job(out, lock, planned, manifest.settings, manifest.order_seed, meta,
               manifest.baselines, previous, read_sessions(out),
               samples=bool(manifest.flags.get("samples")),
               loads=load_shares(manifest.flags.get("load")))


def _existing_results(out: Path):
    """The complete rows of a resumed folder (None when it has none yet: a run killed
    before its first row). A torn last row is dropped first, so its case runs again."""
    from ipcbench.core.results import CsvAppender, read_results

    path = out / "results.csv"
    if not path.exists() or path.stat().st_size == 0:  # killed before its header
        return None
    read_results(path, allow_empty=True)  # refuse a foreign or newer file before repair
    CsvAppender(path)  # drops a torn last row (a kill mid-write)
    frame = read_results(path, allow_empty=True)
    return None if frame.empty else frame


def prepare_folder(job: Job) -> None:
    """Before the first case: stale shm entries of dead runs gone, machine.json written."""
    from ipcbench.system import hygiene
    from ipcbench.system.machine import write_machine_json

    removed = hygiene.sweep()
    if removed:
        print(f"removed {len(removed)} stale entr(y/ies) of dead runs from /dev/shm and the "
              "temp folder", file=sys.stderr)
    write_machine_json(job.out, job.meta)

"""Machines side by side: for runs of one matrix on several machines, per workload each
machine's best channel, its figure and its efficiency against that machine's own in-run
baselines (answer.py's ranking, run by run). Pure: Run records in, a record out.

Figures answer "which machine is fastest for this workload"; efficiencies answer "which
machine gets closest to its own hardware", and the two can disagree (compare.py). A
machine's best channel may differ from another's: that is the point of the view.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ipcbench.analysis.answer import WorkloadAnswer, answers, workload_key
from ipcbench.analysis.runs import Run
from ipcbench.core import patterns
from ipcbench.core.results import rows_from_frame
from ipcbench.core.traits import PLAIN, ChannelTraits

WORKLOAD_FIELDS = ("pattern", "size_bytes", "procs", "placement", "payload", "start_method")


@dataclass(frozen=True)
class MachineCell:
    """One machine's answer for one workload."""

    channel: str  # "mechanism/variant" of its best channel
    figure: float  # in the pattern's unit (Pattern.metric)
    efficiency: float  # the best row's figure over its own machine's baseline; NaN if none
    tie: bool  # its best is not clearly ahead of its runner-up


@dataclass(frozen=True)
class MachinesRow:
    workload: dict  # WORKLOAD_FIELDS -> value
    cells: tuple[MachineCell | None, ...]  # one per run; None: not measured ok there

    @property
    def kind(self) -> patterns.Pattern:
        return patterns.get(self.workload["pattern"])

    @property
    def fastest(self) -> int | None:
        """Index of the run with the best figure (None with fewer than two figures)."""
        scored = [(i, c.figure) for i, c in enumerate(self.cells)
                  if c is not None and math.isfinite(c.figure)]
        if len(scored) < 2:
            return None
        sign = -1 if self.kind.higher_is_better else 1
        return min(scored, key=lambda item: sign * item[1])[0]

    @property
    def most_efficient(self) -> int | None:
        scored = [(i, c.efficiency) for i, c in enumerate(self.cells)
                  if c is not None and math.isfinite(c.efficiency)]
        return max(scored, key=lambda item: item[1])[0] if len(scored) >= 2 else None


@dataclass(frozen=True)
class MachinesView:
    tags: tuple[str, ...]
    machine_ids: tuple[str, ...]
    cpu_models: tuple[str, ...]
    rows: tuple[MachinesRow, ...]


def spans_machines(runs: Sequence[Run]) -> bool:
    """Whether the runs come from more than one machine (the view is for those)."""
    return len({run.machine_id for run in runs}) > 1


def _cell(answer: WorkloadAnswer) -> MachineCell | None:
    best = answer.best
    if best is None:
        return None
    efficiency = float(best.efficiency) if best.efficiency is not None else math.nan
    return MachineCell(f"{best.mechanism}/{best.variant}", answer.figure(best),
                       efficiency if math.isfinite(efficiency) and efficiency > 0 else math.nan,
                       answer.tie)


def machines_view(runs: Sequence[Run], tags: Sequence[str],
                  traits: ChannelTraits = PLAIN) -> MachinesView:
    """Every workload any run answered, in reading order, with each run's answer."""
    per_run: list[dict[tuple, WorkloadAnswer]] = []
    for run in runs:
        found = {}
        for answer in answers(rows_from_frame(run.frame), traits):
            if answer.best is not None:
                found[workload_key(answer.best)] = answer
        per_run.append(found)
    keys = sorted(set().union(*per_run))
    rows = []
    for key in keys:
        first = next(found[key] for found in per_run if key in found)
        cells = tuple(_cell(found[key]) if key in found else None for found in per_run)
        rows.append(MachinesRow({f: getattr(first, f) for f in WORKLOAD_FIELDS}, cells))
    return MachinesView(tuple(tags), tuple(r.machine_id for r in runs),
                        tuple(r.cpu_model for r in runs), tuple(rows))

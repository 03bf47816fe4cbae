"""The core-to-core round-trip matrix: a raw os.pipe echo (64 B) between every pair of
allowed CPUs, each end pinned, the median round trip per cell.

It shows what the topology placements stand for on this machine: an SMT sibling, a core
of the same L3, another L3, another socket (core-to-core latency heatmaps are how
suites that care about placement show it). Each unordered pair is measured once and
mirrored (a pipe round trip crosses both ways); the diagonal is both ends on one CPU.
Written as a small CSV (cpu_a, cpu_b, relation, p50_ns) that plotting reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ipcbench.harness.baselines import pinned_pipe_rtt_samples_ns
from ipcbench.system.safefile import safe_dir, write_atomic
from ipcbench.system.topology import Topology

COLUMNS = ("cpu_a", "cpu_b", "relation", "p50_ns")
# Per cell: this many round trips of warm-up, then as many timed (~2 x 1000 x 10-50 µs).
DEFAULT_ROUND_TRIPS = 1000
# A matrix of more CPUs than this is O(n^2) cells of ~0.1 s: ask for --cpus instead.
MAX_MATRIX_CPUS = 64


@dataclass(frozen=True)
class Cell:
    cpu_a: int
    cpu_b: int
    relation: str  # topology.Topology.relation ("" = not known)
    p50_ns: float


def measure_matrix(cpus: Sequence[int], topology: Topology,
                   round_trips: int = DEFAULT_ROUND_TRIPS,
                   measure: Callable[[int, int, int], float] | None = None) -> list[Cell]:
    """Every ordered pair of `cpus` (a <= b measured, b > a mirrored). `measure(a, b,
    round_trips)` -> median ns can be replaced (tests use a fake one)."""
    if len(cpus) > MAX_MATRIX_CPUS:
        raise ValueError(f"invalid cpus: {len(cpus)} CPUs make {len(cpus) ** 2} cells; "
                         f"name at most {MAX_MATRIX_CPUS} with --cpus")
    measure = measure or _median_rtt_ns
    cells = []
    for i, a in enumerate(cpus):
        for b in cpus[i:]:
            p50 = measure(a, b, round_trips)
            relation = topology.relation(a, b)
            cells.append(Cell(a, b, relation, p50))
            if a != b:
                cells.append(Cell(b, a, relation, p50))
    return sorted(cells, key=lambda c: (c.cpu_a, c.cpu_b))


def _median_rtt_ns(a: int, b: int, round_trips: int) -> float:
    return float(np.median(pinned_pipe_rtt_samples_ns((a,), (b,), round_trips, repeats=1)))


def write_matrix(directory: Path, cells: Sequence[Cell]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for cell in cells:
        writer.writerow((cell.cpu_a, cell.cpu_b, cell.relation, f"{cell.p50_ns:.1f}"))
    return write_atomic(safe_dir(Path(directory)) / "core_to_core.csv",
                        buffer.getvalue().encode("utf-8"))

"""Named parameter matrices shared by the CLI and the pytest suite, and their expansion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ipcbench.cases import PATTERNS, PlannedCase, expand
from ipcbench.mechanisms import public_names
from ipcbench.runner import QUICK, Settings

KiB, MiB = 1 << 10, 1 << 20


@dataclass(frozen=True)
class Matrix:
    sizes_bytes: tuple[int, ...]
    procs: tuple[int, ...]
    settings: Settings
    # Pinned placements are the reproducible ones; `--placement unpinned` shows what an
    # application left to the scheduler sees (and how much it varies).
    placements: tuple[str, ...] = ("same-core", "cross-core")
    # Payload kinds other than raw bytes answer "is pickling my cost, or the transport?":
    # measured at a few sizes with one process per side, for pingpong and stream.
    extra_payloads: tuple[str, ...] = ()
    payload_sizes_bytes: tuple[int, ...] = ()


MATRICES = {
    # <= 60 s on 2 cores: every mechanism and pattern, 3 sizes, 2 process counts, one
    # (reproducible) placement, raw bytes only, and a fixed 5 repeats.
    "quick": Matrix((64, 64 * KiB, 1 * MiB), (1, 2), QUICK, ("same-core",)),
    # 64 B .. 16 MiB in steps of 16x, 1/2/4 processes, both pinned placements, every
    # payload kind at 4 KiB and 1 MiB; adaptive repeats (5..20, about 0.6 s a case).
    "default": Matrix(
        (64, 4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB),
        (1, 2, 4),
        Settings(repeats=5, max_repeats=20, budget_s=0.6),
        extra_payloads=("object", "numpy", "numpy-shm"),
        payload_sizes_bytes=(4 * KiB, 1 * MiB),
    ),
    # 64 B .. 16 MiB in steps of 4x, 1/2/4/8 processes, every placement and payload kind.
    "full": Matrix(
        tuple(64 * 4**i for i in range(10)),
        (1, 2, 4, 8),
        Settings(repeats=10, max_repeats=50, budget_s=5.0, warmup=2),
        ("same-core", "cross-core", "unpinned"),
        extra_payloads=("object", "numpy", "numpy-shm"),
        payload_sizes_bytes=(256, 4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB),
    ),
}


def all_mechanisms() -> list[str]:
    return public_names()


def plan(
    matrix: Matrix,
    start_methods: Sequence[str],
    mechanisms: Sequence[str] | None = None,
    patterns: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    sizes_bytes: Sequence[int] | None = None,
    procs: Sequence[int] | None = None,
    placements: Sequence[str] | None = None,
    payloads: Sequence[str] | None = None,
) -> list[PlannedCase]:
    """The cases of `matrix`, narrowed by whatever axes are given. Payload kinds given
    explicitly are crossed with every size and process count; otherwise raw bytes get the
    full matrix and the matrix's extra payload kinds its payload sizes, one process."""
    common = {
        "mechanisms": list(mechanisms or all_mechanisms()),
        "start_methods": list(start_methods),
        "variants": variants,
        "placements": tuple(placements or matrix.placements),
    }
    patterns = list(patterns or PATTERNS)
    sizes = list(sizes_bytes or matrix.sizes_bytes)
    counts = list(procs or matrix.procs)
    if payloads:
        return expand(patterns=patterns, sizes_bytes=sizes, procs=counts, payloads=payloads,
                      **common)
    planned = expand(patterns=patterns, sizes_bytes=sizes, procs=counts, **common)
    extra_patterns = [p for p in patterns if p in ("pingpong", "stream")]
    if matrix.extra_payloads and extra_patterns:
        planned += expand(
            patterns=extra_patterns,
            sizes_bytes=list(sizes_bytes or matrix.payload_sizes_bytes),
            procs=[1] if procs is None else counts,
            payloads=matrix.extra_payloads,
            **common,
        )
    return planned

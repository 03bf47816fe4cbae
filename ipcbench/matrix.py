"""Named parameter matrices shared by the CLI and the pytest suite."""

from __future__ import annotations

from dataclasses import dataclass

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


MATRICES = {
    # <= 60 s on 2 cores: every mechanism and pattern, 3 sizes, 2 process counts, one
    # (reproducible) placement and a fixed 5 repeats.
    "quick": Matrix((64, 64 * KiB, 1 * MiB), (1, 2), QUICK, ("same-core",)),
    # 64 B .. 16 MiB in steps of 4x (odd powers skipped above 1 MiB), 1/2/4 processes.
    "default": Matrix(
        (64, 1 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 16 * MiB),
        (1, 2, 4),
        Settings(repeats=5, max_repeats=20, budget_s=1.0),
    ),
    "full": Matrix(
        tuple(64 * 4**i for i in range(10)),
        (1, 2, 4, 8),
        Settings(repeats=10, max_repeats=50, budget_s=5.0, warmup=2),
    ),
}


def all_mechanisms() -> list[str]:
    return public_names()

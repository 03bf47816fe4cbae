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


MATRICES = {
    # <= 60 s on 2 cores: every mechanism and pattern, 3 sizes, 2 process counts.
    "quick": Matrix((64, 64 * KiB, 1 * MiB), (1, 2), QUICK),
    # 64 B .. 16 MiB in steps of 4x (odd powers skipped above 1 MiB), 1/2/4 processes.
    "default": Matrix(
        (64, 1 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 16 * MiB),
        (1, 2, 4),
        Settings(),
    ),
    "full": Matrix(
        tuple(64 * 4**i for i in range(10)), (1, 2, 4, 8), Settings(repeats=10, warmup=2)
    ),
}


def all_mechanisms() -> list[str]:
    return public_names()

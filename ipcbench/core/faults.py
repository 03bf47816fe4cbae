"""Fault injection for the project's own tests: one value saying which peer misbehaves how.

corrupt: send a payload with one byte flipped; raise / exit / hang: right after the
start barrier; kill: SIGKILL itself half-way through the repeat (mid-transfer; the
counter's incrementer does it while holding the lock); burn: spend BURN_CPU_S of CPU
inside the measured region (checks the CPU-cost accounting); duplicate / drop: send
one message of the repeat twice, or not at all, half-way through (checks that the
sequence numbers catch it); slow: spin SLOW_NS before every message it sends (a known
difference, for the A/B check that `compare` finds a real change).
Never reachable from the CLI: faults are set by tests through Settings(fault=...).
"""

from __future__ import annotations

from dataclasses import dataclass

from ipcbench.core.schema import check_choice

FAULTS = ("corrupt", "raise", "hang", "exit", "kill", "burn", "duplicate", "drop", "slow")
BURN_CPU_S = 0.2
SLOW_NS = 5_000


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULTS
    role: str  # the role whose peer #0 misbehaves (e.g. "producer")

    def __post_init__(self) -> None:
        check_choice("fault", self.kind, FAULTS)

    def applies_to(self, role: str, index: int) -> bool:
        return role == self.role and index == 0

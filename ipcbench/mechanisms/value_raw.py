"""RawValue + an explicit ctx.Lock() for the counter pattern.

multiprocessing.Value wraps its number in a recursive lock, and its `.value` property
takes that lock again on every read and write, so `with v.get_lock(): v.value += 1`
acquires it three times. Here the number is a lock-free RawValue and one plain Lock
guards each increment: what a user who manages the lock himself pays."""

from __future__ import annotations

from ipcbench.core.patterns import COUNTER
from ipcbench.mechanisms.base import Mechanism
from ipcbench.mechanisms.info import MechanismInfo, Variant


class LockedRawCounter:
    """Shaped like a synchronized Value (`get_lock()`, `.value`), which is what the
    incrementer peers and the harness's exact final-count check use."""

    def __init__(self, ctx) -> None:
        # 'q' = signed 64-bit: no wrap-around for any count a run can reach.
        self._raw = ctx.RawValue("q", 0)
        self._lock = ctx.Lock()

    def get_lock(self):
        return self._lock

    @property
    def value(self) -> int:
        return self._raw.value

    @value.setter
    def value(self, number: int) -> None:
        self._raw.value = number


class RawValueMechanism(Mechanism):
    def counter(self) -> LockedRawCounter:
        return LockedRawCounter(self.ctx)


INFO = MechanismInfo(
    name="value-raw",
    description="RawValue counter guarded by an explicit ctx.Lock() (vs Value's built-in "
                "RLock)",
    variants=(Variant("lock", (COUNTER.name,)),),
    mechanism=RawValueMechanism,
)

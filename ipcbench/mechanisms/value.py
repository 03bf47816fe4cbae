"""multiprocessing.Value / Array.

Value is not a channel, so it gets two honest metrics:
- 'locked' (counter pattern): the shared counter of the first examples; N processes increment one
  Value under get_lock(), and the final count is checked exactly (without the lock,
  `v.value += 1` loses updates).
- 'array' (pingpong, stream): a payload handed off through a RawArray plus a sequence
  counter in a RawValue, signalled by semaphores (see handoff.py).
"""

from __future__ import annotations

import numpy as np

from ipcbench.core.patterns import COUNTER
from ipcbench.mechanisms.handoff import WHY_NOT_SHARED, SlotMechanism, SlotStorage
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant

VARIANTS = (Variant("array", STREAMS), Variant("locked", (COUNTER.name,)))


class ArrayStorage(SlotStorage):
    def __init__(self, ctx, size_bytes: int) -> None:
        # Raw (lock-free) objects: the semaphores already order every access, and a
        # synchronized Array would copy element by element through a lock.
        self.data = ctx.RawArray("B", size_bytes)
        self.seq = ctx.RawValue("Q", 0)

    def payload(self, position: int = 0) -> np.ndarray:  # one slot: position is 0
        return np.frombuffer(self.data, dtype=np.uint8)

    def sequence(self, position: int = 0) -> np.ndarray:
        return np.frombuffer(self.seq, dtype=np.uint64)


class ValueMechanism(SlotMechanism):
    variants = VARIANTS

    def _storage(self, name: str) -> ArrayStorage:
        return ArrayStorage(self.ctx, self.size_bytes)  # anonymous: the name is unused

    def counter(self):
        # 'q' = signed 64-bit: no wrap-around for any count a run can reach.
        return self.ctx.Value("q", 0)


INFO = MechanismInfo(
    name="value",
    description="multiprocessing.Value/Array: 'array' = payload in a RawArray handed off "
                "with a sequence counter and semaphores; 'locked' = a shared counter "
                "under get_lock()",
    variants=VARIANTS,
    mechanism=ValueMechanism,
    why_not=WHY_NOT_SHARED,
)

"""multiprocessing.Array as a one-slot mailbox (handoff.py's protocol; the 8-byte
sequence counter sits in front of the payload in the same array).

- 'synchronized': Array("B", n, lock=True), what `Array(...)` gives by default. Every
  copy in or out goes through get_obj() while holding get_lock() (its RLock), as the
  documentation asks. The semaphores already order the accesses, so the lock is pure
  cost: this variant measures what that default costs.
- 'raw': RawArray, no lock (close to value/array, which keeps the counter in a RawValue).
Copies use numpy over the ctypes buffer; element-wise `arr[:] = ...` would measure a
Python loop, not the channel.
"""

from __future__ import annotations

import numpy as np

from ipcbench.mechanisms.handoff import (
    WHY_NOT_SHARED,
    SlotEndpoint,
    SlotMechanism,
    SlotStorage,
)
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant

_HEADER_BYTES = 8
VARIANTS = (Variant("synchronized", STREAMS), Variant("raw", STREAMS))


class ArrayStorage(SlotStorage):
    def __init__(self, ctx, size_bytes: int, synchronized: bool) -> None:
        length = _HEADER_BYTES + size_bytes
        self.synchronized = synchronized
        if synchronized:
            self.array = ctx.Array("B", length, lock=True)
        else:
            self.array = ctx.RawArray("B", length)

    def _raw(self):
        return self.array.get_obj() if self.synchronized else self.array

    def payload(self, position: int = 0) -> np.ndarray:  # one slot: position is 0
        return np.frombuffer(self._raw(), np.uint8)[_HEADER_BYTES:]

    def sequence(self, position: int = 0) -> np.ndarray:
        return np.frombuffer(self._raw(), np.uint64, count=1)


class LockedSlotEndpoint(SlotEndpoint):
    """Holds the array's own lock around each copy (never around a semaphore wait,
    which would deadlock against the partner's copy)."""

    def _write(self, chunk) -> None:
        with self.outbox.storage.array.get_lock():
            super()._write(chunk)

    def _read(self, index: int, offset: int = 0) -> None:
        with self.inboxes[index].storage.array.get_lock():
            super()._read(index, offset)


class ArrayMechanism(SlotMechanism):
    variants = VARIANTS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.synchronized = self.variant == "synchronized"
        self.slot_endpoint = LockedSlotEndpoint if self.synchronized else SlotEndpoint

    def _storage(self, name: str) -> ArrayStorage:
        return ArrayStorage(self.ctx, self.size_bytes, self.synchronized)  # anonymous


INFO = MechanismInfo(
    name="array",
    description="multiprocessing.Array mailbox: 'synchronized' = Array(lock=True), copied "
                "through get_obj() under get_lock(); 'raw' = RawArray; semaphores signal",
    variants=VARIANTS,
    mechanism=ArrayMechanism,
    why_not=WHY_NOT_SHARED,
)

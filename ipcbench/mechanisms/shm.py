"""multiprocessing.shared_memory.SharedMemory: the payload is written into a segment
(8-byte sequence header + payload per slot, handoff.RingLayout) and the handoff is
signalled by semaphores. Variants: `segment` = one slot; `ring8` = a ring of 8 slots per
channel, so the sender runs up to 8 messages ahead of the receiver; `ring8-spin` = the
same ring, busy-polled instead of semaphores (spin.py; cross-core placements only).

Segment hygiene: the parent creates and unlinks every segment (under fork, a segment
created by a child vanishes when that child exits). Names carry the run's prefix so
stale segments of a killed run can be found and swept. Peers attach without letting
Python's resource tracker take a second claim on the segment (see attach()).
"""

from __future__ import annotations

import numpy as np

from ipcbench.mechanisms.base import RING_SLOTS
from ipcbench.mechanisms.handoff import WHY_NOT_SHARED, RingLayout, SlotMechanism, SlotStorage
from ipcbench.mechanisms.info import RING_DEPTH, STREAMS, MechanismInfo, Variant
from ipcbench.mechanisms.spin import SpinEndpoint, SpinSlot
from ipcbench.system.segments import OwnedSegment

VARIANTS = (
    Variant("segment", STREAMS),
    Variant(f"ring{RING_SLOTS}", STREAMS, ring_slots=RING_SLOTS, depth=RING_DEPTH),
    Variant(f"ring{RING_SLOTS}-spin", STREAMS, ring_slots=RING_SLOTS, busy_polls=True),
)


class SegmentStorage(SlotStorage):
    def __init__(self, name: str, layout: RingLayout) -> None:
        self.name = name
        self.layout = layout
        self.slots = layout.slots
        self.segment = OwnedSegment(name, layout.total_bytes)

    def attach(self) -> None:
        self.segment.attach()

    def payload(self, position: int = 0) -> np.ndarray:
        return np.ndarray(self.layout.slot_bytes, np.uint8, buffer=self.segment.buf,
                          offset=self.layout.payload_offset(position))

    def message_bytes(self) -> int:
        return self.layout.size_bytes

    def sequence(self, position: int = 0) -> np.ndarray:
        return np.ndarray(1, np.uint64, buffer=self.segment.buf,
                          offset=self.layout.sequence_offset(position))

    def close(self) -> None:
        self.segment.close()

    def unlink(self) -> None:
        self.segment.unlink()


class ShmMechanism(SlotMechanism):
    variants = VARIANTS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.spec.busy_polls:
            self.slot_endpoint, self.slot_class = SpinEndpoint, SpinSlot

    def _storage(self, name: str) -> SegmentStorage:
        return SegmentStorage(name, self.layout)


INFO = MechanismInfo(
    name="shm",
    description="multiprocessing.shared_memory.SharedMemory segment, handoff signalled by "
                "semaphores: 'segment' = one slot (every message waits for a wakeup); 'ring8' "
                f"= a ring of {RING_SLOTS} slots per channel (counting semaphores, sender and "
                "receiver overlap); 'ring8-spin' = the same ring busy-polled on its sequence "
                "words, no semaphores (cross-core, peers <= CPUs, x86 only)",
    variants=VARIANTS,
    mechanism=ShmMechanism,
    why_not=WHY_NOT_SHARED,
)

"""mmap(MAP_SHARED) mailbox: the handoff of handoff.py over a mapping made with the mmap
module instead of multiprocessing's heap or shared_memory.

Under fork the mapping is anonymous (mmap.mmap(-1, n) is MAP_SHARED|MAP_ANONYMOUS) and
children inherit it. An anonymous mapping cannot be handed to a spawned process, so
under spawn/forkserver it is a file in /dev/shm named with the case's prefix (so
`ipcbench clean` / hygiene.sweep finds it after a SIGKILLed run), created and unlinked
by the parent only; peers map it by name in attach(). Variants: `shared` = one slot,
`ring8` = a ring of 8 slots per channel (handoff.RingLayout).
"""

from __future__ import annotations

import mmap
import os

import numpy as np

from ipcbench.mechanisms.base import RING_SLOTS
from ipcbench.mechanisms.handoff import WHY_NOT_SHARED, RingLayout, SlotMechanism, SlotStorage
from ipcbench.mechanisms.info import RING_DEPTH, STREAMS, MechanismInfo, Variant

# Same directory hygiene.py sweeps; not imported from there to keep this module light.
SHM_DIR = "/dev/shm"
VARIANTS = (Variant("shared", STREAMS),
            Variant(f"ring{RING_SLOTS}", STREAMS, ring_slots=RING_SLOTS, depth=RING_DEPTH))


def _map_file(path: str, length_bytes: int, create: bool) -> mmap.mmap:
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        if create:
            os.ftruncate(fd, length_bytes)
        return mmap.mmap(fd, length_bytes)  # MAP_SHARED; the mapping outlives the fd
    finally:
        os.close(fd)


class MmapStorage(SlotStorage):
    def __init__(self, layout: RingLayout, path: str | None) -> None:
        self.layout = layout
        self.slots = layout.slots
        self.path = path
        length = layout.total_bytes
        self._map = mmap.mmap(-1, length) if path is None else _map_file(path, length, True)
        self._owner = True

    def __getstate__(self) -> dict:
        if self.path is None:
            raise TypeError("an anonymous mapping only reaches peers by fork")
        # Only the path travels; the peer maps the file in attach().
        return {**self.__dict__, "_map": None, "_owner": False}

    def attach(self) -> None:
        if self._map is None:
            self._map = _map_file(self.path, self.layout.total_bytes, False)

    def payload(self, position: int = 0) -> np.ndarray:
        return np.frombuffer(self._map, np.uint8, count=self.layout.slot_bytes,
                             offset=self.layout.payload_offset(position))

    def message_bytes(self) -> int:
        return self.layout.size_bytes

    def sequence(self, position: int = 0) -> np.ndarray:
        return np.frombuffer(self._map, np.uint64, count=1,
                             offset=self.layout.sequence_offset(position))

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def unlink(self) -> None:
        """Owner (parent) only: unmap, and remove the file if there is one."""
        self.close()
        if self._owner and self.path is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class MmapMechanism(SlotMechanism):
    variants = VARIANTS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._anonymous = self.ctx.get_start_method() == "fork"

    def _storage(self, name: str) -> MmapStorage:
        return MmapStorage(
            self.layout, None if self._anonymous else os.path.join(SHM_DIR, name)
        )


INFO = MechanismInfo(
    name="mmap",
    description="mmap MAP_SHARED (anonymous under fork, a run-named /dev/shm file under "
                "spawn/forkserver), handoff signalled by semaphores: 'shared' = one slot, "
                f"'ring8' = a ring of {RING_SLOTS} slots per channel",
    variants=VARIANTS,
    mechanism=MmapMechanism,
    why_not=WHY_NOT_SHARED,
)

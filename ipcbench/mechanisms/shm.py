"""multiprocessing.shared_memory.SharedMemory: the payload is written into a segment
(8-byte sequence header + payload) and the handoff is signalled by semaphores.

Segment hygiene: the parent creates and unlinks every segment (under fork, a segment
created by a child vanishes when that child exits). Names carry the run's prefix so
stale segments of a killed run can be found and swept. Peers attach without letting
Python's resource tracker take a second claim on the segment (see attach()).
"""

from __future__ import annotations

import sys
from multiprocessing import shared_memory

import numpy as np

from ipcbench.mechanisms.handoff import SlotMechanism, SlotStorage

_HEADER_BYTES = 8


def attach(name: str) -> shared_memory.SharedMemory:
    """Open the parent's segment in a peer without giving the resource tracker a claim.

    3.13+: track=False. Before that, attaching registers the name again, but peers
    started by multiprocessing share the parent's tracker, whose record is a set: the
    second registration is a no-op and the parent's unlink clears it. (Unregistering
    here, the usual advice for unrelated processes, makes the tracker crash with a
    KeyError at the parent's unlink.)"""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    return shared_memory.SharedMemory(name=name)


class SegmentStorage(SlotStorage):
    def __init__(self, name: str, size_bytes: int) -> None:
        self.name = name
        self.size_bytes = size_bytes
        self._segment = shared_memory.SharedMemory(
            name=name, create=True, size=_HEADER_BYTES + size_bytes
        )
        self._owner = True

    def __getstate__(self) -> dict:
        # Under spawn/forkserver only the name travels; the peer maps it in attach().
        return {"name": self.name, "size_bytes": self.size_bytes, "_segment": None, "_owner": False}

    def attach(self) -> None:
        if self._segment is None:
            self._segment = attach(self.name)

    def payload(self) -> np.ndarray:
        return np.ndarray(self.size_bytes, np.uint8, buffer=self._segment.buf, offset=_HEADER_BYTES)

    def sequence(self) -> np.ndarray:
        return np.ndarray(1, np.uint64, buffer=self._segment.buf, offset=0)

    def close(self) -> None:
        if self._segment is not None:
            self._segment.close()

    def unlink(self) -> None:
        """Owner only: close and remove the segment from /dev/shm."""
        if self._owner and self._segment is not None:
            self._segment.close()
            try:
                self._segment.unlink()
            except FileNotFoundError:
                pass
            self._segment = None


class ShmMechanism(SlotMechanism):
    def _storage(self, name: str) -> SegmentStorage:
        return SegmentStorage(name, self.size_bytes)


MECHANISM = ShmMechanism

"""Shared-memory segments the harness owns: created and unlinked by the harness, mapped
by name in the peers without giving Python's resource tracker a second claim. Used by
the slot mechanisms (mechanisms/shm.py) and the shm-view region pools (payload/zerocopy.py).

Names carry the run's prefix (hygiene.run_prefix) so a dead run's leftovers are swept.
"""

from __future__ import annotations

import sys
from multiprocessing import shared_memory


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


class OwnedSegment:
    """A segment the harness creates and unlinks, mapped by name in the peers (under
    spawn/forkserver only the name travels). Shared by the slot storages here and the
    shm-view region pools (zerocopy.py)."""

    def __init__(self, name: str, size_bytes: int) -> None:
        self.name = name
        self._segment = shared_memory.SharedMemory(name=name, create=True, size=size_bytes)
        self._owner = True

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_segment": None, "_owner": False}

    def attach(self) -> None:
        if self._segment is None:
            self._segment = attach(self.name)

    @property
    def buf(self) -> memoryview:
        return self._segment.buf

    def close(self) -> None:
        if self._segment is not None:
            self._segment.close()
            if not self._owner:
                self._segment = None

    def unlink(self) -> None:
        """Owner (the harness) only, after every peer ended: close and remove it."""
        if self._owner and self._segment is not None:
            self._segment.close()
            try:
                self._segment.unlink()
            except FileNotFoundError:
                pass
            self._segment = None
